// Every command a person runs: its static imports are Node's built-ins until it has installed
// what it needs (a fresh clone has no node_modules, and an ES module loads every static import
// before any of its code runs), and it answers --help, -h and a wrong flag as a command should.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { asksForHelp, nodeIsRecent, projectNode } from '../../scripts/cli.mjs';
import { localSecrets } from '../../scripts/commands/dev.mjs';
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
  for (const name of ['deploy', 'constructor', 'toString']) {
    const unknown = run('portcullis.mjs', [name]);
    assert.equal(unknown.status, 2, `${name}: ${unknown.stderr}`);
    assert.match(unknown.stderr, new RegExp(`no command "${name}"`));
  }
});

test('--help is a flag only where a flag can stand: not a string flag\'s value, not after --', () => {
  const spec = { options: { name: { type: 'string' }, yes: { type: 'boolean' } } };
  assert.equal(asksForHelp(spec, ['--help']), true);
  assert.equal(asksForHelp(spec, ['--yes', '-h']), true);
  assert.equal(asksForHelp(spec, ['--name', '-h']), false);
  assert.equal(asksForHelp(spec, ['--name=-h']), false);
  assert.equal(asksForHelp(spec, ['--', '--help']), false);
  assert.equal(asksForHelp(spec, ['--name', 'x', '--help']), true);
});

test('dev adds its secrets to an owner\'s .dev.vars without rewriting a line of it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-devvars-'));
  try {
    const own = '# mine\nexport STRIPE_KEY=sk_test_1\nPEM="-----BEGIN KEY-----\nabc\n-----END KEY-----"\nAPI_KEY=abc # comment\n';
    writeFileSync(join(dir, '.dev.vars'), own);
    const { secrets } = localSecrets(dir, null, 'oauth');
    const after = readFileSync(join(dir, '.dev.vars'), 'utf8');
    assert.ok(after.startsWith(own), after);
    for (const name of ['SIGNING_KEY', 'SESSION_SECRET', 'ADMIN_TOKEN', 'ADMIN_PASSWORD']) assert.match(after, new RegExp(`^${name}='${secrets[name].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'$`, 'm'));
    assert.equal(statSync(join(dir, '.dev.vars')).mode & 0o777, 0o600);
    // Again: nothing is missing, so nothing is written.
    localSecrets(dir, null, 'oauth');
    assert.equal(readFileSync(join(dir, '.dev.vars'), 'utf8'), after);
    // An environment's file is its own.
    localSecrets(dir, 'production', 'oauth');
    assert.ok(existsSync(join(dir, '.dev.vars.production')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The machine's own Node, without this checkout's on the PATH. */
const machineNode = () => {
  const path = (process.env.PATH ?? '').split(':').filter((d) => !d.startsWith(root)).join(':');
  const r = spawnSync('sh', ['-c', 'command -v node'], { env: { ...process.env, PATH: path }, encoding: 'utf8' });
  return r.stdout.trim();
};

test('a command re-run under the project\'s Node passes a signal sent to it alone on, and dies of it', async (t) => {
  const node = machineNode();
  const version = node && spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
  if (!version || nodeIsRecent(version) || !existsSync(projectNode)) return t.skip(`this machine's Node (${version}) is run as it is`);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-rerun-'));
  try {
    // A command that waits: it records which Node runs it, then waits for a signal.
    const script = join(dir, 'waits.mjs');
    writeFileSync(script, `import { runCommand } from ${JSON.stringify(join(scripts, 'cli.mjs'))};
await runCommand({ name: 'waits', usage: 'waits', summary: 'waits' }, async () => ({
  main: () => { require_ = null; process.stdout.write(process.version + ' ' + process.pid + '\\n'); return new Promise(() => setInterval(() => {}, 1000)); },
}));
`.replace('require_ = null; ', ''));
    const wrapper = spawn(node, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const line = await new Promise((resolve, reject) => {
      wrapper.stdout.once('data', (d) => resolve(String(d).trim()));
      wrapper.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const [ran, pid] = line.split(' ');
    assert.ok(nodeIsRecent(ran.slice(1)), `ran under ${ran}`);
    assert.notEqual(Number(pid), wrapper.pid, 'a second process');
    const exited = new Promise((resolve) => wrapper.once('exit', (code, signal) => resolve({ code, signal })));
    wrapper.kill('SIGTERM');
    const { signal } = await exited;
    assert.equal(signal, 'SIGTERM', 'the wrapper dies of the signal its command died of');
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      try {
        process.kill(Number(pid), 0);
        await new Promise((r) => setTimeout(r, 100));
      } catch {
        gone = true;
      }
    }
    assert.ok(gone, 'the re-run command got the signal');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
