// What `npm start` serves: the todo plugin on 127.0.0.1 and the demo MCP server on localhost,
// one gateway and two plugins picked by host (scripts/demo-plugins.mjs, demo/mcp-seed.json), so a
// newcomer can point an MCP client at the MCP server with nothing to configure. The official MCP
// SDK connects to it through discovery, registration, PKCE with the resource, and a tool call.
// The demo's further features run as a newcomer runs them, through their example scripts against
// this gateway: token exchange and enterprise assertions (ID-JAG) on the MCP plugin, a DPoP-bound
// client and a signed agent on the todo plugin (demoFeatures: the enterprise provider and the
// agent's key directory as `npm start` starts them); the two that need a browser sign-in are
// driven by a form browser at the URL they print.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { startGateway } from './harness.mjs';
import { MemoryProvider, approve } from './mcp-gateway.mjs';
import { freePort, node22, root, startProcess, stopProcess, waitFor } from '../../scripts/lib.mjs';
import { DEMO_FEATURES, DEMO_IDP, DEMO_STRIPE, demoFeatures, demoIdentityProviders, demoIdpRedirectUris, demoPlugins } from '../../scripts/demo-plugins.mjs';
import { startStripeStandIn } from '../../demo/stripe-stand-in.mjs';
import { FormBrowser, decide, formFields, signIn } from './browser.mjs';
import { providerCallback } from './providers.mjs';
import { applySeed } from '../../scripts/commands/seed.mjs';

let gw;
let mcp;
let idp;
let idpUrl;
let stripe;
let mcpUrl;
let features;
let featureState;
let devVarsFile;
const featureProcesses = [];
before(async () => {
  const idpPort = await freePort();
  const ports = { enterprisePort: await freePort(), agentPort: await freePort() };
  featureState = mkdtempSync(join(tmpdir(), 'portcullis-demo-features-'));
  const featuresAt = ({ port, baseUrl, secrets = {} }) =>
    demoFeatures({ baseUrl, mcpBaseUrl: `http://localhost:${port}`, ...ports, secrets, stateDir: featureState });
  idpUrl = `http://127.0.0.1:${idpPort}`;
  const stripePort = await freePort();
  const mcpOriginUrl = `http://127.0.0.1:${await freePort()}`;
  mcp = startProcess(process.execPath, [join(root, 'demo', 'mcp-origin.mjs')], {
    env: { ...process.env, PORT: new URL(mcpOriginUrl).port },
    name: 'mcp-origin',
  });
  await waitFor(`${mcpOriginUrl}/__requests`, { timeoutMs: 10000, process: mcp });
  gw = await startGateway({
    // As `npm start` runs it: the demo's sign-up mails through the send_email binding.
    mail: true,
    vars: {
      IDENTITY_PROVIDERS: JSON.stringify(demoIdentityProviders({ issuer: idpUrl })),
      STRIPE_API_BASE: `http://127.0.0.1:${stripePort}`,
      ...featuresAt({ port: 0, baseUrl: '' }).vars,
    },
    plugins: ({ port, baseUrl }) => demoPlugins({ baseUrl, mcpBaseUrl: `http://localhost:${port}`, mcpOriginUrl, ...featuresAt({ port, baseUrl }).plugins }),
    beforeStart: ({ state, baseUrl, secrets }) =>
      applySeed({
        file: join(root, 'demo', 'mcp-seed.json'),
        baseUrl,
        secrets,
        persistTo: state,
        placeholders: { MCP_RESOURCE: `http://localhost:${new URL(baseUrl).port}/mcp` },
      }),
  });
  mcpUrl = new URL(`http://localhost:${gw.port}/mcp`);
  // The demo's OpenID provider, as `npm start` runs it (the harness made DEMO_IDP_CLIENT_SECRET).
  idp = startProcess(node22() ?? process.execPath, [join(root, 'demo', 'oidc-provider.mjs')], {
    env: {
      ...process.env,
      PORT: String(idpPort),
      CLIENT_ID: DEMO_IDP.clientId,
      CLIENT_SECRET: gw.secrets.DEMO_IDP_CLIENT_SECRET,
      REDIRECT_URIS: demoIdpRedirectUris([gw.baseUrl, `http://localhost:${gw.port}`]).join(' '),
    },
    name: 'demo-idp',
  });
  await waitFor(`${idpUrl}/.well-known/openid-configuration`, { timeoutMs: 20000, process: idp });
  // The demo's Stripe stand-in, as `npm start` runs it (the harness made its keys).
  stripe = await startStripeStandIn({
    port: stripePort,
    webhookUrl: `${gw.baseUrl}/billing/stripe/webhook`,
    webhookSecret: gw.secrets.STRIPE_WEBHOOK_SECRET,
    apiKey: gw.secrets.STRIPE_SECRET_KEY,
    prices: [DEMO_STRIPE.price],
  });
  // The enterprise provider and the agent's key directory, as `npm start` starts them; the
  // scripts read the secrets from a .dev.vars of this gateway's.
  features = featuresAt({ port: gw.port, baseUrl: gw.baseUrl, secrets: gw.secrets });
  for (const p of features.processes) {
    const child = startProcess(process.execPath, [p.script], { env: { ...process.env, ...p.env }, name: p.name });
    featureProcesses.push(child);
    await waitFor(p.ready, { timeoutMs: 10000, process: child });
  }
  devVarsFile = join(featureState, '.dev.vars');
  writeFileSync(devVarsFile, Object.entries(gw.secrets).map(([k, v]) => `${k}='${v}'`).join('\n'), { mode: 0o600 });
});
after(async () => {
  await gw?.stop();
  if (mcp) await stopProcess(mcp);
  if (idp) await stopProcess(idp);
  await stripe?.stop();
  for (const child of featureProcesses) await stopProcess(child);
  if (featureState) rmSync(featureState, { recursive: true, force: true });
});

