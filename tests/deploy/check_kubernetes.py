#!/usr/bin/python3
"""Checks deploy/kubernetes/: every document parses, and the fields that make
or break a rollout agree with each other and with the gateway's flags.

Usage: check_kubernetes.py DEPLOY_KUBERNETES_DIR [SSE_GATEWAY_BINARY]
With the binary, the Deployment's and the Job's arguments are also parsed by
the real gateway (`... --help` exits 2 on a bad flag or value).
Prints one line per failed check and exits 1 if any failed.
"""
import os
import re
import subprocess
import sys

import yaml

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def duration_s(text):
    """A gateway duration (ms, s, m, h; bare number: seconds) in seconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", str(text))
    if not check(m, f"a duration: {text}"):
        return 0
    n, unit = int(m.group(1)), m.group(2) or "s"
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def flags(args):
    """--name=value and --name value arguments as a dict (bare flags: True)."""
    out, i = {}, 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            if "=" in a:
                k, v = a[2:].split("=", 1)
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                k, v = a[2:], args[i + 1]
                i += 1
            else:
                k, v = a[2:], True
            out[k] = v
        i += 1
    return out


def port_of(listen):
    return int(listen.rsplit(":", 1)[1])


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_non_root(pod, container, where):
    psc = pod.get("securityContext", {})
    csc = container.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True, f"{where}: runAsNonRoot")
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    check(isinstance(uid, int) and uid != 0, f"{where}: a numeric non-zero runAsUser (the kubelet cannot check a user name)")
    check(csc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation false")
    check(csc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem")
    check("ALL" in csc.get("capabilities", {}).get("drop", []), f"{where}: capabilities drop ALL")
    res = container.get("resources", {})
    check("memory" in res.get("requests", {}) and "memory" in res.get("limits", {}),
          f"{where}: memory request and limit")


def gateway_accepts(binary, args, where):
    # Only the parse is checked here: a sanitizer build's leak report at exit
    # is the integration tests' business, not a refused argument.
    r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=30,
                       env={"PATH": os.environ.get("PATH", ""), "ASAN_OPTIONS": "detect_leaks=0"})
    check(r.returncode == 0, f"{where}: the gateway refuses its arguments: {r.stderr.strip()}")


def main():
    root = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else None
    docs = {}
    for name in sorted(os.listdir(root)):
        if not name.endswith((".yaml", ".yml")):
            continue
        with open(os.path.join(root, name)) as f:
            for doc in yaml.safe_load_all(f):
                if doc is None:
                    continue
                where = f"{name}: {doc.get('kind')}"
                check(all(k in doc for k in ("apiVersion", "kind", "metadata")), f"{where}: apiVersion, kind, metadata")
                check(doc.get("metadata", {}).get("name"), f"{where}: metadata.name")
                docs.setdefault(doc["kind"], []).append(doc)
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor", "Job", "Secret"):
        check(len(docs.get(kind, [])) == 1, f"exactly one {kind}")
    if failures:
        return
    dep, svc, pdb, mon, job, secret = (docs[k][0] for k in
                                       ("Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor", "Job", "Secret"))
    secret_keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))

    # Deployment: ports, flags, probes, grace period, security.
    pod = dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    check(matches(dep["spec"]["selector"]["matchLabels"], labels), "Deployment: selector matches its pod labels")
    (c,) = pod["containers"]
    args = c.get("args", [])
    f = flags(args)
    check(args[:1] == ["serve"], "Deployment: runs serve")
    check(f.get("no-migrate") is True, "Deployment: serve --no-migrate (the Job migrates)")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    check(set(ports) == {"http", "admin"}, f"Deployment: container ports http and admin (got {sorted(ports)})")
    check("listen" in f and port_of(f["listen"]) == ports.get("http"), "Deployment: --listen on the http container port")
    check("admin-listen" in f and port_of(f["admin-listen"]) == ports.get("admin"),
          "Deployment: --admin-listen on the admin container port")
    check(f.get("listen", "").startswith("0.0.0.0:") and f.get("admin-listen", "").startswith("0.0.0.0:"),
          "Deployment: both listeners on 0.0.0.0 (reachable by the kubelet and the Service)")

    def probe_port(probe):
        p = probe.get("httpGet", {}).get("port")
        return ports.get(p) if isinstance(p, str) else p

    rp, lp = c.get("readinessProbe", {}), c.get("livenessProbe", {})
    check(rp.get("httpGet", {}).get("path") == "/readyz", "Deployment: readiness on /readyz")
    check(probe_port(rp) == ports.get("admin"), "Deployment: readiness on the admin port")
    check(lp.get("httpGet", {}).get("path") == "/healthz", "Deployment: liveness on /healthz")
    check(probe_port(lp) == ports.get("admin"), "Deployment: liveness on the admin port")
    check(rp.get("failureThreshold", 3) * rp.get("periodSeconds", 10) <= 5,
          "Deployment: readiness notices a drain within 5 s (failureThreshold x periodSeconds)")
    drain = duration_s(f.get("drain-timeout", "10s"))
    grace = pod.get("terminationGracePeriodSeconds", 30)
    # The gateway exits by itself at --drain-timeout + 2 s at the latest.
    check(grace > drain + 2, f"Deployment: terminationGracePeriodSeconds {grace} > --drain-timeout {drain:g} s + 2 s")
    spread = duration_s(f.get("drain-spread", "5s"))
    check(spread < drain, "Deployment: --drain-spread below --drain-timeout")
    check(dep["spec"].get("minReadySeconds", 0) >= spread, "Deployment: minReadySeconds at least --drain-spread")
    check(dep["spec"]["strategy"]["rollingUpdate"].get("maxUnavailable") == 0,
          "Deployment: rolling updates keep every pod until its replacement is ready (maxUnavailable 0)")
    check("lifecycle" not in c or "preStop" not in c["lifecycle"] or
          grace > drain + 2 + 10, "Deployment: a preStop hook needs its time in the grace period too")
    check_non_root(pod, c, "Deployment")
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            check(ref["name"] == secret["metadata"]["name"] and ref["key"] in secret_keys,
                  f"Deployment: env {e['name']} names a key of the example Secret")
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    for v in pod.get("volumes", []):
        if "secret" in v:
            check(v["secret"]["secretName"] == secret["metadata"]["name"], "Deployment: the secret volume is the Secret")
            for item in v["secret"].get("items", []):
                check(item["key"] in secret_keys, f"Deployment: secret item {item['key']} exists in the example")
                path = os.path.join(mounts.get(v["name"], "?"), item["path"])
                if "jwt-secret-file" in f:
                    check(f["jwt-secret-file"] == path or item["key"] != "jwt-secret",
                          "Deployment: --jwt-secret-file is the mounted secret")

    # Service, PDB, ServiceMonitor select the fleet and name real ports.
    check(matches(svc["spec"]["selector"], labels), "Service: selects the Deployment's pods")
    svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
    for p in svc_ports.values():
        t = p.get("targetPort")
        check((t in ports) if isinstance(t, str) else (t in ports.values()),
              f"Service: port {p['name']} targets a container port")
    check(matches(pdb["spec"]["selector"]["matchLabels"], labels), "PodDisruptionBudget: selects the Deployment's pods")
    check(pdb["spec"].get("maxUnavailable") == 1 or "minAvailable" in pdb["spec"],
          "PodDisruptionBudget: maxUnavailable 1 (or a minAvailable)")
    check(matches(mon["spec"]["selector"]["matchLabels"], svc["metadata"].get("labels", {})),
          "ServiceMonitor: selects the Service")
    for ep in mon["spec"]["endpoints"]:
        sp = svc_ports.get(ep.get("port"))
        check(sp is not None and sp.get("targetPort") in ("admin", ports.get("admin")),
              "ServiceMonitor: scrapes the admin port")
        check(ep.get("path") == "/metrics", "ServiceMonitor: path /metrics")

    # The migrate Job: the owner's URL, not selected as a fleet pod.
    jpod = job["spec"]["template"]["spec"]
    (jc,) = jpod["containers"]
    check(jc.get("args", [])[:1] == ["migrate"], "Job: runs migrate")
    check(jpod.get("restartPolicy") in ("Never", "OnFailure"), "Job: restartPolicy Never or OnFailure")
    check(not matches(svc["spec"]["selector"], job["spec"]["template"]["metadata"].get("labels", {})),
          "Job: its pod is not selected by the Service")
    check(jc.get("image") == c.get("image"), "Job: the same image as the Deployment")
    env = {e["name"]: e for e in jc.get("env", [])}
    ref = env.get("DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
    check(ref.get("key") in secret_keys, "Job: DATABASE_URL from a key of the example Secret")
    check_non_root(jpod, jc, "Job")

    if binary:
        # Files the flags name need not exist for --help; only names and values are checked.
        gateway_accepts(binary, args, "Deployment")
        gateway_accepts(binary, jc.get("args", []), "Job")


main()
for line in failures:
    print("FAILED:", line)
print(f"check_kubernetes: {'ok' if not failures else str(len(failures)) + ' failed'}")
sys.exit(1 if failures else 0)
