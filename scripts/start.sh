#!/usr/bin/env bash
# `npm start`: a working single-node cache on a fresh machine (README.md).
#   - REDIS_URL / DATABASE_URL unset → installs redis-server / postgresql if missing
#     (scripts/ensure-deps.sh) and runs local ones with data under .data/ (Redis on 6379,
#     Postgres on 5432 with database `artifactcache`; LOCAL_REDIS_PORT / LOCAL_POSTGRES_PORT
#     change those). A taken port is an error that says how to use the server already there.
#   - builds both apps and runs fetcher + gateway (config/remotes.yaml, fs storage in .data/storage
#     unless ARTIFACT_CONFIG / STORAGE_* say otherwise).
#   - Ctrl-C / SIGTERM stops everything this script started; if any part exits, the rest is
#     stopped and the script exits non-zero.
# Works as root (Postgres then runs as the `postgres` user) and as a normal user.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p .data

export PORT="${PORT:-8080}"
export FETCHER_PORT="${FETCHER_PORT:-8081}"
redis_port="${LOCAL_REDIS_PORT:-6379}"
postgres_port="${LOCAL_POSTGRES_PORT:-5432}"
env_file=.data/local-services.env

services_pid=''
watchdog_pid=''
fetcher_pid=''
gateway_pid=''

say() { echo "start: $*" >&2; }

alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

# stop_pid PID NAME SECONDS: SIGTERM, then SIGKILL after the deadline.
stop_pid() {
  local pid="$1" name="$2" seconds="$3" i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < seconds * 10; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  say "$name (pid $pid) did not stop within ${seconds}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # invoked from the traps below
cleanup() {
  trap - EXIT INT TERM HUP
  # Apps first, so they do not log lost connections while Redis and Postgres go away.
  stop_pid "$gateway_pid" gateway 15
  stop_pid "$fetcher_pid" fetcher 15
  stop_pid "$services_pid" 'local Redis/Postgres' 60
  stop_pid "$watchdog_pid" watchdog 2
}
trap cleanup EXIT
trap 'say "stopping"; cleanup; exit 130' INT
trap 'say "stopping"; cleanup; exit 143' TERM HUP

# A health check answered by someone else's server on our port would look like success.
port_free() {
  node -e 'const s = require("node:net").createServer();
    s.once("error", () => process.exit(1)).listen(Number(process.argv[1]), () => s.close());' "$1"
}
for pair in "PORT:$PORT" "FETCHER_PORT:$FETCHER_PORT"; do
  if ! port_free "${pair#*:}"; then
    say "port ${pair#*:} (${pair%%:*}) is already in use by another process; stop it or set ${pair%%:*}"
    exit 1
  fi
done

# --- Redis and Postgres ---------------------------------------------------------------------
if [[ -z "${REDIS_URL:-}" || -z "${DATABASE_URL:-}" ]]; then
  bash scripts/ensure-deps.sh --for start
  args=(up --persist --write-env "$env_file" --exit-with "$$")
  if [[ -z "${REDIS_URL:-}" ]]; then
    args+=(--redis .data/redis --redis-port "$redis_port")
  fi
  if [[ -z "${DATABASE_URL:-}" ]]; then
    args+=(--postgres .data/postgres --postgres-port "$postgres_port" --database artifactcache)
  fi
  rm -f "$env_file"
  # Own session: a terminal Ctrl-C reaches the apps and this script, which then stops the
  # services last (see cleanup). --exit-with covers this script being killed outright.
  setsid node -r ts-node/register/transpile-only scripts/local-services.ts "${args[@]}" &
  services_pid=$!
fi

# --- build (while the services come up) -----------------------------------------------------
say 'building (npm run build)'
if ! npm run build; then
  say 'the build failed (see above)'
  exit 1
fi

# Where `npm run build` (swc) puts the entry points.
gateway_main=dist/apps/gateway/src/main.js
fetcher_main=dist/apps/fetcher/src/main.js
if [[ ! -f "$gateway_main" || ! -f "$fetcher_main" ]]; then
  say "build finished but $gateway_main or $fetcher_main is missing"
  exit 1
fi

if [[ -n "$services_pid" ]]; then
  deadline=$((SECONDS + 120))
  while ((SECONDS < deadline)); do
    [[ -s "$env_file" ]] && break
    if ! alive "$services_pid"; then
      say 'local Redis/Postgres failed to start (see the message above)'
      exit 1
    fi
    sleep 0.1
  done
  if [[ ! -s "$env_file" ]]; then
    say 'local Redis/Postgres did not come up within 120 s'
    exit 1
  fi
  set -a
  # shellcheck source=/dev/null
  . "$env_file"
  set +a
fi
export REDIS_URL DATABASE_URL

# --- apps -----------------------------------------------------------------------------------
say "REDIS_URL=$REDIS_URL DATABASE_URL=$DATABASE_URL"
# The same Node flags as everywhere else (scripts/local-services.ts APP_NODE_FLAGS says why).
node_flags=(--max-semi-space-size=4 --initial-old-space-size=128)
node "${node_flags[@]}" "$fetcher_main" &
fetcher_pid=$!
node "${node_flags[@]}" "$gateway_main" &
gateway_pid=$!
# Nothing runs cleanup when this script is killed outright (kill -9); the services notice by
# themselves (--exit-with), the apps are stopped by this watchdog.
(
  while kill -0 "$$" 2>/dev/null; do sleep 1; done
  stop_pid "$gateway_pid" gateway 15 &
  stop_pid "$fetcher_pid" fetcher 15
  wait
) &
watchdog_pid=$!

# curl may not be installed on a fresh machine; node is.
http_ok() {
  node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
    .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1"
}
# which_exited: names the first of our processes that is gone, if any.
which_exited() {
  local pair
  for pair in "gateway:$gateway_pid" "fetcher:$fetcher_pid" "local Redis/Postgres:$services_pid"; do
    if [[ -n "${pair##*:}" ]] && ! alive "${pair##*:}"; then
      echo "${pair%:*}"
      return 0
    fi
  done
  return 1
}
ready=no
deadline=$((SECONDS + 120))
while ((SECONDS < deadline)); do
  if gone="$(which_exited)"; then
    say "$gone exited during start-up (see its output above); stopping"
    exit 1
  fi
  if http_ok "http://127.0.0.1:$PORT/health" && http_ok "http://127.0.0.1:$FETCHER_PORT/health" &&
    alive "$gateway_pid" && alive "$fetcher_pid"; then
    ready=yes
    break
  fi
  sleep 0.5
done
if [[ "$ready" != yes ]]; then
  say "the cache did not become healthy within 120 s (gateway :$PORT/health, fetcher :$FETCHER_PORT/health); stopping"
  exit 1
fi
say "artifact cache ready: http://127.0.0.1:$PORT (gateway), fetcher health on :$FETCHER_PORT. Ctrl-C stops it."

# --- run until something exits --------------------------------------------------------------
watched=("$gateway_pid" "$fetcher_pid")
[[ -z "$services_pid" ]] || watched+=("$services_pid")
set +e
wait -n "${watched[@]}"
code=$?
set -e
say "$(which_exited || echo 'a process') exited (status $code); stopping the rest"
exit $((code == 0 ? 1 : code))
