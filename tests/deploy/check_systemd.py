#!/usr/bin/python3
"""Checks deploy/systemd/: `systemd-analyze verify` accepts the unit with no
warning (the binary path pointed at the built gateway, the environment file
at the shipped example), `systemd-analyze security` rates its exposure at 2.0
or less, it has the directives a drain and a reload need, and the gateway
accepts its ExecStart arguments and the example environment.

Usage: check_systemd.py DEPLOY_SYSTEMD_DIR SSE_GATEWAY_BINARY
Exits 77 (skipped) only when systemd-analyze is not installed.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|min|m|h)?", text.strip())
    if not check(m, f"a duration: {text}"):
        return 0
    return int(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "min": 60, "m": 60, "h": 3600}[m.group(2)]


def main():
    root, binary = sys.argv[1], os.path.abspath(sys.argv[2])
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("check_systemd: skipped: systemd-analyze is not installed (apt-get install systemd)")
        sys.exit(77)
    unit_path = os.path.join(root, "sse-gateway.service")
    env_path = os.path.abspath(os.path.join(root, "sse-gateway.env"))
    with open(unit_path) as f:
        unit = f.read()
    keys = {}
    for line in unit.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            keys.setdefault(m.group(1), []).append(m.group(2))
    one = lambda k: keys.get(k, [""])[-1]

    for k, v in (("Type", "notify"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("DynamicUser", "yes")):
        check(one(k) == v, f"{k}={v}")
    check("HUP" in one("ExecReload") and "$MAINPID" in one("ExecReload"), "ExecReload sends SIGHUP to the main process")
    check(one("LimitNOFILE").isdigit() and int(one("LimitNOFILE")) >= 65536, "LimitNOFILE of 65536 or more")
    check(one("WatchdogSec"), "WatchdogSec")
    check(one("KillSignal") in ("", "SIGTERM"), "SIGTERM stops it (the signal that drains)")

    env = {}
    with open(env_path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                env[k] = v
    drain = seconds(env.get("SSE_GATEWAY_DRAIN_TIMEOUT", "10s"))
    # The gateway gives itself 2 s past --drain-timeout before exiting by itself.
    check(seconds(one("TimeoutStopSec") or "90s") > drain + 2,
          f"TimeoutStopSec {one('TimeoutStopSec')} above the drain timeout {drain:g} s + 2 s")
    check(seconds(env.get("SSE_GATEWAY_HEARTBEAT", "15s")) < 45,
          "the heartbeat stays below the shipped proxies' 45 s read timeouts")

    # The gateway parses the unit's arguments and the example environment
    # (--help exits 2 on a bad flag or value, 0 otherwise).
    exec_start = one("ExecStart").split()
    # Only the parse is checked: a sanitizer build's leak report at exit is
    # the integration tests' business.
    r = subprocess.run([binary, *exec_start[1:], "--help"], capture_output=True, text=True,
                       env={"PATH": os.environ.get("PATH", ""), "ASAN_OPTIONS": "detect_leaks=0", **env},
                       timeout=30)
    check(r.returncode == 0, f"the gateway accepts ExecStart and the environment file: {r.stderr.strip()}")

    with tempfile.TemporaryDirectory() as tmp:
        # verify needs ExecStart's binary to exist: point it, and the
        # environment file, at this checkout; nothing else changes.
        text = re.sub(r"^ExecStart=\S+", lambda _: "ExecStart=" + binary, unit, flags=re.M)
        text = re.sub(r"^EnvironmentFile=\S+", lambda _: "EnvironmentFile=" + env_path, text, flags=re.M)
        copy = os.path.join(tmp, "sse-gateway.service")
        with open(copy, "w") as f:
            f.write(text)
        r = subprocess.run([analyze, "verify", copy], capture_output=True, text=True, timeout=60)
        # Unknown keys and bad values are only warnings with status 0: any output fails.
        out = (r.stdout + r.stderr).strip()
        check(r.returncode == 0 and not out, f"systemd-analyze verify: status {r.returncode}, output: {out}")
        r = subprocess.run([analyze, "security", "--offline=yes", "--threshold=20", copy],
                           capture_output=True, text=True, timeout=60)
        level = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout)
        check(r.returncode == 0, f"systemd-analyze security: exposure {level.group(1) if level else '?'} above 2.0")
        if level:
            print(f"check_systemd: exposure level {level.group(1)} (systemd-analyze security)")


main()
for line in failures:
    print("FAILED:", line)
print(f"check_systemd: {'ok' if not failures else str(len(failures)) + ' failed'}")
sys.exit(1 if failures else 0)
