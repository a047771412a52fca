// The admin API and console end to end: the console in Chromium, on the real worker with local
// D1. The issue's test: through the console alone, create a resource with read/write, a role
// holding read, a user with that role; that user's token then carries scope "read" and
// aud = the indicator even when "read write" was requested.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { startGateway } from './harness.mjs';
import { closeBrowser, launchBrowser } from './chromium.mjs';
import { FormBrowser, decide, signIn } from './browser.mjs';

const CALLBACK = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
const INDICATOR = 'https://notes.example.com/api';
let gw;
let browser;

before(async () => {
  [gw, browser] = await Promise.all([startGateway(), launchBrowser()]);
});
after(async () => {
  await closeBrowser(browser);
  await gw?.stop();
});

const admin = (path, init = {}) =>
  fetch(`${gw.baseUrl}/admin/api/${path}`, {
    ...init,
    headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });

describe('the admin API', () => {
  test('refuses without the admin token', async () => {
    assert.equal((await fetch(`${gw.baseUrl}/admin/api/users`)).status, 401);
    const wrong = await fetch(`${gw.baseUrl}/admin/api/users`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('www-authenticate'), /^Bearer realm="admin"/);
  });

  test('lists the seeded demo user over D1', async () => {
    const res = await admin('users');
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.ok(body.items.some((u) => u.email === 'demo@example.com'));
  });

  test('field errors and conflicts name the field, and nothing is written', async () => {
    const bad = await admin('users', { method: 'POST', body: JSON.stringify({ email: 'nope', password: 'short' }) });
    assert.equal(bad.status, 400);
    const body = await bad.json();
    assert.ok(body.fields.email && body.fields.password);
    const dup = await admin('users', { method: 'POST', body: JSON.stringify({ email: 'demo@example.com' }) });
    assert.equal(dup.status, 409);
    assert.ok((await dup.json()).fields.email);
    const list = await (await admin('users')).json();
    assert.equal(list.items.filter((u) => u.email === 'nope').length, 0);
  });

  test('users are searched by email prefix in any case and paged by an opaque cursor', async () => {
    const found = await (await admin('users?q=DEMO')).json();
    assert.deepEqual(found.items.map((u) => u.email), ['demo@example.com']);
    assert.equal(found.items[0].sign_in.password, true);
    assert.deepEqual(found.items[0].sign_in.providers, []);
    const byId = await (await admin('users?q=usr_demo')).json();
    assert.deepEqual(byId.items.map((u) => u.id), ['usr_demo']);
    const bad = await admin('users?cursor=%2A%2A');
    assert.equal(bad.status, 400);
    assert.ok((await bad.json()).fields.cursor);
  });

  test("a user's quota is visible", async () => {
    const res = await admin('users/usr_demo/quota');
    assert.equal(res.status, 200);
    const { quota } = await res.json();
    assert.equal(quota.limit, 1000);
    assert.equal(quota.period_secs, 3600);
    assert.equal(quota.used + quota.remaining, 1000);
  });

  test('a client secret is shown once and authenticates at the token endpoint', async () => {
    const res = await admin('clients', {
      method: 'POST',
      body: JSON.stringify({ name: 'Console GPT', kind: 'confidential', redirect_uris: ['https://chatgpt.com/aip/g-x/oauth/callback'] }),
    });
    assert.equal(res.status, 201);
    const client = await res.json();
    assert.match(client.client_secret, /^pcs_/);
    const token = await fetch(`${gw.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`${client.id}:${client.client_secret}`)}` },
      body: 'grant_type=refresh_token&refresh_token=x',
    });
    assert.equal((await token.json()).error, 'invalid_grant', 'authenticated, then refused for the bad refresh token');
  });
});

describe('the route table beside the OpenAPI document', () => {
  test('the demo takes its rules from the document, and the two agree', async () => {
    const res = await admin('routes');
    assert.equal(res.status, 200);
    const routes = await res.json();
    assert.equal(routes.from_openapi, true);
    assert.equal(routes.problem, null);
    assert.equal(routes.disagreements, 0, JSON.stringify(routes.operations));
    const seen = Object.fromEntries(routes.operations.map((o) => [`${o.method} ${o.path}`, o.gateway]));
    assert.deepEqual(seen, {
      'GET /todos': 'token todos:read',
      'POST /todos': 'token todos:write',
      'GET /todos/{id}': 'token todos:read',
      'DELETE /todos/{id}': 'token todos:write',
      'PATCH /todos/{id}': 'token todos:write',
    });
    // The explicit rules (the writes' body caps, the public paths) come first, then the document's.
    assert.deepEqual(routes.rules.map((r) => r.source), ['configuration', 'configuration', 'configuration', 'openapi', 'openapi', 'openapi', 'openapi', 'openapi']);
    // What the rules say is what the proxy does: a read needs todos:read.
    const read = await fetch(`${gw.baseUrl}/todos/abc`, { headers: { authorization: `Bearer ${await gw.token({ scope: 'todos:write' })}` } });
    assert.equal(read.status, 403);
    assert.match(read.headers.get('www-authenticate'), /scope="todos:read"/);
  });
});

