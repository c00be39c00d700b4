#!/usr/bin/env bash
# Shared set-up of the run and test commands, on Debian 12 as root: installs
# the Debian packages that are missing (one apt-get update, only if needed),
# the integration tests' npm packages, and builds into the given folder.
# Usage: scripts/setup.sh BUILD_DIR [extra cmake args...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: setup.sh BUILD_DIR [cmake args...]}
shift

# What the gateway needs to build; the Dockerfile's build stage installs this
# same list (a test compares them).
build_packages=(build-essential cmake pkg-config libmicrohttpd-dev libevent-dev libcjson-dev
  libssl-dev libpq-dev libgnutls28-dev)
# What the tests need besides: sanitizers and fuzzing, the database, the
# browser, the proxies of deploy/ with a throwaway CA (openssl) that the
# browser trusts (certutil), the checks of the deployment files, and promtool
# (prometheus) for the metrics text.
test_packages=(clang libclang-rt-14-dev clang-format postgresql chromium nginx haproxy openssl
  libnss3-tools systemd python3-yaml prometheus)
packages=("${build_packages[@]}" "${test_packages[@]}")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# Tools that may come from elsewhere than Debian's packages (a newer Node.js
# ships its own npm, which conflicts with Debian's): install only if absent.
command -v psql >/dev/null || missing+=(postgresql-client)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d "$here/tests/integration/node_modules/eventsource" ] ||
   [ "$here/tests/integration/package.json" -nt "$here/tests/integration/node_modules" ]; then
  echo "setup: installing the integration tests' npm packages"
  (cd "$here/tests/integration" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$here/tests/integration/node_modules"
fi

# The Dockerfile configures with these same flags (a test compares them).
cmake_flags=(-DWERROR=ON)
cmake -S "$here" -B "$here/$build" "${cmake_flags[@]}" "$@" >/dev/null
# A failed build fails here, even when an older binary is still in the folder.
if ! cmake --build "$here/$build" -j"$(nproc)" >"$here/$build/build.log" 2>&1; then
  grep -E "error|Error" "$here/$build/build.log" >&2 || tail -n 30 "$here/$build/build.log" >&2
  echo "setup: build failed (see $build/build.log)" >&2
  exit 1
fi
grep -E "warning" "$here/$build/build.log" || true