/**
 * Runs `node scripts/<name>.mjs args` to its end and returns `{ code, out, err }`. A script that
 * prints an authorization URL gets the demo user's sign-in and consent from a form browser, and
 * the redirect followed to its loopback listener, as a person with a browser would.
 */
function runScript(name, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'scripts', `${name}.mjs`), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let approving = null;
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${name} did not finish within 60 s:\n${out}\n${err}`));
    }, 60000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const url = /^\s+(http\S+\/authorize\?\S+)$/m.exec(out)?.[1];
      if (url && !approving) approving = approveAt(url).catch((e) => { child.kill(); reject(e); });
    });
    child.stderr.on('data', (chunk) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('exit', async (code) => {
      clearTimeout(timer);
      await approving;
      resolve({ code, out, err });
    });
  });
}

/** The demo user signs in at `url`'s portal, allows, and the browser follows the redirect home. */
async function approveAt(url) {
  const browser = new FormBrowser(new URL(url).origin);
  const login = await browser.get(url);
  assert.equal(login.status, 200, login.text_);
  const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  assert.equal(signedIn.status, 303, signedIn.text_);
  const consent = await browser.get(signedIn.headers.get('location'));
  const back = await decide(browser, consent);
  const callback = back.headers.get('location');
  assert.match(callback, /^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
  await (await fetch(callback)).text();
}

const ok = (run) => assert.equal(run.code, 0, `exit ${run.code}\n${run.out}\n${run.err}`);

test('the todo plugin answers on 127.0.0.1 and the MCP server on localhost, each with its own resource', async () => {
  const manifest = await (await fetch(`${gw.baseUrl}/.well-known/ai-plugin.json`)).json();
  assert.equal(manifest.name_for_model, 'todo_demo');
  const res = await fetch(mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 401);
  const prmUrl = res.headers.get('www-authenticate').match(/resource_metadata="([^"]+)"/)[1];
  assert.equal(prmUrl, `http://localhost:${gw.port}/.well-known/oauth-protected-resource/mcp`);
  const prm = await (await fetch(prmUrl)).json();
  assert.equal(prm.resource, mcpUrl.href);
  assert.deepEqual(prm.authorization_servers, [`http://localhost:${gw.port}`]);
});

