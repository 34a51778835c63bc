#!/usr/bin/env bash
# `npm test`: installs what the tests need (scripts/ensure-deps.sh --for test), typechecks, lints,
# then runs every jest project (unit + e2e; e2e's globalSetup starts Redis, Postgres and S3).
# Arguments go to jest: `npm test -- --selectProjects unit`, `npm test -- test/foo.e2e-spec.ts`.
# TEST_SKIP_CHECKS=1 skips typecheck and lint (for a quick re-run of one spec while developing).
#
# The last line printed is always `N passed, M failed` (CI reads it). M counts failed tests, or,
# when jest failed without a failing test (a suite that does not compile, a broken globalSetup),
# the suites that could not run, and at least 1.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
mkdir -p .data
results=.data/jest-results.json

fail_before_jest() {
  echo "test.sh: $1" >&2
  echo "0 passed, 1 failed"
  exit 1
}

bash scripts/ensure-deps.sh --for test || fail_before_jest 'installing test dependencies failed'

# npm puts node_modules/.bin first on PATH: the `node` devDependency (Node 24) runs jest and the
# apps whatever Node the machine has. Refuse a Node the project does not support.
node_major="$(node -p 'process.versions.node.split(".")[0]')"
echo "== node $(node --version) ($(command -v node))"
if ((node_major < 22)); then
  fail_before_jest "Node $(node --version) is too old (22 or newer): run the tests through npm (npm test), which brings Node 24"
fi

if [[ "${TEST_SKIP_CHECKS:-}" != 1 ]]; then
  echo '== typecheck (tsc --noEmit)'
  npx tsc --noEmit -p tsconfig.json || fail_before_jest 'typecheck failed (see above)'
  echo '== lint (eslint --max-warnings 0)'
  npx eslint . --max-warnings 0 || fail_before_jest 'lint failed (see above)'
fi

echo '== build (the e2e specs run the built apps)'
npm run build --silent || fail_before_jest 'build failed (see above)'

echo '== jest'
rm -f "$results"
npx jest --runInBand=false --maxWorkers=2 --json --outputFile="$results" "$@"
code=$?

# shellcheck disable=SC2016 # JavaScript, not shell
summary="$(
  node -e '
    const fs = require("node:fs");
    const [file, code] = [process.argv[1], Number(process.argv[2])];
    let r;
    try {
      r = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
      console.log("0 passed, 1 failed");
      process.exit(0);
    }
    const passed = r.numPassedTests ?? 0;
    let failed = r.numFailedTests ?? 0;
    if (code !== 0 && failed === 0) {
      failed = Math.max(1, r.numRuntimeErrorTestSuites ?? 0);
    }
    console.log(`${passed} passed, ${failed} failed`);
  ' "$results" "$code"
)"
if [[ ! -s "$results" ]]; then
  echo "test.sh: jest wrote no results to $results (exit $code)" >&2
  [[ $code -ne 0 ]] || code=1
fi
echo "${summary:-0 passed, 1 failed}"
exit "$code"
