// Every command a person runs: its static imports are Node's built-ins until it has installed
// what it needs (a fresh clone has no node_modules, and an ES module loads every static import
// before any of its code runs), and it answers --help, -h and a wrong flag as a command should.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { root } from '../../scripts/lib.mjs';

const scripts = join(root, 'scripts');
/** The runnable scripts: those that start with a node shebang, and the bash ones. */
const entries = readdirSync(scripts).filter((f) => f.endsWith('.mjs') && readFileSync(join(scripts, f), 'utf8').startsWith('#!/usr/bin/env node'));
const shells = readdirSync(scripts).filter((f) => f.endsWith('.sh'));

/** The specifiers a module imports before any of its code runs (`import … from`, `export … from`,
 * bare `import '…'`), not `import()` calls. */
export function staticImports(text) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found = [];
  for (const m of code.matchAll(/^\s*(?:import|export)\s+(?:[^'"`;]*?\sfrom\s+)?(['"])([^'"]+)\1/gm)) found.push(m[2]);
  return found;
}

/** Every module reached through static imports from `file`, and the bare specifiers among them. */
function closure(file, seen = new Map()) {
  if (seen.has(file)) return seen;
  const specifiers = staticImports(readFileSync(file, 'utf8'));
  seen.set(file, specifiers);
  for (const s of specifiers) if (s.startsWith('.')) closure(resolve(dirname(file), s), seen);
  return seen;
}

const builtin = (s) => s.startsWith('node:') || builtinModules.includes(s);

test('the import reader sees every static form and no dynamic one', () => {
  const text = [
    "import a from 'yaml';",
    "import { b,\n  c } from \"smol-toml\";",
    "import 'side-effect';",
    "export { d } from './d.mjs';",
    "export * from 'jose';",
    "// import x from 'commented';",
    "const e = await import('oauth4webapi');",
  ].join('\n');
  assert.deepEqual(staticImports(text), ['yaml', 'smol-toml', 'side-effect', './d.mjs', 'jose']);
});

test('every entry script imports only built-ins before it has installed what it needs', () => {
  assert.ok(entries.length >= 12, `entries: ${entries}`);
  for (const entry of entries) {
    for (const [file, specifiers] of closure(join(scripts, entry))) {
      const packages = specifiers.filter((s) => !s.startsWith('.') && !builtin(s));
      assert.deepEqual(packages, [], `${entry} loads ${relative(root, file)}, which imports ${packages.join(', ')} before setup`);
    }
  }
});

test('package.json runs entry scripts only, and the package ships what its command loads', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  for (const [name, line] of Object.entries(pkg.scripts)) {
    const script = line.match(/^(?:node|bash) (scripts\/\S+)/)?.[1];
    assert.ok(script, `npm run ${name} runs ${line}`);
    const file = script.split('/').pop();
    assert.ok(entries.includes(file) || shells.includes(file), `npm run ${name} runs ${script}, which is not an entry script`);
  }
  // What `npx portcullis init|dev|check-routes` imports, statically or not, is in `files`.
  const shipped = (f) => pkg.files.some((p) => (p.endsWith('/') ? f.startsWith(p) : f === p));
  const reached = new Set();
  const visit = (file) => {
    const rel = relative(root, file);
    if (reached.has(rel)) return;
    reached.add(rel);
    const text = readFileSync(file, 'utf8');
    const dynamic = [...text.matchAll(/import\((['"])(\.[^'"]+)\1\)/g)].map((m) => m[2]);
    for (const s of [...staticImports(text), ...dynamic]) if (s.startsWith('.') && !s.includes('tests/e2e/')) visit(resolve(dirname(file), s));
  };
  visit(join(root, pkg.bin.portcullis));
  for (const f of reached) assert.ok(shipped(f), `npx portcullis loads ${f}, which the package does not ship`);
});

/** Runs a script with no stdin, as CI does. */
function run(file, args) {
  const [command, path] = file.endsWith('.sh') ? ['bash', file] : [process.execPath, file];
  const r = spawnSync(command, [join(scripts, path), ...args], { cwd: root, encoding: 'utf8', input: '', timeout: 30000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const everyCommand = [...entries, ...shells];
const portcullisCommands = ['init', 'dev', 'check-routes'];

test('every command answers --help and -h with its usage, its flags and an example, exit 0', () => {
  const cases = [...everyCommand.map((f) => [f, []]), ...portcullisCommands.map((c) => ['portcullis.mjs', [c]])];
  for (const [file, before] of cases) {
    for (const flag of ['--help', '-h']) {
      const r = run(file, [...before, flag]);
      const what = `${file} ${[...before, flag].join(' ')}`;
      assert.equal(r.status, 0, `${what}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: /, what);
      assert.match(r.stdout, /--help/, what);
      assert.match(r.stdout, /\nExamples?:\n {2}\S/, `${what} shows an example`);
      assert.equal(r.stderr, '', `${what} writes nothing to stderr`);
    }
  }
});

test('every flag a command takes is described with its default', () => {
  for (const file of entries) {
    const r = run(file, ['--help']);
    r.stdout = r.stdout.replace(/\s+/g, ' ');
    const declared = [...readFileSync(join(scripts, file), 'utf8').matchAll(/^\s{4}'?([a-z][a-z-]*)'?: \{ type: '(?:string|boolean)'/gm)].map((m) => m[1]);
    for (const flag of declared) assert.match(r.stdout, new RegExp(`--${flag}\\b`), `${file} --help describes --${flag}`);
    for (const m of readFileSync(join(scripts, file), 'utf8').matchAll(/'?([a-z][a-z-]*)'?: \{ type: 'string'[^}]*default: '([^']+)'/g)) {
      assert.ok(r.stdout.includes(`(default: ${m[2]})`) || r.stdout.includes(`default: ${m[2]}`), `${file} --help gives --${m[1]}'s default ${m[2]}`);
    }
  }
});

test('an unknown flag prints the usage to stderr and exits 2, with no stack trace', () => {
  const cases = [...everyCommand.map((f) => [f, []]), ...portcullisCommands.map((c) => ['portcullis.mjs', [c]]), ['portcullis.mjs', []]];
  for (const [file, before] of cases) {
    const r = run(file, [...before, '--no-such-flag']);
    const what = `${file} ${before.join(' ')} --no-such-flag`;
    assert.equal(r.status, 2, `${what}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /no-such-flag/, what);
    assert.match(r.stderr, /usage: /, what);
    assert.doesNotMatch(r.stderr, /^\s+at .*:\d+:\d+\)?$/m, `${what} prints a stack trace`);
  }
  const unknown = run('portcullis.mjs', ['deploy']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /no command "deploy"/);
});

test('a bad value is a usage error too, caught before anything is installed or started', () => {
  for (const [file, args, why] of [
    ['start.mjs', ['--port', '99999'], /--port/],
    ['soak.mjs', ['ten'], /SECONDS/],
    ['bench.mjs', ['--write', '--proxy-only'], /--write/],
    ['soak.mjs', ['10', '20'], /unexpected argument "20"/],
    ['fuzz.sh', ['soon'], /SECONDS/],
  ]) {
    const r = run(file, args);
    assert.equal(r.status, 2, `${file} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, why);
    assert.match(r.stderr, /usage: /);
  }
});
