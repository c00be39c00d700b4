#!/usr/bin/python3
"""Checks deploy/monitoring/alerts.yaml: it parses, and every rule has a
unique alert name, an expression, a `for`, a severity and a summary. (That
the metrics it names exist is checked against a running gateway by
tests/integration/edge_kit.test.mjs.)

Usage: check_monitoring.py DEPLOY_MONITORING_DIR
"""
import os
import re
import sys

import yaml

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


with open(os.path.join(sys.argv[1], "alerts.yaml")) as f:
    doc = yaml.safe_load(f)
rules = [r for g in doc.get("groups", []) for r in g.get("rules", [])]
check(len(rules) >= 5, "at least five alert rules")
names = [r.get("alert") for r in rules]
check(len(set(names)) == len(names), "alert names are unique")
for r in rules:
    where = r.get("alert", "?")
    check(isinstance(r.get("expr"), str) and r["expr"].strip(), f"{where}: expr")
    check(re.fullmatch(r"\d+[smh]", str(r.get("for", ""))), f"{where}: a `for` duration")
    check(r.get("labels", {}).get("severity") in ("warning", "critical"), f"{where}: severity warning or critical")
    check(r.get("annotations", {}).get("summary"), f"{where}: a summary")
    check(r["expr"].count("(") == r["expr"].count(")"), f"{where}: balanced parentheses")
for m in ("outbox_lag_seconds", "pg_notify_queue_usage", "listener_connected", "leader",
          "slow_consumer_disconnects_total"):
    check(any("sse_gateway_" + m in r.get("expr", "") for r in rules), f"an alert on sse_gateway_{m}")
for line in failures:
    print("FAILED:", line)
print(f"check_monitoring: {'ok' if not failures else str(len(failures)) + ' failed'}")
sys.exit(1 if failures else 0)
