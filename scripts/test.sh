#!/usr/bin/env bash
# `npm test`: installs what the tests need (scripts/ensure-deps.sh --for test), typechecks, lints,
# builds, then runs every jest project (unit + e2e; e2e's globalSetup starts Redis, Postgres, S3).
# Arguments go to jest: `npm test -- --selectProjects unit`, `npm test -- test/foo.e2e-spec.ts`.
# TEST_SKIP_CHECKS=1 skips typecheck and lint (a quick re-run of one spec while developing).
#
# The last line is always `N passed, M failed` (CI reads it). M counts failed tests or, when jest
# failed without one (a suite that does not compile, a broken globalSetup), at least 1.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
mkdir -p .data
results=.data/jest-results.json

fail() {
  echo "test.sh: $1" >&2
  echo "0 passed, 1 failed"
  exit 1
}

bash scripts/ensure-deps.sh --for test || fail 'installing test dependencies failed'
# npm puts node_modules/.bin first on PATH: the `node` devDependency (Node 24) runs jest and the
# apps whatever Node the machine has.
echo "== node $(node --version) ($(command -v node))"
(($(node -p 'process.versions.node.split(".")[0]') >= 22)) ||
  fail "Node $(node --version) is too old (22 or newer): run the tests through npm (npm test), which brings Node 24"
if [[ "${TEST_SKIP_CHECKS:-}" != 1 ]]; then
  echo '== typecheck (tsc --noEmit)'
  npx tsc --noEmit -p tsconfig.json || fail 'typecheck failed (see above)'
  echo '== lint (eslint --max-warnings 0)'
  npx eslint . --max-warnings 0 || fail 'lint failed (see above)'
fi
echo '== build (the e2e specs run the built apps)'
npm run build --silent || fail 'build failed (see above)'

echo '== jest'
rm -f "$results"
npx jest --maxWorkers=2 --json --outputFile="$results" "$@"
code=$?
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  let r = {};
  try {
    r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  } catch {
    console.error(`test.sh: jest wrote no results to ${process.argv[1]}`);
    console.log("0 passed, 1 failed");
    process.exit(0);
  }
  const failed = r.numFailedTests ?? 0;
  const code = Number(process.argv[2]);
  console.log(`${r.numPassedTests ?? 0} passed, ${code && !failed ? Math.max(1, r.numRuntimeErrorTestSuites ?? 0) : failed} failed`);
' "$results" "$code" || echo "0 passed, 1 failed"
[[ -s "$results" ]] || exit 1
exit "$code"
