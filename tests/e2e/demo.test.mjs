// What `npm start` serves: the todo plugin on 127.0.0.1 and the demo MCP server on localhost,
// one gateway and two plugins picked by host (scripts/demo-plugins.mjs, demo/mcp-seed.json), so a
// newcomer can point an MCP client at the MCP server with nothing to configure. The official MCP
// SDK connects to it through discovery, registration, PKCE with the resource, and a tool call.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { startGateway } from './harness.mjs';
import { MemoryProvider, approve } from './mcp-gateway.mjs';
import { freePort, node22, root, startProcess, stopProcess, waitFor } from '../../scripts/lib.mjs';
import { DEMO_IDP, DEMO_STRIPE, demoIdentityProviders, demoIdpRedirectUris, demoPlugins } from '../../scripts/demo-plugins.mjs';
import { startStripeStandIn } from '../../demo/stripe-stand-in.mjs';
import { FormBrowser, formFields, signIn } from './browser.mjs';
import { providerCallback } from './providers.mjs';
import { applySeed } from '../../scripts/commands/seed.mjs';

let gw;
let mcp;
let idp;
let idpUrl;
let stripe;
let mcpUrl;
before(async () => {
  const idpPort = await freePort();
  idpUrl = `http://127.0.0.1:${idpPort}`;
  const stripePort = await freePort();
  const mcpOriginUrl = `http://127.0.0.1:${await freePort()}`;
  mcp = startProcess(process.execPath, [join(root, 'demo', 'mcp-origin.mjs')], {
    env: { ...process.env, PORT: new URL(mcpOriginUrl).port },
    name: 'mcp-origin',
  });
  await waitFor(`${mcpOriginUrl}/__requests`, { timeoutMs: 10000, process: mcp });
  gw = await startGateway({
    vars: {
      IDENTITY_PROVIDERS: JSON.stringify(demoIdentityProviders({ issuer: idpUrl })),
      STRIPE_API_BASE: `http://127.0.0.1:${stripePort}`,
    },
    plugins: ({ port, baseUrl }) => demoPlugins({ baseUrl, mcpBaseUrl: `http://localhost:${port}`, mcpOriginUrl }),
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
});
after(async () => {
  await gw?.stop();
  if (mcp) await stopProcess(mcp);
  if (idp) await stopProcess(idp);
  await stripe?.stop();
});

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
