// The OAuth 2.1 authorization server end to end in workerd, driven by a standard third-party
// client library (oauth4webapi) for every protocol step; access tokens are checked against our
// JWKS with another (jose). The browser part walks the portal's HTML forms.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { startGateway } from './harness.mjs';
import { FormBrowser, decide, signIn } from './browser.mjs';

const CALLBACK = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
const insecure = { [oauth.allowInsecureRequests]: true };

let gw;
let as;
let client;
let clientAuth;

before(async () => {
  gw = await startGateway();
  const issuer = new URL(gw.baseUrl);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  // No id_token_signed_response_alg: the OpenID Connect default, RS256, is what the gateway signs.
  client = { client_id: 'chatgpt' };
  clientAuth = oauth.ClientSecretBasic(gw.secrets.DEMO_CLIENT_SECRET);
});
after(async () => {
  await gw?.stop();
});

/** Runs authorize → login → consent and returns the callback URL and the PKCE verifier. */
async function authorize({ scope = 'todos:read todos:write', extra = {}, browser = new FormBrowser(gw.baseUrl), pkce = true } = {}) {
  const state = oauth.generateRandomState();
  const verifier = oauth.generateRandomCodeVerifier();
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('redirect_uri', CALLBACK);
  url.searchParams.set('scope', scope);
  url.searchParams.set('state', state);
  if (pkce) {
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
    url.searchParams.set('code_challenge_method', 'S256');
  }
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  let page = await browser.get(url);
  if (page.status === 200 && page.text_.includes('action="/login"')) {
    const signedIn = await signIn(browser, page, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
    assert.equal(signedIn.status, 303, signedIn.text_);
    page = await browser.get(signedIn.headers.get('location'));
  }
  if (page.status === 200) assert.match(page.text_, /ChatGPT/);
  const back = await decide(browser, page);
  assert.ok([302, 303].includes(back.status), back.text_);
  return { callback: new URL(back.headers.get('location')), state, verifier, browser };
}

async function exchange({ callback, state, verifier }) {
  const params = oauth.validateAuthResponse(as, client, callback, state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, CALLBACK, verifier, insecure);
  return oauth.processAuthorizationCodeResponse(as, client, response);
}

describe('the authorization code flow with a standard client', () => {
  test('discovery advertises S256, iss on responses, and our endpoints', () => {
    assert.equal(as.issuer, gw.baseUrl);
    assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
    assert.equal(as.authorization_response_iss_parameter_supported, true);
    assert.equal(as.token_endpoint, `${gw.baseUrl}/token`);
    assert.deepEqual(as.id_token_signing_alg_values_supported, ['RS256']);
  });

  test('sign in, consent, token, call the API, refresh, revoke', async () => {
    const tokens = await exchange(await authorize());
    assert.equal(tokens.token_type, 'bearer');
    assert.equal(tokens.scope, 'todos:read todos:write');
    assert.equal(tokens.expires_in, 3600);

    const jwks = createRemoteJWKSet(new URL(as.jwks_uri));
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer: gw.baseUrl, audience: gw.baseUrl, typ: 'at+jwt' });
    assert.equal(protectedHeader.alg, 'EdDSA');
    assert.equal(payload.sub, 'usr_demo');
    assert.equal(payload.client_id, 'chatgpt');
    assert.ok(payload.jti && payload.iat && payload.exp);

    await gw.clearOriginRequests();
    const api = await fetch(`${gw.baseUrl}/todos`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(api.status, 200);
    const [seen] = await gw.originRequests();
    assert.equal(seen.headers['x-portcullis-user'], 'usr_demo');
    assert.equal(seen.headers['x-portcullis-client'], 'chatgpt');

    const refreshed = await oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, insecure));
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    assert.notEqual(refreshed.access_token, tokens.access_token);

    const introspected = await oauth.processIntrospectionResponse(as, client,
      await oauth.introspectionRequest(as, client, clientAuth, refreshed.access_token, insecure));
    assert.equal(introspected.active, true);
    assert.equal(introspected.sub, 'usr_demo');

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, clientAuth, refreshed.refresh_token, insecure));
    const afterRevoke = await oauth.processIntrospectionResponse(as, client,
      await oauth.introspectionRequest(as, client, clientAuth, refreshed.access_token, insecure));
    assert.equal(afterRevoke.active, false);
    await assert.rejects(
      oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshed.refresh_token, insecure)),
      (e) => e.error === 'invalid_grant',
    );
  });

  test('client_secret_post works as well as Basic', async () => {
    const flow = await authorize();
    const params = oauth.validateAuthResponse(as, client, flow.callback, flow.state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretPost(gw.secrets.DEMO_CLIENT_SECRET), params, CALLBACK, flow.verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    assert.ok(tokens.access_token);
  });

  test('a confidential client without PKCE (as ChatGPT plugins send) completes the flow', async () => {
    const flow = await authorize({ pkce: false });
    const params = oauth.validateAuthResponse(as, client, flow.callback, flow.state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, CALLBACK, oauth.nopkce, insecure);
    assert.ok((await oauth.processAuthorizationCodeResponse(as, client, response)).access_token);
  });

  test('openid scopes add an ID token with the nonce, and userinfo answers', async () => {
    const nonce = oauth.generateRandomNonce();
    const flow = await authorize({ scope: 'openid email todos:read', extra: { nonce } });
    const params = oauth.validateAuthResponse(as, client, flow.callback, flow.state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, CALLBACK, flow.verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true });
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    assert.equal(claims.sub, 'usr_demo');
    // RS256 (OpenID Connect Core §15.1), verified by another library against the published JWKS.
    const jwks = createRemoteJWKSet(new URL(as.jwks_uri));
    const { payload, protectedHeader } = await jwtVerify(tokens.id_token, jwks, { issuer: gw.baseUrl, audience: 'chatgpt', algorithms: ['RS256'] });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.nonce, nonce);
    const published = await (await fetch(as.jwks_uri)).json();
    const rsa = published.keys.find((k) => k.kid === protectedHeader.kid);
    assert.deepEqual(Object.keys(rsa).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use'], 'public members only');
    const info = await oauth.processUserInfoResponse(as, client, claims.sub, await oauth.userInfoRequest(as, client, tokens.access_token, insecure));
    assert.equal(info.email, 'demo@example.com');
  });

  test('a second authorization in the same browser skips the login form, and the consent given is remembered', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    await authorize({ browser });
    const again = await authorize({ browser });
    assert.ok(again.callback.searchParams.get('code'));
    const url = new URL(as.authorization_endpoint);
    url.search = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: CALLBACK, scope: 'todos:read todos:write', state: 'st' });
    const direct = await browser.get(url);
    assert.equal(direct.status, 302, 'no page: straight back to ChatGPT');
    assert.ok(new URL(direct.headers.get('location')).searchParams.get('code'));
    url.searchParams.set('prompt', 'consent');
    assert.equal((await browser.get(url)).status, 200, 'prompt=consent still asks');
  });
});

