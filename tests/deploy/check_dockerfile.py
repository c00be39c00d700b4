#!/usr/bin/python3
"""Checks that the Dockerfile builds the way the test command does, with no
Docker engine: its build stage installs scripts/setup.sh's build_packages and
configures with its cmake_flags; its runtime stage installs the package of
every shared library the built binary links; the user is numeric; and
.dockerignore keeps local build output out of the context but no tracked file.

Usage: check_dockerfile.py REPOSITORY_ROOT [SSE_GATEWAY_BINARY]
Prints one line per failed check and exits 1 if any failed.
"""
import fnmatch
import os
import re
import shlex
import subprocess
import sys

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def instructions(text):
    """The Dockerfile's instructions as (KEYWORD, arguments, stage index), continuation lines joined."""
    out, stage, buf = [], -1, ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip()
        if buf.endswith("\\"):
            buf = buf[:-1] + " "
            continue
        word, _, rest = buf.strip().partition(" ")
        if word.upper() == "FROM":
            stage += 1
        out.append((word.upper(), rest.strip(), stage))
        buf = ""
    return out


def apt_packages(run_args):
    """Packages named by `apt-get install` in a RUN line."""
    words = shlex.split(run_args.replace("&&", " && "))
    pkgs, on = [], False
    for w in words:
        if w == "&&":
            on = False
        elif on and not w.startswith("-"):
            pkgs.append(w)
        elif w == "install" and "apt-get" in words:
            on = True
    return pkgs


def bash_array(text, name):
    m = re.search(rf"^{name}=\((.*?)\)", text, re.S | re.M)
    return shlex.split(m.group(1)) if check(m, f"scripts/setup.sh defines {name}") else []


def linked_packages(binary):
    """Debian packages of the shared libraries the binary links directly."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        subprocess.run(["readelf", "-d", binary], capture_output=True, text=True).stdout)
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(["ldd", binary], capture_output=True,
                                                                    text=True).stdout, re.M))
    pkgs = {}
    for lib in needed:
        path = os.path.realpath(paths.get(lib, lib))
        candidates = {path, path.replace("/usr/lib/", "/lib/", 1), paths.get(lib, lib)}
        owner = None
        for c in candidates:
            r = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0]
                break
        check(owner, f"a Debian package owns {lib} ({path})")
        if owner:
            pkgs[lib] = owner
    return pkgs


def excluded(path, patterns):
    """Docker's rule, simplified: a pattern excludes a path or any folder above it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pat in patterns:
        pats = [pat, pat[3:]] if pat.startswith("**/") else [pat]
        for p in pats:
            if any(fnmatch.fnmatchcase(pre, p) for pre in prefixes):
                return True
    return False


def main():
    root = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else None
    with open(os.path.join(root, "Dockerfile")) as f:
        ins = instructions(f.read())
    with open(os.path.join(root, "scripts", "setup.sh")) as f:
        setup = f.read()
    stages = max(s for _, _, s in ins) + 1
    check(stages == 2, "two stages: build and runtime")
    build_runs = [a for k, a, s in ins if k == "RUN" and s == 0]
    runtime_runs = [a for k, a, s in ins if k == "RUN" and s == 1]

    want = bash_array(setup, "build_packages")
    got = [p for r in build_runs for p in apt_packages(r)]
    check(sorted(got) == sorted(want),
          f"the build stage installs setup.sh's build_packages: Dockerfile {sorted(got)}, setup.sh {sorted(want)}")

    flags = bash_array(setup, "cmake_flags")
    configure = [w for r in build_runs for part in r.split("&&") if part.split()[:1] == ["cmake"] and "-S" in part.split()
                 for w in part.split() if w.startswith("-D")]
    check(sorted(configure) == sorted(flags),
          f"the build stage configures with setup.sh's cmake_flags: Dockerfile {configure}, setup.sh {flags}")
    check(any("ctest" in r and "-L unit" in r for r in build_runs), "the build stage runs the unit tests")

    user = [a for k, a, s in ins if k == "USER" and s == 1]
    check(user and re.fullmatch(r"[1-9]\d*(:\d+)?", user[-1]),
          "the runtime stage runs as a numeric non-root USER (runAsNonRoot needs a number)")
    k8s = os.path.join(root, "deploy", "kubernetes", "deployment.yaml")
    if user and os.path.exists(k8s):
        with open(k8s) as f:
            uid = re.search(r"runAsUser:\s*(\d+)", f.read())
        check(uid and uid.group(1) == user[-1].split(":")[0], "the Deployment's runAsUser is the image's USER")

    runtime = {p for r in runtime_runs for p in apt_packages(r)}
    if binary:
        for lib, pkg in linked_packages(binary).items():
            # The C library comes with the base image; sanitizer runtimes only
            # with the test command's sanitizer builds.
            if pkg in ("libc6", "libgcc-s1") or re.match(r"lib(asan|ubsan|tsan)\d", pkg):
                continue
            check(pkg in runtime, f"the runtime stage installs {pkg} (for {lib})")

    with open(os.path.join(root, ".dockerignore")) as f:
        patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    for artefact in ("build/CMakeCache.txt", "build-asan/sse-gateway", ".pg/data", ".git/HEAD",
                     "tests/integration/node_modules/pg/package.json", "bench/.run/x", "web/http_server.o"):
        check(excluded(artefact, patterns), f".dockerignore excludes {artefact}")
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True).stdout.split()
    check(tracked, "git ls-files lists the sources")
    for path in tracked:
        check(not excluded(path, patterns), f".dockerignore keeps the tracked file {path}")


main()
for line in failures:
    print("FAILED:", line)
print(f"check_dockerfile: {'ok' if not failures else str(len(failures)) + ' failed'}")
sys.exit(1 if failures else 0)
