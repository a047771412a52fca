#!/usr/bin/env node
// `npm run bench`: measures what the targets in BENCHMARKS.md are about and prints a report.
// With --write, the report replaces the generated section of BENCHMARKS.md.
// Loads target 127.0.0.1 only and are bounded in time and count.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import { build } from './build.mjs';
import { root, wrangler } from './lib.mjs';

const write = process.argv.includes('--write');
const lines = [];
const say = (line = '') => {
  lines.push(line);
  console.log(line);
};

function kib(bytes) {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** Deployable bundle as `wrangler deploy --dry-run` reports it, plus the wasm on its own. */
function measureSize() {
  build();
  const out = mkdtempSync(join(tmpdir(), 'portcullis-dry-run-'));
  try {
    const printed = wrangler(['deploy', '--dry-run', `--outdir=${out}`]);
    const m = printed.match(/Total Upload:\s*([\d.]+ KiB)\s*\/\s*gzip:\s*([\d.]+ KiB)/);
    const wasmFile = readdirSync(out).find((f) => f.endsWith('.wasm'));
    const wasm = readFileSync(join(out, wasmFile));
    return {
      uploadRaw: m ? m[1] : 'not reported',
      uploadGzip: m ? m[2] : 'not reported',
      wasmRaw: kib(wasm.length),
      wasmGzip: kib(gzipSync(wasm, { level: 9 }).length),
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
say(`Machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${execSync('rustc --version').toString().trim()}`);
say(`Date: ${new Date().toISOString().slice(0, 10)}`);
say();
say('### Size');
const size = measureSize();
say();
say('| artifact | raw | gzip |');
say('|---|---|---|');
say(`| deployable bundle (\`wrangler deploy --dry-run\`) | ${size.uploadRaw} | ${size.uploadGzip} |`);
say(`| wasm module | ${size.wasmRaw} | ${size.wasmGzip} |`);

if (write) {
  const path = join(root, 'BENCHMARKS.md');
  const text = readFileSync(path, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const before = text.slice(0, text.indexOf(start) + start.length);
  const after = text.slice(text.indexOf(end));
  writeFileSync(path, `${before}\n${lines.join('\n')}\n${after}`);
  console.log('\nwrote BENCHMARKS.md');
}
