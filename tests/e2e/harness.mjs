// End-to-end harness: one real gateway in workerd (`wrangler dev`) with its own local D1 and
// Durable Object state in a temporary directory, in front of the bundled demo origin. Ports are
// picked free, readiness is awaited, and everything started is stopped by process id.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, generateSecrets, root, startProcess, stopProcess, waitFor, withMailBinding, wrangler, wranglerBin, wranglerEnv } from '../../scripts/lib.mjs';
import { applySeed } from '../../scripts/commands/seed.mjs';
import { mintAccessToken } from '../../scripts/commands/mint-token.mjs';

/**
 * A `beforeStart` that applies `seed` (the format of demo/seed.json) on top of the demo's, with
 * `secrets` added to those its `secret_env` and `password_env` may name.
 */
export function seedAlso(seed, secrets = {}) {
  return ({ state, baseUrl, secrets: generated }) => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-seed-also-'));
    const file = join(dir, 'seed.json');
    writeFileSync(file, JSON.stringify(seed));
    try {
      applySeed({ file, baseUrl, secrets: { ...generated, ...secrets }, persistTo: state });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/**
 * Starts origin + gateway. `plugin` replaces the [vars.PLUGIN] table (or is a function of
 * `{ port, baseUrl, originUrl }` returning it); `plugins({ port, baseUrl,
 * originUrl })` returns a PLUGINS array instead (several plugins, picked by host); `vars` adds or
 * overrides other vars and secrets. `seed: false` skips seeding; `beforeStart({ state, baseUrl,
 * secrets })` runs after seeding, before workerd starts; `wranglerConfig(text)` returns a changed
 * wrangler.toml to run with.
 */
export async function startGateway({ plugin, plugins, vars = {}, migrate = true, seed = true, testScheduled = false, beforeStart, wranglerConfig, mail = false } = {}) {
  // `mail`: the send_email binding (wrangler dev keeps each mail in its local explorer, which
  // tests/e2e/mail.mjs reads) and a sender.
  if (mail) {
    const change = wranglerConfig;
    wranglerConfig = (text) => withMailBinding(change ? change(text) : text);
    vars = { MAIL_FROM: 'Todo Demo <no-reply@todo.example>', ...vars };
  }
  const state = mkdtempSync(join(tmpdir(), 'portcullis-e2e-'));
  const [gatewayPort, originPort, inspectorPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const baseUrl = `http://127.0.0.1:${gatewayPort}`;
  const originUrl = `http://127.0.0.1:${originPort}`;
  const secrets = generateSecrets();

  if (migrate) wrangler(['d1', 'migrations', 'apply', 'DB', '--local', `--persist-to=${state}`]);
  if (migrate && seed) applySeed({ baseUrl, secrets, persistTo: state });
  // Extra state to lay down before the runtime opens it (the scale bench's bulk rows).
  if (beforeStart) await beforeStart({ state, baseUrl, secrets });

  const origin = startProcess(process.execPath, [join(root, 'demo', 'origin.mjs')], {
    env: { ...process.env, PORT: String(originPort), DATA_FILE: '' },
    name: 'origin',
  });
  const allVars = {
    PUBLIC_BASE_URL: baseUrl,
    ORIGIN_URL: originUrl,
    SIGNING_KEY: secrets.SIGNING_KEY,
    RSA_SIGNING_KEY: secrets.RSA_SIGNING_KEY,
    SESSION_SECRET: secrets.SESSION_SECRET,
    ADMIN_TOKEN: secrets.ADMIN_TOKEN,
    ORIGIN_SECRET: secrets.ORIGIN_SECRET,
    // Read only when IDENTITY_PROVIDERS names the demo's provider, or a plugin sells plans
    // (demo.test.mjs).
    DEMO_IDP_CLIENT_SECRET: secrets.DEMO_IDP_CLIENT_SECRET,
    STRIPE_SECRET_KEY: secrets.STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET: secrets.STRIPE_WEBHOOK_SECRET,
    // Nothing leaves the machine: the scheduled refresh reads the demo origin's copy.
    OPENAI_EGRESS_URL: `${originUrl}/public/egress.json`,
    // Tests read request lines, so every success writes one here; deployments sample (1%).
    REQUEST_LOG_SAMPLE_RATE: '1',
    ...(plugin
      ? { PLUGIN: JSON.stringify(typeof plugin === 'function' ? plugin({ port: gatewayPort, baseUrl, originUrl }) : plugin) }
      : {}),
    ...(plugins
      ? { PLUGIN: '', PLUGINS: JSON.stringify(plugins({ port: gatewayPort, baseUrl, originUrl })) }
      : {}),
    ...vars,
  };
  const args = [
    'dev',
    '--ip', '127.0.0.1',
    '--port', String(gatewayPort),
    '--inspector-port', String(inspectorPort),
    '--persist-to', state,
    '--show-interactive-dev-session=false',
    '--log-level', process.env.PORTCULLIS_LOG_LEVEL ?? 'log',
  ];
  for (const [k, v] of Object.entries(allVars)) args.push('--var', `${k}:${v}`);
  if (testScheduled) args.push('--test-scheduled');
  // A changed copy of wrangler.toml (say, a binding removed), beside it so its paths still resolve.
  const configCopy = join(root, `wrangler.e2e-${gatewayPort}.toml`);
  const withConfig = (change) => {
    if (!change) return args;
    writeFileSync(configCopy, change(readFileSync(join(root, 'wrangler.toml'), 'utf8')));
    return [...args, '--config', configCopy];
  };
  const spawnedAt = performance.now();
  let gateway = startProcess(wranglerBin, withConfig(wranglerConfig), { env: wranglerEnv(), name: 'gateway' });

  const stop = async () => {
    await Promise.all([stopProcess(gateway), stopProcess(origin)]);
    rmSync(state, { recursive: true, force: true });
    rmSync(configCopy, { force: true });
  };
  /**
   * Stops the runtime and starts it again on the same state directory, with wrangler.toml as it
   * is or as `wranglerConfig(text)` changes it (a binding taken away, or given back).
   */
  const restart = async ({ wranglerConfig: change } = {}) => {
    await stopProcess(gateway);
    gateway = startProcess(wranglerBin, withConfig(change), { env: wranglerEnv(), name: 'gateway' });
    handle.gateway = gateway;
    await waitFor(`${baseUrl}/.well-known/jwks.json`, { timeoutMs: 90000, process: gateway });
  };
  try {
    await waitFor(`${originUrl}/__requests`, { timeoutMs: 10000, process: origin });
    const first = await waitFor(`${baseUrl}/.well-known/jwks.json`, { timeoutMs: 90000, process: gateway });
    gateway.readyMs = performance.now() - spawnedAt;
    gateway.firstRequestMs = first.elapsedMs;
  } catch (e) {
    const output = gateway.output;
    await stop();
    throw new Error(`${e.message}\n--- wrangler output ---\n${output}`);
  }

  const handle = {
    /** Milliseconds from spawning `wrangler dev` to the first answered request. */
    readyMs: gateway.readyMs,
    /** Milliseconds the first answered request took (the Worker's first, in a new runtime). */
    firstRequestMs: gateway.firstRequestMs,
    port: gatewayPort,
    baseUrl,
    originUrl,
    secrets,
    state,
    gateway,
    origin,
    stop,
    restart,
    /** Output wrangler dev has printed so far (worker logs included). */
    logs: () => gateway.output,
    /** Waits (up to 5 s) for a line matching `pattern` in that output: the runtime's log reaches
     * it a moment after the response it was written for. */
    async waitForLog(pattern) {
      for (let i = 0; i < 50 && !pattern.test(gateway.output); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(gateway.output, pattern);
    },
    /**
     * Signs an access token with the gateway's key (its RSA key with `alg: 'RS256'`); overrides
     * shape bad tokens for refusal tests.
     */
    token: ({ alg, ...overrides } = {}) =>
      mintAccessToken({
        seed: secrets.SIGNING_KEY,
        rsaJwk: alg === 'RS256' ? secrets.RSA_SIGNING_KEY : undefined,
        issuer: baseUrl,
        audience: baseUrl,
        sub: 'usr_demo',
        scope: 'todos:read todos:write',
        ...overrides,
      }),
    /** What reached the origin since the last clear. */
    originRequests: async () => (await fetch(`${originUrl}/__requests`)).json(),
    clearOriginRequests: async () => (await fetch(`${originUrl}/__requests`, { method: 'DELETE' })).json(),
  };
  return handle;
}
