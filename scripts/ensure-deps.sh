#!/usr/bin/env bash
# Makes sure the Debian packages that `npm start` / `npm test` need are installed (README.md: a
# fresh machine must work with one command, and no test may be skipped because a client is
# missing). Fast when everything is present: one dpkg-query, no apt-get update.
#
#   bash scripts/ensure-deps.sh [--for start|test|bench]     (default: start)
#
# bench: what the tests need, plus wrk (bench/hits.bench.ts measures with it).
#
# As root (or with passwordless sudo) the missing packages are installed; otherwise the script
# exits 1 naming them. Add a package by appending it to the list for its purpose below; write
# `a|b` when either package will do (the first one is installed when neither is present).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# Redis and the Postgres server binaries (/usr/lib/postgresql/<v>/bin) for local services.
START_PACKAGES=(redis-server postgresql)
# Real clients and upstreams the e2e specs drive (MACHINE-NOTES: "Real clients and upstreams").
TEST_PACKAGES=(
  skopeo
  docker-registry
  dnf
  dnf-plugins-core
  createrepo-c
  rpm
  dpkg-dev
  apt-utils
  'nginx-light|nginx'
  # The ops spec runs its own Prometheus (own port, own TSDB dir); the package's system service
  # is never used, and the policy-rc.d below keeps it from starting on 9090 during the install.
  prometheus
  # The queue UI spec drives Debian's chromium with playwright-core (no browser download).
  chromium
  # The failover spec runs its own primary, replica and three sentinels (/usr/bin/redis-sentinel).
  redis-sentinel
  # The pypi client spec installs with pip (`python3 -m pip`), the go one builds with go.
  python3-pip
  golang-go
)
# Load generator of the hit benchmark (npm run bench:hits), on top of TEST_PACKAGES.
BENCH_PACKAGES=(wrk)

purpose=start
while [[ $# -gt 0 ]]; do
  case "$1" in
    --for)
      purpose="${2:-}"
      shift 2 || { echo "ensure-deps: --for needs a value (start|test|bench)" >&2; exit 2; }
      ;;
    --for=*)
      purpose="${1#--for=}"
      shift
      ;;
    -h | --help)
      sed -n '2,12p' "$0"
      exit 0
      ;;
    *)
      echo "ensure-deps: unknown argument '$1' (usage: ensure-deps.sh [--for start|test|bench])" >&2
      exit 2
      ;;
  esac
done

case "$purpose" in
  start) wanted=("${START_PACKAGES[@]}") ;;
  test) wanted=("${START_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  bench) wanted=("${START_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${BENCH_PACKAGES[@]}") ;;
  *)
    echo "ensure-deps: unknown purpose '$purpose' (expected start, test or bench)" >&2
    exit 2
    ;;
esac

# Every package name mentioned (alternatives included), queried in one dpkg-query call.
all_names=()
for entry in "${wanted[@]}"; do
  IFS='|' read -r -a alts <<<"$entry"
  all_names+=("${alts[@]}")
done
# (dpkg-query exits 1 when it has never heard of one of the names: that is "missing", not an error.)
installed=" $({ dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${all_names[@]}" 2>/dev/null || true; } |
  awk '$2 ~ /^ii/ { printf "%s ", $1 }') "

present() {
  local name="$1"
  [[ "$installed" == *" $name "* ]] && return 0
  # Installed some other way (built from source, another packaging): accept what the scripts use.
  case "$name" in
    postgresql | postgresql-*) compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null ;;
    redis-server | redis-sentinel | skopeo | docker-registry | dnf | rpm | createrepo_c) command -v "$name" >/dev/null ;;
    createrepo-c) command -v createrepo_c >/dev/null ;;
    nginx | nginx-light) command -v nginx >/dev/null ;;
    prometheus | wrk) command -v "$name" >/dev/null ;;
    python3-pip) python3 -m pip --version >/dev/null 2>&1 ;;
    golang-go) command -v go >/dev/null ;;
    *) return 1 ;;
  esac
}

missing=()
for entry in "${wanted[@]}"; do
  IFS='|' read -r -a alts <<<"$entry"
  found=no
  for name in "${alts[@]}"; do
    if present "$name"; then
      found=yes
      break
    fi
  done
  [[ "$found" == yes ]] || missing+=("${alts[0]}")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n env DEBIAN_FRONTEND=noninteractive)
else
  echo "ensure-deps: missing Debian packages for '$purpose': ${missing[*]}" >&2
  echo "ensure-deps: install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "ensure-deps: installing ${missing[*]} (for $purpose)" >&2

# Package scripts start system services (redis on 6379, a sentinel on 26379, postgres on 5432,
# nginx on 80, a registry on 5000) on machines with an init system; those would take the ports
# `npm start` uses. A policy-rc.d that answers 101 ("action forbidden") is the documented way to
# stop that; put one in place only for the duration of the install, and only when the machine has
# none.
policy=/usr/sbin/policy-rc.d
policy_added=no
cleanup() {
  if [[ "$policy_added" == yes ]]; then
    "${as_root[@]}" rm -f "$policy" || true
  fi
}
trap cleanup EXIT
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\n# added by artifact-cache scripts/ensure-deps.sh during apt-get install\nexit 101\n' |
    "${as_root[@]}" tee "$policy" >/dev/null
  "${as_root[@]}" chmod 755 "$policy"
  policy_added=yes
fi

"${as_root[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
"${as_root[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
  "${missing[@]}"
echo "ensure-deps: installed ${missing[*]}" >&2
