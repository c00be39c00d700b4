#!/usr/bin/env bash
# A private PostgreSQL cluster for the run command: data, socket and log under
# the project's .pg/ folder, run as the postgres user (the server refuses
# root), on 127.0.0.1:${SSE_PG_PORT:-54329}. `start` is idempotent, and moves a
# cluster that runs on another port to this one.
# Usage: scripts/pg.sh start|stop|status|url
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
port=${SSE_PG_PORT:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -n "$bin" ] || { echo "pg.sh: no PostgreSQL server found (apt-get install postgresql)" >&2; exit 1; }

# The folder must be reachable by the postgres user; a clone under /root is not.
root="$here/.pg"
mkdir -p "$root"
chown postgres: "$root"
if ! runuser -u postgres -- test -w "$root" 2>/dev/null; then
  root="/var/tmp/sse-gateway-$(printf '%s' "$here" | md5sum | cut -c1-12)"
  echo "pg.sh: $here is not reachable by the postgres user; using $root" >&2
  mkdir -p "$root"
  chown postgres: "$root"
fi
data="$root/data" run="$root/run" log="$root/log"
as_pg() { runuser -u postgres -- "$@"; }
running() { as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }
# The port a running cluster listens on: the fourth line of postmaster.pid.
running_port() { as_pg sed -n 4p "$data/postmaster.pid" 2>/dev/null; }

case "${1:-}" in
start)
  if [ ! -s "$data/PG_VERSION" ]; then
    as_pg mkdir -p "$data" "$run"
    as_pg "$bin/initdb" -D "$data" --auth=trust --username=postgres -E UTF8 >/dev/null
  fi
  as_pg mkdir -p "$run"
  # Asked for another port than the running cluster's: move it there, or
  # `url` would name a port nobody listens on.
  if running && [ "$(running_port)" != "$port" ]; then
    echo "pg.sh: the cluster in $data listens on port $(running_port); restarting it on $port" >&2
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
  if ! running; then
    as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$run" start >/dev/null
  fi
  ;;
stop)
  if running; then
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
  ;;
status)
  as_pg "$bin/pg_ctl" -D "$data" status
  ;;
url)
  echo "postgresql://postgres@127.0.0.1:$port/postgres"
  ;;
*)
  echo "usage: $0 start|stop|status|url" >&2
  exit 2
  ;;
esac