test('the MCP SDK connects to the demo MCP server and calls a tool as the demo user', async () => {
  const provider = new MemoryProvider('http://127.0.0.1:33418/callback');
  const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await assert.rejects(new Client({ name: 'demo-e2e', version: '1.0.0' }).connect(first), UnauthorizedError);
  await first.finishAuth(await approve(gw, provider.authorizationUrl));
  const client = new Client({ name: 'demo-e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
  try {
    const who = JSON.parse((await client.callTool({ name: 'whoami', arguments: {} })).content[0].text);
    assert.equal(who.user, 'usr_demo');
    assert.equal(who.scopes, 'todos:read');
  } finally {
    await client.close();
  }
});

test('the demo OpenID provider signs a newcomer in: a new account with the member role, no password anywhere', async () => {
  const b = new FormBrowser(gw.baseUrl);
  const login = await b.get('/login');
  assert.match(login.text_, /Continue with Demo ID/);
  const started = await b.post(`/login/provider/${DEMO_IDP.id}`, formFields(login.text_, `/login/provider/${DEMO_IDP.id}`));
  assert.equal(started.status, 303, started.text_);
  const callback = await providerCallback({ issuer: idpUrl, authorizationUrl: new URL(started.headers.get('location')), login: DEMO_IDP.account, gatewayPort: gw.port });
  const signedIn = await b.get(callback.toString());
  assert.equal(signedIn.status, 200, signedIn.text_);
  assert.match(signedIn.text_, /You are signed in/);
  const account = await b.get('/account');
  assert.match(account.text_, /Signed in as federated@example\.com/);
  assert.match(account.text_, /Demo ID/);
  const users = await (await fetch(`${gw.baseUrl}/admin/api/users`, { headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}` } })).json();
  const federated = users.items.find((u) => u.email === 'federated@example.com');
  assert.deepEqual(federated.roles.map((r) => r.name).sort(), ['member', 'viewer']);
});

test('the demo user upgrades to Pro at the Stripe stand-in and may then export', async () => {
  const token = await gw.token({ scope: 'todos:read' });
  const exportTodos = () => fetch(`${gw.baseUrl}/todos/export`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await exportTodos()).status, 402);
  const b = new FormBrowser(gw.baseUrl);
  const login = await b.get('/billing/upgrade?plan=pro');
  await signIn(b, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  const plans = await b.get('/billing/upgrade?plan=pro');
  const checkout = await b.post('/billing/checkout', formFields(plans.text_, '/billing/checkout'));
  assert.equal(checkout.status, 303, checkout.text_);
  const pay = new URL(checkout.headers.get('location'));
  const paid = await fetch(new URL(`${pay.pathname}/pay`, pay), { method: 'POST', redirect: 'manual' });
  assert.equal(paid.status, 303);
  const exported = await exportTodos();
  assert.equal(exported.status, 200);
  assert.ok('todos' in (await exported.json()));
});

test('the todo plugin advertises token exchange, the MCP plugin the JWT-bearer grant and the ID-JAG profile', async () => {
  const todo = await (await fetch(`${gw.baseUrl}/.well-known/oauth-authorization-server`)).json();
  assert.ok(todo.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:token-exchange'), JSON.stringify(todo.grant_types_supported));
  const as = await (await fetch(`http://localhost:${gw.port}/.well-known/oauth-authorization-server`)).json();
  assert.ok(as.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:jwt-bearer'));
  assert.deepEqual(as.authorization_grant_profiles_supported, ['urn:ietf:params:oauth:grant-profile:id-jag']);
  assert.ok(features.lines.some((l) => l.includes('exchange-demo.mjs')) && features.lines.some((l) => l.includes('agent-demo.mjs')));
});

test('exchange-demo: the MCP server\'s client trades the user\'s MCP token for one to the todo API', async () => {
  const run = await runScript('exchange-demo', ['--mcp-url', mcpUrl.href, '--todo-url', gw.baseUrl, '--dev-vars', devVarsFile]);
  ok(run);
  assert.match(run.out, /lists the token-exchange grant: yes/);
  assert.match(run.out, /the gateway told the MCP server: user usr_demo, client portcullis-cli/);
  assert.match(run.out, /→ 200: issued_token_type urn:ietf:params:oauth:token-type:access_token, token_type bearer, scope "todos:read", .*refresh token: none/);
  assert.match(run.out, new RegExp(`aud ${gw.baseUrl.replaceAll('.', '\\.')}, sub usr_demo \\(the same user\\), client_id ${DEMO_FEATURES.mcpServerClient}`));
  assert.match(run.out, /act \{"sub":"demo-mcp-server"\}/);
  assert.match(run.out, /no later than the token traded: yes/);
  // Issued by the todo plugin, whose policy takes the MCP plugin's tokens: it opens the todo API.
  assert.match(run.out, new RegExp(`iss ${gw.baseUrl.replaceAll('.', '\\.')}, aud`));
  assert.match(run.out, /GET http:\/\/127\.0\.0\.1:\d+\/todos → 200/);
  assert.match(run.out, /POST http:\/\/127\.0\.0\.1:\d+\/todos → 403/);
  // Introspected where it was issued: active, though its grant is the MCP plugin's, with its actor.
  assert.match(run.out, new RegExp(`introspect → active true, aud ${gw.baseUrl.replaceAll('.', '\\.')}, scope "todos:read", act \\{"sub":"demo-mcp-server"\\}`));
  assert.match(run.out, /active true/);
  assert.match(run.out, /scope=todos:write\) → 400: invalid_scope/);
  assert.doesNotMatch(run.out + run.err, new RegExp(gw.secrets.DEMO_MCP_CLIENT_SECRET), 'no secret printed');
});

test('id-jag-demo: the enterprise\'s assertion gives its agent app an MCP token for a new employee, with no browser', async () => {
  const run = await runScript('id-jag-demo', ['--idp', `http://127.0.0.1:${new URL(features.plugins.enterpriseIssuer).port}`, '--mcp-url', mcpUrl.href, '--dev-vars', devVarsFile]);
  ok(run);
  assert.match(run.out, /the JWT-bearer grant: yes; the ID-JAG profile: yes/);
  assert.match(run.out, /the ID-JAG: typ oauth-id-jag\+jwt, alg ES256/);
  assert.match(run.out, /→ 200: token_type bearer, scope "todos:read", .*refresh token: none/);
  const users = await (await fetch(`${gw.baseUrl}/admin/api/users?q=ann%40acme.example.com`, { headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}` } })).json();
  const ann = users.items.find((u) => u.email === DEMO_FEATURES.enterprise.employee);
  assert.ok(ann, JSON.stringify(users));
  assert.deepEqual(ann.roles.map((r) => r.name), ['member']);
  assert.match(run.out, new RegExp(`the gateway told the MCP server: user ${ann.id}, client ${DEMO_FEATURES.agentAppClient}, scopes "todos:read"`));
  assert.match(run.out, /\(the same assertion\) → 400: invalid_grant/);
});

test('dpop-demo: a DPoP-bound client\'s token works only with a fresh proof of its key', async () => {
  const run = await runScript('dpop-demo', ['--base-url', gw.baseUrl]);
  ok(run);
  assert.match(run.out, /dpop_bound_access_tokens true/);
  assert.match(run.out, /token_type dpop, cnf\.jkt \S+ \(this key\)/);
  assert.match(run.out, /GET \S+\/todos → 200\n/);
  assert.match(run.out, /\(Authorization: Bearer\) → 401: invalid_token/);
  assert.match(run.out, /\(a proof made by hand\) → 200/);
  assert.match(run.out, /\(the same proof again\) → 401: invalid_dpop_proof/);
  assert.match(run.out, /no DPoP header → 400: invalid_dpop_proof/);
  // The demo's DPoP-only route: a DPoP challenge without a token, the origin with one and a proof.
  assert.match(run.out, /\/todos\/no-such-todo \(no token\) → 401, WWW-Authenticate: DPoP …/);
  assert.match(run.out, /\(the bound token and a proof\) → 404: past the gateway/);
  assert.match(run.out, /bound to the same key/);
});

test('agent-demo: only the trusted demo agent\'s signed calls reach the agent route, once each', async () => {
  await gw.clearOriginRequests();
  const run = await runScript('agent-demo', ['--base-url', gw.baseUrl, '--agent', features.plugins.agentOrigin, '--key-file', features.agentKeyFile]);
  ok(run);
  assert.match(run.out, /GET \S+\/public\/agent → 403: access_denied/);
  assert.match(run.out, /\(signed\) → 200/);
  assert.match(run.out, new RegExp(`"agent":"${features.plugins.agentOrigin.replaceAll('.', '\\.')}"`));
  assert.match(run.out, /\(the same signature\) → 403: access_denied/);
  const seen = (await gw.originRequests()).filter((r) => r.path === DEMO_FEATURES.agentRoute);
  assert.equal(seen.length, 1, 'only the signed call reached the origin');
  assert.equal(seen[0].headers['x-portcullis-agent'], features.plugins.agentOrigin);
});
