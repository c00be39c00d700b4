#!/usr/bin/python3
"""Checks deploy/monitoring/ without a gateway or a Prometheus server:

- alerts.yaml parses, and every rule has a unique alert name, an expression,
  a `for`, a severity, a summary and a description saying what to do;
  `promtool check rules` accepts it, and `promtool test rules` passes the
  unit tests of tests/deploy/alerts.test.yaml (each alert fires after its
  `for` on made-up series, and its look-alikes do not);
- dashboard.json is a plain Grafana dashboard: a Prometheus data-source
  variable that every panel and query uses, built-in panel types only,
  unique ids, panels inside the 24-column grid and not overlapping, and every
  PromQL expression accepted by promtool (as a recording rule, with
  Grafana's variables replaced); it charts each signal an operator needs;
- the monitoring section of docs/DEPLOYMENT.md lists exactly the alerts of
  alerts.yaml and names the dashboard.

That every metric and label value the rules and the dashboard name exists
in a live /metrics, and that each dashboard query returns data from a real
Prometheus, is checked by tests/integration/monitoring.test.mjs.

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

# --- dashboard.json ------------------------------------------------------
with open(os.path.join(monitoring, "dashboard.json")) as f:
    dash = json.load(f)
check(dash.get("id") is None, "dashboard: id null, so an import creates it")
check(dash.get("uid") and dash.get("title"), "dashboard: a uid and a title")
check(dash.get("schemaVersion", 0) >= 36, "dashboard: schemaVersion 36 or later")
variables = dash.get("templating", {}).get("list", [])
ds_vars = [v for v in variables if v.get("type") == "datasource" and v.get("query") == "prometheus"]
check(len(ds_vars) == 1, "dashboard: one Prometheus data-source variable")
ds_ref = {"type": "prometheus", "uid": "${%s}" % ds_vars[0]["name"]} if ds_vars else None

panels = []
for p in dash.get("panels", []):
    panels.append(p)
    panels.extend(p.get("panels", []))  # a collapsed row holds its panels
builtin = {"row", "timeseries", "stat", "gauge", "bargauge", "state-timeline", "status-history", "table",
           "text", "heatmap", "barchart", "piechart"}
ids = [p.get("id") for p in panels]
check(all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids), "dashboard: unique panel ids")
cells = {}
exprs = []  # (where, expression)
for p in panels:
    where = f"panel {p.get('id')} {p.get('title')!r}"
    check(p.get("type") in builtin, f"{where}: a built-in panel type, not {p.get('type')!r}")
    g = p.get("gridPos", {})
    ok = check(all(isinstance(g.get(k), int) for k in "hwxy") and g["x"] >= 0 and g["w"] > 0
               and g["x"] + g["w"] <= 24, f"{where}: inside the 24-column grid")
    if ok:
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                check((x, y) not in cells, f"{where}: overlaps {cells.get((x, y))}")
                cells[(x, y)] = where
    if p.get("type") == "row":
        continue
    check(p.get("title"), f"{where}: a title")
    check(p.get("datasource") == ds_ref, f"{where}: the data-source variable, not {p.get('datasource')}")
    targets = p.get("targets", [])
    check(targets, f"{where}: at least one query")
    check(len({t.get("refId") for t in targets}) == len(targets), f"{where}: unique refIds")
    for t in targets:
        check(t.get("datasource") in (None, ds_ref), f"{where} {t.get('refId')}: the data-source variable")
        check(isinstance(t.get("expr"), str) and t["expr"].strip(), f"{where} {t.get('refId')}: an expr")
        exprs.append((f"{where} {t.get('refId')}", t.get("expr", "")))
for v in variables:
    if v.get("type") == "query":
        check(v.get("datasource") == ds_ref, f"variable {v.get('name')}: the data-source variable")
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else q
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q or "")
        if check(m, f"variable {v.get('name')}: a label_values() query"):
            exprs.append((f"variable {v.get('name')}", m.group(1)))


def substitute(expr):
    """Grafana's variables replaced by values PromQL accepts."""
    expr = re.sub(r"\$__(rate_)?interval|\$__range", "5m", expr)
    return re.sub(r"\$\{?(\w+)\}?", ".+", expr)


# Every expression through promtool's parser, as recording rules.
with tempfile.TemporaryDirectory() as tmp:
    rec = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": substitute(e)} for i, (_, e) in enumerate(exprs)]}]}
    path = os.path.join(tmp, "dashboard-exprs.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(rec, f)
    res = promtool_run("check", "rules", path)
    if res and res[0] != 0:
        bad = sorted({int(i) for i in re.findall(r"dashboard:expr_(\d+)", res[1])})
        check(False, "dashboard: promtool rejects " + "; ".join(f"{exprs[i][0]}: {exprs[i][1]}" for i in bad)
              + f"\n{res[1]}")

charted = set().union(*(metric_names(e) for _, e in exprs)) if exprs else set()
for m in ("connections", "connections_total", "deliveries_total", "delivered_bytes_total",
          "delivery_latency_seconds_bucket", "replayed_events_total", "replays_in_progress",
          "replay_queries_total", "slow_consumer_disconnects_total", "outbox_lag_seconds",
          "pg_notify_queue_usage", "leader", "sequencer_stalled", "listener_connected",
          "listener_reconnects_total", "listen_channels", "listen_channels_refused_total",
          "publish_requests_total", "window_bytes", "access_log_dropped_total", "build_info"):
    check("sse_gateway_" + m in charted, f"dashboard: a panel charting sse_gateway_{m}")
for m in ("cpu_seconds_total", "resident_memory_bytes", "open_fds", "max_fds"):
    check("process_" + m in charted, f"dashboard: a panel charting process_{m}")
check(any("histogram_quantile(0.99" in e for _, e in exprs) and any("histogram_quantile(0.5" in e for _, e in exprs),
      "dashboard: delivery latency p50 and p99")

# --- docs/DEPLOYMENT.md --------------------------------------------------
with open(os.path.join(root, "docs", "DEPLOYMENT.md")) as f:
    deployment = f.read()
m = re.search(r"^## Monitoring\n(.*?)(?=^## )", deployment, re.S | re.M)
if check(m, "docs/DEPLOYMENT.md: a Monitoring section"):
    section = m.group(1)
    listed = re.findall(r"^\| (SseGateway\w+) \|", section, re.M)
    check(sorted(listed) == sorted(names),
          f"docs/DEPLOYMENT.md lists the alerts of alerts.yaml (listed {sorted(listed)}, rules {sorted(names)})")
    check("dashboard.json" in section, "docs/DEPLOYMENT.md: the Monitoring section names dashboard.json")

for line in failures:
    print("FAILED:", line)
print(f"check_monitoring: {len(rules)} alerts, {len(exprs)} dashboard queries: "
      f"{'ok' if not failures else str(len(failures)) + ' failed'}")
sys.exit(1 if failures else 0)