describe('the admin console in Chromium', () => {
  test('create a resource, a role and a user; the user gets exactly the held scope', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(`${gw.baseUrl}/admin/`);
    assert.equal(response.headers()['x-frame-options'], 'DENY');
    assert.match(response.headers()['content-security-policy'], /script-src 'self'/);

    await page.fill('#token', 'wrong-token');
    await page.click('#signin-form button');
    await page.waitForSelector('#signin-error:not(:empty)');
    await page.fill('#token', gw.secrets.ADMIN_TOKEN);
    await page.click('#signin-form button');
    await page.waitForSelector('#console:not([hidden])');
    // The Routes section shows the document's operations and the table.
    await page.locator('#operations-body tr', { hasText: 'GET /todos/{id}' }).waitFor();
    assert.match(await page.textContent('#routes-summary'), /5 operations in the document, 0 where the gateway does otherwise/);

    await page.fill('#resource-form [name=name]', 'Notes API');
    await page.fill('#resource-form [name=indicator]', INDICATOR);
    await page.selectOption('#resource-form [name=access_token_alg]', 'RS256');
    await page.click('#resource-form button');
    const row = page.locator('#resources tbody tr', { hasText: 'Notes API' });
    await row.waitFor();
    assert.equal(await row.locator('select[name=access_token_alg]').inputValue(), 'RS256');
    for (const permission of ['read', 'write']) {
      await row.locator('input[name=name]').fill(permission);
      await row.locator('button').click();
      await page.locator('#resources tbody tr', { hasText: 'Notes API' }).filter({ hasText: permission }).first().waitFor();
    }

    await page.fill('#role-form [name=name]', 'notes-reader');
    await page.check('#role-form label:has-text("read (Notes API)") input');
    await page.click('#role-form button');
    await page.locator('#roles tbody tr', { hasText: 'notes-reader' }).waitFor();

    await page.fill('#user-form [name=email]', 'ann@example.com');
    await page.fill('#user-form [name=name]', 'Ann');
    await page.fill('#user-form [name=password]', 'ann-has-a-long-password');
    await page.check('#user-form label:has-text("notes-reader") input');
    await page.click('#user-form button');
    await page.locator('#users tbody tr', { hasText: 'ann@example.com' }).waitFor();

    // A client that signs private_key_jwt assertions: keys at a URL, no secret shown.
    await page.fill('#client-form [name=name]', 'Key agent');
    await page.selectOption('#client-form [name=kind]', 'confidential');
    await page.fill('#client-form [name=redirect_uris]', 'https://agent.example/cb');
    await page.fill('#client-form [name=jwks_uri]', 'https://agent.example/jwks.json');
    await page.click('#client-form button');
    const agent = page.locator('#clients tbody tr', { hasText: 'Key agent' });
    await agent.waitFor();
    assert.match(await agent.textContent(), /private_key_jwt/);
    assert.equal(await agent.locator('button', { hasText: 'Rotate secret' }).count(), 0, 'no secret to rotate');

    // A machine client: no redirect URI, the notes-reader role; its token carries what the role holds.
    await page.fill('#client-form [name=name]', 'Notes export');
    await page.fill('#client-form [name=redirect_uris]', '');
    await page.fill('#client-form [name=jwks_uri]', '');
    await page.check('#client-form label:has-text("notes-reader") input');
    await page.click('#client-form button');
    await page.waitForFunction(() => /Its secret \(shown once\)/.test(document.querySelector('#notice').textContent));
    const [, machineId, machineSecret] = (await page.textContent('#notice')).match(/Client (\S+) created\. Its secret \(shown once\): (\S+)/);
    const machineRow = page.locator('#clients tbody tr', { hasText: 'Notes export' });
    await machineRow.waitFor();
    assert.equal(await machineRow.locator('input[type=checkbox]:checked').count(), 1, 'the role it was given');
    const machineToken = await fetch(`${gw.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`${machineId}:${machineSecret}`)}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: INDICATOR }),
    }).then((r) => r.json());
    assert.equal(machineToken.scope, 'read', JSON.stringify(machineToken));

    // A client whose keys are pasted, not published: the JWKS itself; a paste that is not JSON is a field error.
    const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    await page.fill('#client-form [name=name]', 'Pasted keys');
    await page.fill('#client-form [name=redirect_uris]', 'https://pasted.example/cb');
    await page.fill('#client-form [name=jwks]', '{"keys": [');
    await page.click('#client-form button');
    await page.waitForSelector('#client-form .error:not(:empty)');
    assert.match(await page.textContent('#client-form .error'), /jwks is not JSON/);
    await page.fill('#client-form [name=jwks]', JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'pasted-1' }] }));
    await page.click('#client-form button');
    const pasted = page.locator('#clients tbody tr', { hasText: 'Pasted keys' });
    await pasted.waitFor();
    assert.match(await pasted.textContent(), /private_key_jwt/);
    const listed = await (await admin('clients?limit=200')).json();
    assert.equal(listed.items.find((c) => c.name === 'Pasted keys').jwks.keys[0].kid, 'pasted-1');

    // A field error is shown next to its form.
    await page.fill('#user-form [name=email]', 'ann@example.com');
    await page.click('#user-form button');
    await page.waitForSelector('#user-form .error:not(:empty)');
    assert.match(await page.textContent('#user-form .error'), /email/);
    await context.close();

    // Ann signs in through the portal; ChatGPT's client asks for read and write on the resource.
    const issuer = new URL(gw.baseUrl);
    const insecure = { [oauth.allowInsecureRequests]: true };
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    const client = { client_id: 'chatgpt' };
    const form = new FormBrowser(gw.baseUrl);
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint);
    url.search = new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: CALLBACK, scope: 'read write', state, resource: INDICATOR });
    const login = await form.get(url);
    const signedIn = await signIn(form, login, 'ann@example.com', 'ann-has-a-long-password');
    assert.equal(signedIn.status, 303, signedIn.text_);
    const consent = await form.get(signedIn.headers.get('location'));
    assert.match(consent.text_, /<code>read<\/code>/);
    assert.doesNotMatch(consent.text_, /<code>write<\/code>/);
    const back = await decide(form, consent);
    const params = oauth.validateAuthResponse(as, client, new URL(back.headers.get('location')), state);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(gw.secrets.DEMO_CLIENT_SECRET), params, CALLBACK, oauth.nopkce, insecure));
    assert.equal(tokens.scope, 'read');
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(as.jwks_uri)), { issuer: gw.baseUrl, audience: INDICATOR });
    assert.equal(protectedHeader.alg, 'RS256', 'the algorithm chosen in the console');
    assert.equal(payload.scope, 'read');
    assert.equal(payload.aud, INDICATOR);
  });

  test('the users table searches the server, pages by its cursor, and the key form finds a user by email', async () => {
    for (let i = 0; i < 23; i++) {
      const res = await admin('users', { method: 'POST', body: JSON.stringify({ email: `pager-${String(i).padStart(2, '0')}@example.com` }) });
      assert.equal(res.status, 201);
    }
    const context = await browser.newContext();
    const page = await context.newPage();
    const asked = [];
    page.on('request', (r) => { if (r.url().includes('/admin/api/users')) asked.push(new URL(r.url()).search); });
    await page.goto(`${gw.baseUrl}/admin/`);
    await page.fill('#token', gw.secrets.ADMIN_TOKEN);
    await page.click('#signin-form button');
    await page.waitForSelector('#console:not([hidden])');
    // No call asks for more than a page of users.
    assert.ok(asked.length > 0 && asked.every((q) => /limit=20\b/.test(q)), asked.join(' '));

    await page.fill('#users input.search', 'PAGER-');
    const pager = page.locator('.pager[data-list="users"]');
    // The search's answer: every row one it matches (the unsearched page has others).
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#users tbody tr')];
      return rows.length === 20 && rows.every((r) => r.dataset.email.startsWith('pager-'));
    });
    await pager.filter({ hasText: '1–20 of more than 20' }).waitFor();
    assert.equal(await page.locator('#users tbody tr').count(), 20);
    assert.equal(await page.locator('#users tbody tr').first().getAttribute('data-email'), 'pager-00@example.com');
    await pager.locator('button', { hasText: 'Next' }).click();
    await pager.filter({ hasText: '21–23 of 23' }).waitFor();
    assert.deepEqual(await page.locator('#users tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.email)),
      ['pager-20@example.com', 'pager-21@example.com', 'pager-22@example.com']);
    assert.ok(await pager.locator('button', { hasText: 'Next' }).isDisabled());
    await pager.locator('button', { hasText: 'Previous' }).click();
    await pager.filter({ hasText: '1–20 of more than 20' }).waitFor();

    // The demo user: found by the start of their email, with how they sign in.
    await page.fill('#users input.search', 'demo@');
    const demo = page.locator('#users tbody tr[data-email="demo@example.com"]');
    await demo.waitFor();
    assert.equal(await page.locator('#users tbody tr').count(), 1);
    assert.equal(await demo.locator('.sign-in-methods').textContent(), 'password');
    await page.fill('#users input.search', 'nobody-here');
    await pager.filter({ hasText: 'No user matches' }).waitFor();

    // An API key for a user named by email; its row shows the email the server sent with it.
    await page.fill('#key-form [name=user_email]', 'nobody@example.com');
    await page.click('#key-form button');
    await page.waitForSelector('#key-form .error:not(:empty)');
    assert.match(await page.textContent('#key-form .error'), /no user has this email/);
    await page.fill('#key-form [name=user_email]', 'Pager-07@Example.com');
    await page.fill('#key-form [name=name]', 'console key');
    await page.click('#key-form button');
    await page.waitForFunction(() => /API key created \(shown once\)/.test(document.querySelector('#notice').textContent));
    await page.locator('#api-keys tbody tr', { hasText: 'console key' }).filter({ hasText: 'pager-07@example.com' }).waitFor();
    await context.close();
  });
});
