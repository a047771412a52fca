#!/usr/bin/env node
// Builds the Worker (wasm + JS shim) with worker-build, fully offline: worker-build is handed the
// wasm-bindgen, esbuild and wasm-opt binaries that scripts/setup.sh installed instead of
// downloading its own. Skips the build when build/ is newer than every input, so `wrangler dev`
// restarts cost nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureInstalled, isMain, parseCommandLine } from './cli.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const output = join(root, 'build', 'worker', 'shim.mjs');
// static/ is compiled into the Worker (build.rs), so it is an input like the sources.
const inputs = ['src', 'static', 'build.rs', 'Cargo.toml', 'Cargo.lock'];

function newestMtime(path) {
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  return readdirSync(path).reduce((max, name) => Math.max(max, newestMtime(join(path, name))), info.mtimeMs);
}

export function buildIsFresh() {
  if (!existsSync(output)) return false;
  const built = statSync(output).mtimeMs;
  return inputs.every((input) => newestMtime(join(root, input)) <= built);
}

export function build({ force = false } = {}) {
  if (!force && buildIsFresh()) {
    console.log('build: up to date');
    return;
  }
  workerBuild(root);
}

/**
 * Runs worker-build --release in a crate's directory (the gateway, or the bench's workers-rs
 * floor), with the locally installed wasm-bindgen, esbuild and wasm-opt.
 */
export function workerBuild(cwd, { targetDir } = {}) {
  const bin = join(root, 'node_modules', '.bin');
  const cargoBin = join(process.env.CARGO_HOME ?? join(process.env.HOME, '.cargo'), 'bin');
  const env = {
    ...process.env,
    WASM_BINDGEN_BIN: process.env.WASM_BINDGEN_BIN ?? join(cargoBin, 'wasm-bindgen'),
    ESBUILD_BIN: process.env.ESBUILD_BIN ?? join(bin, 'esbuild'),
    WASM_OPT_BIN: process.env.WASM_OPT_BIN ?? join(bin, 'wasm-opt'),
    ...(targetDir ? { CARGO_TARGET_DIR: targetDir } : {}),
  };
  const command = existsSync(join(cargoBin, 'worker-build')) ? join(cargoBin, 'worker-build') : 'worker-build';
  const result = spawnSync(command, ['--release'], { cwd, env, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`build: worker-build failed in ${cwd} (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
}

export const spec = {
  name: 'build',
  usage: 'npm run build [-- --force]',
  summary:
    'Builds the Worker (build/: the wasm and its JavaScript shim) with worker-build --release, offline: worker-build gets the wasm-bindgen, esbuild and wasm-opt that scripts/setup.sh installed instead of downloading its own. Does nothing when build/ is newer than src/, static/, build.rs, Cargo.toml and Cargo.lock.',
  options: { force: { type: 'boolean', default: false, description: 'build even when build/ looks up to date' } },
  examples: ['npm run build'],
};

if (isMain(import.meta.url)) {
  const { values } = parseCommandLine(spec);
  // The tools are checked only when there is something to build (wrangler dev runs this on start).
  if (values.force || !buildIsFresh()) ensureInstalled('run');
  build({ force: values.force });
}
