#!/usr/bin/env bash
# `npm run fuzz [-- SECONDS]`: runs every cargo-fuzz target (fuzz/fuzz_targets) for SECONDS each
# (default 60), starting from the seeds in fuzz/seeds, and prints executions per target. A crash
# fails the run and leaves its input under fuzz/artifacts/. `npm test` runs it for 5 s per target.
# cargo-fuzz needs nightly features; this stable toolchain allows them with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export RUSTC_BOOTSTRAP=1

usage() {
  cat <<'USAGE'
usage: npm run fuzz [-- SECONDS]

Runs every cargo-fuzz target (fuzz/fuzz_targets) for SECONDS each, starting from the seeds in
fuzz/seeds, and prints executions per target. A crash fails the run and leaves its input under
fuzz/artifacts/. npm test runs it for 5 s per target.

Arguments and flags:
  SECONDS     how long each target runs (default: 60)
  -h, --help  print this help and exit

Example:
  npm run fuzz -- 600
USAGE
}
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  ""|*[!0-9]*|0*) if [ -n "${1:-}" ]; then printf 'fuzz: SECONDS is a whole number of seconds, not %s\n\n' "$1" >&2; usage >&2; exit 2; fi ;;
esac
if [ $# -gt 1 ]; then printf 'fuzz: one argument at most\n\n' >&2; usage >&2; exit 2; fi
secs="${1:-60}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (once)"
  cargo install cargo-fuzz --locked
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# No sanitizer: the crate has no unsafe code of its own; debug assertions and overflow checks stay on.
flags=(--sanitizer none --debug-assertions)
cargo fuzz build "${flags[@]}" >/dev/null 2>&1 || cargo fuzz build "${flags[@]}"

total=0
printf '%-20s %15s\n' target executions
for target in $(cargo fuzz list); do
  mkdir -p "$work/$target"
  log="$work/$target.log"
  if ! cargo fuzz run "${flags[@]}" "$target" "$work/$target" "fuzz/seeds/$target" -- \
      -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: $target failed; the input is under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  total=$((total + ${runs:-0}))
  printf '%-20s %15s\n' "$target" "${runs:-?}"
done
printf '%-20s %15s\n' total "$total"
echo "fuzz: no crashes in ${secs} s per target"