describe('refusals', () => {
  test('a replayed code is refused and the tokens it gave are revoked', async () => {
    const flow = await authorize();
    const tokens = await exchange(flow);
    await assert.rejects(exchange(flow), (e) => e.error === 'invalid_grant');
    const r = await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, insecure);
    await assert.rejects(oauth.processRefreshTokenResponse(as, client, r), (e) => e.error === 'invalid_grant');
  });

  test('a wrong PKCE verifier is refused', async () => {
    const flow = await authorize();
    await assert.rejects(exchange({ ...flow, verifier: oauth.generateRandomCodeVerifier() }), (e) => e.error === 'invalid_grant');
  });

  test('refresh token reuse revokes the grant', async () => {
    const tokens = await exchange(await authorize());
    const first = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, insecure));
    await assert.rejects(
      oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, insecure)),
      (e) => e.error === 'invalid_grant',
    );
    await assert.rejects(
      oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, first.refresh_token, insecure)),
      (e) => e.error === 'invalid_grant',
    );
  });

  test('of 20 concurrent refreshes with one token exactly one succeeds', async () => {
    const tokens = await exchange(await authorize());
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(as.token_endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`chatgpt:${gw.secrets.DEMO_CLIENT_SECRET}`)}` },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }),
        }).then((r) => r.status),
      ),
    );
    assert.equal(results.filter((s) => s === 200).length, 1, JSON.stringify(results));
    assert.equal(results.filter((s) => s === 400).length, 19);
  });

  test('scope escalation on refresh is invalid_scope', async () => {
    const tokens = await exchange(await authorize({ scope: 'todos:read' }));
    const r = await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, { ...insecure, additionalParameters: { scope: 'todos:read todos:write' } });
    await assert.rejects(oauth.processRefreshTokenResponse(as, client, r), (e) => e.error === 'invalid_scope');
  });

  test('a wrong client secret is invalid_client with 401', async () => {
    const res = await fetch(as.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa('chatgpt:wrong')}` },
      body: 'grant_type=refresh_token&refresh_token=x',
    });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate'), /^Basic/);
    assert.equal((await res.json()).error, 'invalid_client');
  });

  test('an unregistered redirect URI renders locally and never redirects', async () => {
    const url = new URL(as.authorization_endpoint);
    url.search = new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: 'https://evil.example.com/cb', state: 's' });
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
    assert.match(await res.text(), /not registered/);
  });

  test('an unknown resource is invalid_target on the redirect', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const url = new URL(as.authorization_endpoint);
    url.search = new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: CALLBACK, state: 's', resource: 'https://unknown.example.com/' });
    const login = await browser.get(url);
    const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
    const res = await browser.get(signedIn.headers.get('location'));
    assert.equal(res.status, 302);
    const back = new URL(res.headers.get('location'));
    assert.equal(back.searchParams.get('error'), 'invalid_target');
    assert.equal(back.searchParams.get('iss'), gw.baseUrl);
  });

  test('token errors are RFC-shaped JSON with no-store', async () => {
    const res = await fetch(as.token_endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":"x"' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = await res.json();
    assert.equal(body.error, 'invalid_request');
    assert.ok(body.error_description);
  });

  test('an oversized token request is 413', async () => {
    const res = await fetch(as.token_endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a='.padEnd(20000, 'x') });
    assert.equal(res.status, 413);
  });

  /**
   * Sends a chunked body (no Content-Length) in 4 KiB writes; with `open`, never ends it, so a
   * gateway that reads the whole body before checking its size never answers. Resolves with the
   * status, content type and body of the answer.
   */
  function chunked(path, contentType, bytes, ip, { open }) {
    return new Promise((resolve, reject) => {
      const url = new URL(path, gw.baseUrl);
      const req = request({ host: url.hostname, port: url.port, method: 'POST', path: url.pathname, headers: { 'content-type': contentType, 'cf-connecting-ip': ip } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          req.destroy();
          resolve({ status: res.statusCode, type: res.headers['content-type'] ?? '', body: Buffer.concat(chunks).toString() });
        });
      });
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`${path}: no answer while the body was still open`));
      }, 15000);
      req.on('error', () => {});
      for (let sent = 0; sent < bytes; sent += 4096) req.write('x'.repeat(4096));
      if (!open) req.end();
    });
  }

  /**
   * wrangler dev's proxy in front of workerd loses its connection to the Worker after an answer
   * given before the request body ended, and fails the next POST through it with 503 ("restarted
   * mid-request"; a GET would wait forever in its retry queue). A throwaway POST takes that 503,
   * so the next check and the next test get a healthy connection. Production has no such proxy.
   */
  async function settleDevProxy() {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.baseUrl}/healthz`, { method: 'POST', signal: AbortSignal.timeout(10000) });
      await res.arrayBuffer();
      if (res.status === 405) return;
    }
    assert.fail('the dev proxy did not recover');
  }

  test('a chunked body over the cap is refused before it ends: 413 JSON on /token and /register', async () => {
    const token = await chunked('/token', 'application/x-www-form-urlencoded', 40960, '198.51.100.161', { open: true });
    await settleDevProxy();
    assert.equal(token.status, 413);
    assert.equal(JSON.parse(token.body).error, 'payload_too_large');
    const register = await chunked('/register', 'application/json', 40960, '198.51.100.162', { open: true });
    await settleDevProxy();
    assert.equal(register.status, 413);
    assert.equal(JSON.parse(register.body).error, 'invalid_client_metadata');
  });

  test('a chunked form over the cap on a portal page is a 413 page', async () => {
    // Ended: wrangler dev's proxy rewrites HTML answers and holds them until the request is over.
    const login = await chunked('/login', 'application/x-www-form-urlencoded', 40960, '198.51.100.163', { open: false });
    await settleDevProxy();
    assert.equal(login.status, 413);
    assert.match(login.type, /text\/html/);
    assert.match(login.body, /more than 16384 bytes/);
  });

  test('the token endpoint is rate limited per client IP', async () => {
    const hit = (ip) =>
      fetch(as.token_endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': ip },
        body: 'grant_type=refresh_token',
      }).then(async (r) => (await r.arrayBuffer(), [r.status, r.headers.get('retry-after')]));
    // The limiter counts in fixed minutes: calls that straddle a minute's turn are split between
    // two, so up to twice the limit (and one) may be needed before one of them is full.
    const results = [];
    while (results.length < 241 && !results.some(([s]) => s === 429)) results.push(await hit('198.51.100.77'));
    const first = results.findIndex(([s]) => s === 429);
    assert.ok(first >= 120, `expected a 429 past 120 calls a minute, got the first at ${first}`);
    assert.equal(results[first][1], '60');
    const [other] = await hit('198.51.100.78');
    assert.equal(other, 401, 'another address is unaffected');
  });

  test('wrong methods on OAuth endpoints are 405 with Allow', async () => {
    const res = await fetch(as.token_endpoint);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST, OPTIONS');
  });
});

describe('the README walk-through', () => {
  test('scripts/oauth-demo.mjs completes against the gateway (a public client, PKCE, loopback redirect)', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['scripts/oauth-demo.mjs', '--base-url', gw.baseUrl], { cwd: new URL('../..', import.meta.url) });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    try {
      const deadline = Date.now() + 15000;
      while (!/http:\/\/\S+\/authorize\?\S+/.test(out)) {
        if (Date.now() > deadline) throw new Error(`no authorize URL printed:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const url = out.match(/http:\/\/\S+\/authorize\?\S+/)[0];
      const browser = new FormBrowser(gw.baseUrl);
      const login = await browser.get(url);
      const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
      const consent = await browser.get(signedIn.headers.get('location'));
      assert.match(consent.text_, /Portcullis demo CLI/);
      const back = await decide(browser, consent);
      const done = await fetch(back.headers.get('location'));
      assert.equal(done.status, 200);
      const code = await new Promise((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, out);
      assert.match(out, /GET \/todos → 200/);
      assert.match(out, /revoked: refreshing again → 400 invalid_grant/);
    } finally {
      child.kill();
    }
  });

  test('a client metadata document on a private or loopback address is never fetched', async () => {
    await gw.clearOriginRequests();
    const port = new URL(gw.originUrl).port;
    for (const clientId of [
      `${gw.originUrl}/client-metadata/app.json`,
      `https://127.0.0.1:${port}/client-metadata/app.json`,
      `https://localhost:${port}/client-metadata/app.json`,
      'https://169.254.169.254/latest/meta-data/client.json',
      'https://10.0.0.1/client.json',
      'https://[::1]/client.json',
    ]) {
      const url = new URL(as.authorization_endpoint);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', clientId);
      url.searchParams.set('redirect_uri', 'http://127.0.0.1/callback');
      const res = await fetch(url, { redirect: 'manual' });
      assert.equal(res.status, 400, clientId);
      assert.equal(res.headers.get('location'), null);
    }
    assert.deepEqual((await gw.originRequests()).filter((r) => r.path.startsWith('/client-metadata/')), []);
  });

  test('a GPT Action (confidential, no PKCE) completes on both ChatGPT callback hosts with either exchange method', async () => {
    const combos = [
      ['https://chatgpt.com/aip/plugin-todo-demo/oauth/callback', oauth.ClientSecretBasic(gw.secrets.DEMO_CLIENT_SECRET)],
      ['https://chat.openai.com/aip/plugin-todo-demo/oauth/callback', oauth.ClientSecretPost(gw.secrets.DEMO_CLIENT_SECRET)],
    ];
    const browser = new FormBrowser(gw.baseUrl);
    for (const [callbackUri, method] of combos) {
      const state = oauth.generateRandomState();
      const url = new URL(as.authorization_endpoint);
      for (const [k, v] of Object.entries({ response_type: 'code', client_id: 'chatgpt', redirect_uri: callbackUri, scope: 'todos:read', state })) {
        url.searchParams.set(k, v);
      }
      let page = await browser.get(url);
      if (page.text_.includes('action="/login"')) {
        const signedIn = await signIn(browser, page, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
        page = await browser.get(signedIn.headers.get('location'));
      }
      const back = await decide(browser, page);
      const callback = new URL(back.headers.get('location'));
      assert.equal(callback.origin + callback.pathname, callbackUri);
      const params = oauth.validateAuthResponse(as, client, callback, state);
      const tokens = await oauth.processAuthorizationCodeResponse(
        as,
        client,
        await oauth.authorizationCodeGrantRequest(as, client, method, params, callbackUri, oauth.nopkce, insecure),
      );
      // What ChatGPT relies on: a non-empty scope, and expires_in that matches the token.
      assert.equal(tokens.scope, 'todos:read');
      const payload = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString());
      assert.equal(tokens.expires_in, payload.exp - payload.iat);
      assert.ok(tokens.refresh_token);
    }
  });

  test('registering one ChatGPT callback registers its twin on the other domain', async () => {
    const res = await fetch(`${gw.baseUrl}/admin/api/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'My GPT', kind: 'confidential', redirect_uris: ['https://chat.openai.com/aip/g-0123abcd/oauth/callback'] }),
    });
    assert.equal(res.status, 201);
    const created = await res.json();
    assert.deepEqual(created.redirect_uris, [
      'https://chat.openai.com/aip/g-0123abcd/oauth/callback',
      'https://chatgpt.com/aip/g-0123abcd/oauth/callback',
    ]);
  });
});

describe('machine clients: the client_credentials grant', () => {
  const admin = (path, body) =>
    fetch(`${gw.baseUrl}/admin/api/${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    }).then((r) => r.json());

  test('a client holding the viewer role gets a token for itself and the origin is told it is a machine', async () => {
    assert.ok(as.grant_types_supported.includes('client_credentials'));
    const machine = await admin('clients', { name: 'Nightly report', kind: 'confidential', roles: ['rol_viewer'] });
    assert.ok(machine.client_secret, JSON.stringify(machine));
    const self = { client_id: machine.id };
    const auth = oauth.ClientSecretBasic(machine.client_secret);
    const grant = (params) =>
      oauth.clientCredentialsGrantRequest(as, self, auth, new URLSearchParams(params), insecure)
        .then((r) => oauth.processClientCredentialsResponse(as, self, r));

    // No scope named: all its roles hold. Asking for more is narrowed to what they hold.
    const all = await grant({});
    assert.equal(all.scope, 'todos:read');
    assert.equal(all.refresh_token, undefined);
    const narrowed = await grant({ scope: 'todos:read todos:write openid', resource: gw.baseUrl });
    assert.equal(narrowed.scope, 'todos:read');
    const { payload } = await jwtVerify(all.access_token, createRemoteJWKSet(new URL(as.jwks_uri)), { issuer: gw.baseUrl, audience: gw.baseUrl, typ: 'at+jwt' });
    assert.equal(payload.sub, machine.id);
    assert.equal(payload.client_id, machine.id);
    assert.equal(payload.gty, 'client_credentials');

    await gw.clearOriginRequests();
    const read = await fetch(`${gw.baseUrl}/todos`, { headers: { authorization: `Bearer ${all.access_token}`, 'x-portcullis-principal': 'user' } });
    assert.equal(read.status, 200, `${read.headers.get('www-authenticate')} ${await read.text()}`);
    const [seen] = await gw.originRequests();
    assert.equal(seen.headers['x-portcullis-principal'], 'client');
    assert.equal(seen.headers['x-portcullis-client'], machine.id);
    assert.equal(seen.headers['x-portcullis-user'], undefined, 'a machine is not a user');
    const assertion = decodeJwt(seen.headers['x-portcullis-assertion']);
    assert.equal(assertion.sub, machine.id);
    assert.equal(assertion.principal, 'client');
    // Its roles do not hold todos:write, so writing is refused with the scope it needs.
    const write = await fetch(`${gw.baseUrl}/todos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${all.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'x' }),
    });
    assert.equal(write.status, 403);
    assert.match(write.headers.get('www-authenticate'), /insufficient_scope/);
    // No user behind it: userinfo refuses the token.
    assert.equal((await fetch(`${gw.baseUrl}/userinfo`, { headers: { authorization: `Bearer ${all.access_token}` } })).status, 401);
  });

  test('refusals: a public client, a wrong secret, a client without roles, an unknown resource', async () => {
    const token = (auth, params) =>
      fetch(`${gw.baseUrl}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) },
        body: new URLSearchParams({ grant_type: 'client_credentials', ...params }),
      }).then(async (r) => [r.status, await r.json()]);
    const basic = (id, secret) => `Basic ${btoa(`${id}:${secret}`)}`;
    const idle = await admin('clients', { name: 'Idle', kind: 'confidential' });
    const cases = [
      [null, { client_id: 'portcullis-cli' }, 400, 'unauthorized_client'],
      [basic(idle.id, 'wrong'), {}, 401, 'invalid_client'],
      [basic(idle.id, idle.client_secret), {}, 400, 'invalid_scope'],
      [basic('chatgpt', gw.secrets.DEMO_CLIENT_SECRET), { resource: 'https://elsewhere.example' }, 400, 'invalid_target'],
    ];
    for (const [auth, params, status, error] of cases) {
      const [got, body] = await token(auth, params);
      assert.equal(got, status, JSON.stringify(body));
      assert.equal(body.error, error);
    }
  });
});

