#!/usr/bin/env bash
# `npm run bench [-- NAME...]`: benchmarks that print figures (never run by the tests).
#   streaming   one cold 1 GiB miss followed by 16 clients on 2 gateways, against a direct download
# Environment knobs are described at the top of each bench/*.bench.ts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh --for test
npm run build --silent
benches=("$@")
[[ ${#benches[@]} -gt 0 ]] || benches=(streaming)
for name in "${benches[@]}"; do
  case "$name" in
    streaming) file=bench/streaming-miss.bench.ts ;;
    *) echo "bench: unknown benchmark '$name' (known: streaming)" >&2; exit 2 ;;
  esac
  echo "== bench $name"
  node -r ts-node/register/transpile-only -r tsconfig-paths/register "$file"
done
