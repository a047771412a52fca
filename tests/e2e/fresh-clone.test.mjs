// The README's quick start, as a newcomer meets it: `git clone`, then `npm start`, in a directory
// with no node_modules, no .dev.vars, no build/ and no .wrangler/. It must install what it needs
// itself, build, serve the demo, and leave nothing running after Ctrl-C. The clone shares this
// machine's npm cache and Rust tools, and a cargo target directory of its own kept under
// target/fresh-clone (its own, so its wasm never stands in for this checkout's build), so a rerun
// compiles only the crate (its path differs each time): most of the few minutes this costs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, root } from '../../scripts/lib.mjs';

/** Every process whose parent chain reaches `pid` (read from /proc). */
function descendants(pid) {
  const parent = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone meanwhile */
    }
  }
  const out = new Set();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [child, ppid] of parent) {
      if ((ppid === pid || out.has(ppid)) && !out.has(child)) {
        out.add(child);
        grew = true;
      }
    }
  }
  return out;
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    // A zombie has exited; only its parent has not read its status yet.
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
};

test('a fresh clone serves the demo with `npm start` alone, and Ctrl-C stops everything it started', { timeout: 20 * 60 * 1000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'portcullis-clone-'));
  const clone = join(work, 'portcullis');
  const seen = new Set();
  let child;
  try {
    const cloned = spawnSync('git', ['clone', '--quiet', '--shared', root, clone], { encoding: 'utf8' });
    assert.equal(cloned.status, 0, cloned.stderr);
    for (const absent of ['node_modules', '.dev.vars', 'build', '.wrangler']) assert.ok(!existsSync(join(clone, absent)), absent);

    const [gateway, origin, mcp, idp, stripe, enterprise, agent] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
    const env = {
      ...process.env,
      // As a newcomer's shell has it: nothing of this checkout's.
      PORT: String(gateway),
      ORIGIN_PORT: String(origin),
      MCP_ORIGIN_PORT: String(mcp),
      IDP_PORT: String(idp),
      STRIPE_PORT: String(stripe),
      ENTERPRISE_IDP_PORT: String(enterprise),
      AGENT_PORT: String(agent),
      CARGO_TARGET_DIR: join(root, 'target', 'fresh-clone'),
    };
    delete env.NODE_OPTIONS;
    // Not this checkout's Node (npm test puts scripts/node first): the clone installs its own.
    env.PATH = (env.PATH ?? '').split(':').filter((dir) => !dir.startsWith(root)).join(':');
    // Its own process group, as a terminal gives it, so Ctrl-C can be sent to the group.
    child = spawn('npm', ['start'], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const banner = new Promise((resolve, reject) => {
      const read = (chunk) => {
        output += chunk;
        for (const pid of descendants(child.pid)) seen.add(pid);
        if (output.includes('Portcullis is running.')) resolve();
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
      child.on('exit', (code) => reject(new Error(`npm start exited (${code}) before its banner:\n${output.slice(-6000)}`)));
    });
    await banner;
    for (const pid of descendants(child.pid)) seen.add(pid);
    assert.match(output, /setup: installing npm packages/, 'it installed the packages itself');
    // Where the machine's Node is older than the project's floor, the clone brought its own.
    const systemNode = spawnSync('node', ['-p', 'process.versions.node'], { env, encoding: 'utf8' }).stdout.trim();
    const [major, minor] = systemNode.split('.').map(Number);
    if (major < 22 || (major === 22 && minor < 12)) assert.match(output, /setup: installing Node 24\.\d+\.\d+ into scripts\/node/);

    const base = `http://127.0.0.1:${gateway}`;
    const manifest = await fetch(`${base}/.well-known/ai-plugin.json`);
    assert.equal(manifest.status, 200);
    assert.equal((await manifest.json()).schema_version, 'v1');
    const mcpCall = await fetch(`http://localhost:${gateway}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(mcpCall.status, 401);
    assert.match(mcpCall.headers.get('www-authenticate'), /resource_metadata="http:\/\/localhost:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
    const discovery = await fetch(`http://127.0.0.1:${idp}/.well-known/openid-configuration`);
    assert.equal(discovery.status, 200);
    assert.equal((await discovery.json()).issuer, `http://127.0.0.1:${idp}`);
    assert.match(output, new RegExp(`Demo password +demo-`), 'the banner names the demo password');
    // The demo's enterprise provider and signed agent, which its example scripts need.
    assert.equal((await fetch(`http://127.0.0.1:${enterprise}/jwks.json`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${agent}/.well-known/http-message-signatures-directory`)).status, 200);
    assert.match(output, /node scripts\/exchange-demo\.mjs/);
    // Strangers may sign up, and the banner says where the mail they are sent is kept.
    assert.equal((await fetch(`${base}/signup`)).status, 200);
    const inbox = new RegExp(`Mail sent +(${base}/cdn-cgi/local/explorer)/email/sending`).exec(output)?.[1];
    assert.ok(inbox, 'the banner names the local inbox');
    assert.equal((await fetch(`${inbox}/api/local/email/sending`)).status, 200);

    // Ctrl-C: SIGINT to the foreground process group.
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    process.kill(-child.pid, 'SIGINT');
    const { code, signal } = await exited;
    assert.ok(code === 0 || code === 130 || signal === 'SIGINT', `npm start ended with ${code ?? signal}`);
    // Its children stop their own children; give them the few seconds stopProcess allows.
    const deadline = Date.now() + 10000;
    while ([...seen].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const left = [...seen].filter(alive).map((pid) => `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 120)}`);
    assert.deepEqual(left, [], 'processes npm start left running');
    await assert.rejects(fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) }), 'nothing listens on the gateway\'s port');
  } finally {
    if (child && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const pid of seen) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(work, { recursive: true, force: true });
  }
});