describe('RS256 access tokens for a resource that asks for them', () => {
  const admin = (path, body) =>
    fetch(`${gw.baseUrl}/admin/api/${path}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  test('the proxy accepts and forwards the RS256 token, and refuses it tampered', async () => {
    const changed = await admin('resources/res_todos', { access_token_alg: 'RS256' });
    assert.equal(changed.status, 200);
    assert.equal((await changed.json()).access_token_alg, 'RS256');
    try {
      const tokens = await exchange(await authorize({ scope: 'todos:read' }));
      const jwks = createRemoteJWKSet(new URL(as.jwks_uri));
      const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer: gw.baseUrl, audience: gw.baseUrl, typ: 'at+jwt', algorithms: ['RS256'] });
      assert.equal(protectedHeader.alg, 'RS256');
      assert.equal(payload.scope, 'todos:read');

      await gw.clearOriginRequests();
      for (let i = 0; i < 2; i++) {
        // The second call is served from the isolate's verified-token cache.
        const api = await fetch(`${gw.baseUrl}/todos`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
        assert.equal(api.status, 200);
      }
      const seen = await gw.originRequests();
      assert.equal(seen.length, 2);
      assert.equal(seen[0].headers['x-portcullis-user'], 'usr_demo');
      assert.equal(seen[0].headers.authorization, undefined, 'the token is not forwarded');

      const [header, body, signature] = tokens.access_token.split('.');
      const claims = JSON.parse(Buffer.from(body, 'base64url'));
      const widened = Buffer.from(JSON.stringify({ ...claims, scope: 'todos:read todos:write' })).toString('base64url');
      const tampered = await fetch(`${gw.baseUrl}/todos`, { headers: { authorization: `Bearer ${header}.${widened}.${signature}` } });
      assert.equal(tampered.status, 401);
      assert.match(tampered.headers.get('www-authenticate'), /error="invalid_token"/);
      assert.equal((await gw.originRequests()).length, 2, 'nothing more reached the origin');

      // The authorization server's own endpoints verify RS256 tokens too.
      const introspected = await oauth.processIntrospectionResponse(as, client,
        await oauth.introspectionRequest(as, client, clientAuth, tokens.access_token, insecure));
      assert.equal(introspected.active, true);
      const forged = await oauth.processIntrospectionResponse(as, client,
        await oauth.introspectionRequest(as, client, clientAuth, `${header}.${widened}.${signature}`, insecure));
      assert.equal(forged.active, false);
    } finally {
      assert.equal((await admin('resources/res_todos', { access_token_alg: 'EdDSA' })).status, 200);
    }
  });
});
