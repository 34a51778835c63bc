#!/usr/bin/env bash
# `npm run bench [-- NAME...]`: benchmarks that print figures (never run by the tests).
#   streaming   one cold 1 GiB miss followed by 16 clients on 2 gateways, against a direct download
#   hits        cached hits of 4 KiB, 1 MiB and 64 MiB files against nginx proxy_cache, side by side
#               (also `npm run bench:hits`)
#   soak        10 minutes of mixed load on 2 gateways and 2 fetchers; fails on errors and leaks
#   eviction    one eviction pass over 1 million records, with hit latencies before and during it
#               (also `npm run soak`)
# Environment knobs are described at the top of each bench file (bench/*.bench.ts, bench/soak.ts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
benches=("$@")
[[ ${#benches[@]} -gt 0 ]] || benches=(streaming)
# The soak needs only what npm start needs (Redis, Postgres), not the test clients; hits needs wrk.
deps=start
for name in "${benches[@]}"; do
  case "$name" in
    soak | eviction) ;;
    hits) deps=bench ;;
    *) [[ "$deps" == bench ]] || deps=test ;;
  esac
done
bash scripts/ensure-deps.sh --for "$deps"
npm run build --silent
for name in "${benches[@]}"; do
  case "$name" in
    streaming) file=bench/streaming-miss.bench.ts ;;
    hits) file=bench/hits.bench.ts ;;
    soak) file=bench/soak.ts ;;
    eviction) file=bench/eviction.bench.ts ;;
    *) echo "bench: unknown benchmark '$name' (known: streaming, hits, soak, eviction)" >&2; exit 2 ;;
  esac
  echo "== bench $name"
  node -r ts-node/register/transpile-only -r tsconfig-paths/register "$file"
done
