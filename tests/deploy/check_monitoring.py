#!/usr/bin/python3
"""Checks deploy/monitoring/ without a gateway or a Prometheus server:

- alerts.yaml parses, and every rule has a unique alert name, an expression,
  a `for`, a severity, a summary and a description saying what to do;
  `promtool check rules` accepts it, and `promtool test rules` passes the
  unit tests of tests/deploy/alerts.test.yaml (each alert fires after its
  `for` on made-up series, and its look-alikes do not);
- the monitoring section of docs/DEPLOYMENT.md lists exactly the alerts of
  alerts.yaml.

That the metrics the rules name exist in a live /metrics is checked by
tests/integration/edge_kit.test.mjs.

Usage: check_monitoring.py REPOSITORY_ROOT
Prints one line per failed check and exits 1 if any failed.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


root = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
monitoring = os.path.join(root, "deploy", "monitoring")
promtool = shutil.which("promtool")
check(promtool, "promtool on PATH (Debian package prometheus; scripts/setup.sh installs it)")


def promtool_run(*args, cwd=None):
    """promtool's status and output, or None without promtool."""
    if not promtool:
        return None
    p = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).strip()


def metric_names(expr):
    return set(re.findall(r"\b(?:sse_gateway|process)_[A-Za-z0-9_]+", expr))


# --- alerts.yaml ---------------------------------------------------------
rules_path = os.path.join(monitoring, "alerts.yaml")
with open(rules_path) as f:
    doc = yaml.safe_load(f)
rules = [r for g in doc.get("groups", []) for r in g.get("rules", [])]
names = [r.get("alert") for r in rules]
check(all(names), "every rule is an alerting rule")
check(len(set(names)) == len(names), "alert names are unique")
for r in rules:
    where = r.get("alert", "?")
    check(isinstance(r.get("expr"), str) and r["expr"].strip(), f"{where}: expr")
    check(re.fullmatch(r"\d+[smh]", str(r.get("for", ""))), f"{where}: a `for` duration")
    check(r.get("labels", {}).get("severity") in ("warning", "critical"), f"{where}: severity warning or critical")
    ann = r.get("annotations", {})
    check(ann.get("summary"), f"{where}: a summary")
    desc = ann.get("description", "")
    check(len(desc) > 80, f"{where}: a description saying what to do")
    check("{{" not in desc, f"{where}: a description without templates (the unit tests leave it out)")

# Each signal the fleet needs an alert on, by the metric it reads.
for m in ("up", "kube_pod_status_ready", "probe_success", "sse_gateway_listener_connected",
          "sse_gateway_leader", "sse_gateway_sequencer_stalled", "sse_gateway_outbox_lag_seconds",
          "sse_gateway_pg_notify_queue_usage", "sse_gateway_slow_consumer_disconnects_total"):
    check(any(re.search(r"\b" + m + r"\b", r.get("expr", "")) for r in rules), f"an alert on {m}")

res = promtool_run("check", "rules", rules_path)
if res:
    check(res[0] == 0, f"promtool check rules alerts.yaml:\n{res[1]}")

# promtool test rules, against a copy without the descriptions (fixed prose,
# checked above) so that the tests spell out only the rendered summaries.
with tempfile.TemporaryDirectory() as tmp:
    stripped = json.loads(json.dumps(doc))
    for g in stripped["groups"]:
        for r in g["rules"]:
            r.get("annotations", {}).pop("description", None)
    with open(os.path.join(tmp, "alerts.yaml"), "w") as f:
        yaml.safe_dump(stripped, f)
    shutil.copy(os.path.join(here, "alerts.test.yaml"), tmp)
    res = promtool_run("test", "rules", "alerts.test.yaml", cwd=tmp)
    if res:
        check(res[0] == 0, f"promtool test rules tests/deploy/alerts.test.yaml:\n{res[1]}")
with open(os.path.join(here, "alerts.test.yaml")) as f:
    tested = {t["alertname"] for case in yaml.safe_load(f)["tests"] for t in case.get("alert_rule_test", [])
              if t.get("exp_alerts")}
check(not set(names) - tested, f"a unit test that fires each alert (none for {sorted(set(names) - tested)})")

# --- docs/DEPLOYMENT.md --------------------------------------------------
with open(os.path.join(root, "docs", "DEPLOYMENT.md")) as f:
    deployment = f.read()
m = re.search(r"^## Monitoring\n(.*?)(?=^## )", deployment, re.S | re.M)
if check(m, "docs/DEPLOYMENT.md: a Monitoring section"):
    section = m.group(1)
    listed = re.findall(r"^\| (SseGateway\w+) \|", section, re.M)
    check(sorted(listed) == sorted(names),
          f"docs/DEPLOYMENT.md lists the alerts of alerts.yaml (listed {sorted(listed)}, rules {sorted(names)})")

for line in failures:
    print("FAILED:", line)
print(f"check_monitoring: {len(rules)} alerts: "
      f"{'ok' if not failures else str(len(failures)) + ' failed'}")
sys.exit(1 if failures else 0)
