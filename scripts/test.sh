#!/usr/bin/env bash
# `npm test`: every tier, in order of cost. Installs what is missing first (scripts/setup.sh).
#   1. cargo fmt --check          4. native cargo test (unit + flow tests)
#   2. clippy, host               5. every fuzz target for 5 s (scripts/fuzz.sh)
#   3. clippy, wasm32             6. release build of the Worker
#                                 7. end-to-end tests in workerd with local D1 and Durable Objects
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

step "setup"
bash scripts/setup.sh

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
node --test --test-reporter=spec --test-timeout=180000 tests/e2e/
