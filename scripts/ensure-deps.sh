#!/usr/bin/env bash
# Installs the Debian packages that `npm start`, `npm test` or the benches need when one is
# missing (README.md: a fresh machine works with one command, and no test is skipped for want of
# a client). Quick when all are there: no apt-get at all.
#
#   bash scripts/ensure-deps.sh [--for start|test|bench]     (default: start)
#
# As root (or with passwordless sudo) it installs them; otherwise it exits 1 naming them. A
# package counts as there when dpkg has it or its command is on PATH (installed another way).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
# package [command]
need() {
  if ! { [[ -n "${2:-}" ]] && command -v "$2" >/dev/null; } &&
    [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" != ii* ]]; then
    missing+=("$1")
  fi
}

for_start() {
  need redis-server redis-server
  compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need postgresql
}
# Real clients and upstreams the e2e specs drive; nginx and Prometheus of the topology spec (their
# system services never start: see policy-rc.d below); chromium for the queue UI spec
# (playwright-core); sentinels for the failover spec; pip and go for their clients' specs.
for_test() {
  for_start
  need skopeo skopeo
  need docker-registry docker-registry
  need dnf dnf
  need dnf-plugins-core
  need createrepo-c createrepo_c
  need rpm rpm
  need dpkg-dev dpkg-scanpackages
  need apt-utils apt-ftparchive
  need nginx-light nginx
  need prometheus prometheus
  need chromium chromium
  need redis-sentinel redis-sentinel
  python3 -m pip --version >/dev/null 2>&1 || need python3-pip
  need golang-go go
}
# wrk: the load generator of npm run bench:hits.
for_bench() {
  for_test
  need wrk wrk
}

case "${1:-} ${2:-}" in
  ' ' | '--for start') for_start ;;
  '--for test') for_test ;;
  '--for bench') for_bench ;;
  *)
    echo "usage: ensure-deps.sh [--for start|test|bench]" >&2
    exit 2
    ;;
esac
[[ ${#missing[@]} -gt 0 ]] || exit 0

if [[ "$(id -u)" -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n env DEBIAN_FRONTEND=noninteractive)
else
  echo "ensure-deps: missing Debian packages: ${missing[*]}" >&2
  echo "ensure-deps: install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "ensure-deps: installing ${missing[*]}" >&2

# Package scripts start system services (redis on 6379, postgres on 5432, nginx on 80, ...) on
# machines with an init system, taking the ports `npm start` uses. A policy-rc.d answering 101
# ("action forbidden") is the documented way to stop that: in place only during the install,
# and only when the machine has none.
policy=/usr/sbin/policy-rc.d
if [[ ! -e "$policy" ]]; then
  trap '"${as_root[@]}" rm -f "$policy" || true' EXIT
  printf '#!/bin/sh\n# added by artifact-cache scripts/ensure-deps.sh during apt-get install\nexit 101\n' |
    "${as_root[@]}" tee "$policy" >/dev/null
  "${as_root[@]}" chmod 755 "$policy"
fi
"${as_root[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
"${as_root[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
echo "ensure-deps: installed ${missing[*]}" >&2
