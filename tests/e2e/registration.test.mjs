// Clients that introduce themselves, end to end in workerd: RFC 7591 dynamic registration driven
// by oauth4webapi, and client ID metadata documents served by the demo origin. This gateway runs
// with CLIENT_METADATA_ALLOW_LOOPBACK (local development), so documents on 127.0.0.1 may be
// fetched; the SSRF refusal without it is in oauth.test.mjs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { startGateway } from './harness.mjs';
import { FormBrowser, decide, signIn } from './browser.mjs';

const insecure = { [oauth.allowInsecureRequests]: true };
const LOOPBACK_CALLBACK = 'http://127.0.0.1/callback';

let gw;
let as;
before(async () => {
  gw = await startGateway({ vars: { CLIENT_METADATA_ALLOW_LOOPBACK: 'true' } });
  const issuer = new URL(gw.baseUrl);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
});
after(async () => {
  await gw?.stop();
});

const admin = (path) =>
  fetch(`${gw.baseUrl}/admin/api${path}`, { headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}` } }).then((r) => r.json());

/** Every client, paging through the admin API. */
async function countClients() {
  let count = 0;
  let after = '';
  for (;;) {
    const page = await admin(`/clients?limit=200${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    count += page.items.length;
    if (!page.next_cursor) return count;
    after = page.next_cursor;
  }
}

/** Registers through the endpoint as a raw client would, from its own address. */
function registerRaw(body, ip = '198.51.100.7') {
  return fetch(`${gw.baseUrl}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** authorize → login → consent for `clientId`, as a public client with PKCE; returns the code. */
async function authorizeAsPublicClient(clientId, redirectUri, { port } = {}) {
  const browser = new FormBrowser(gw.baseUrl);
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const redirect = port ? redirectUri.replace('127.0.0.1', `127.0.0.1:${port}`) : redirectUri;
  const url = new URL(as.authorization_endpoint);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirect,
    scope: 'todos:read',
    state,
    resource: gw.baseUrl,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  })) url.searchParams.set(k, v);
  const login = await browser.get(url);
  assert.equal(login.status, 200, login.text_);
  const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  assert.equal(signedIn.status, 303, signedIn.text_);
  const consent = await browser.get(signedIn.headers.get('location'));
  assert.equal(consent.status, 200, consent.text_);
  const back = await decide(browser, consent);
  assert.equal(back.status, 303, back.text_);
  return { callback: new URL(back.headers.get('location')), state, verifier, redirect, consent };
}

describe('dynamic client registration (RFC 7591)', () => {
  test('metadata advertises the registration endpoint and metadata documents', () => {
    assert.equal(as.registration_endpoint, `${gw.baseUrl}/register`);
    assert.equal(as.client_id_metadata_document_supported, true);
  });

  test('a public client registers with oauth4webapi and completes the flow with PKCE, resource and refresh', async () => {
    const registered = await oauth.processDynamicClientRegistrationResponse(
      await oauth.dynamicClientRegistrationRequest(
        as,
        {
          client_name: 'E2E MCP client',
          redirect_uris: [LOOPBACK_CALLBACK],
          grant_types: ['authorization_code', 'refresh_token'],
          token_endpoint_auth_method: 'none',
        },
        insecure,
      ),
    );
    assert.match(registered.client_id, /^dcr_/);
    assert.deepEqual(registered.redirect_uris, [LOOPBACK_CALLBACK]);
    assert.equal(registered.client_secret, undefined);
    const client = { client_id: registered.client_id, token_endpoint_auth_method: 'none' };

    // Loopback redirect URIs match on any port (RFC 8252 §7.3).
    const flow = await authorizeAsPublicClient(client.client_id, LOOPBACK_CALLBACK, { port: 53682 });
    // Its name isolated and marked as its own claim, with where access goes.
    assert.match(flow.consent.text_, /<bdi>E2E MCP client<\/bdi><\/strong> <span class="unverified-mark">\(unverified\)<\/span>/);
    assert.match(flow.consent.text_, /will be sent to <strong><bdi>127\.0\.0\.1<\/bdi><\/strong>/);
    const params = oauth.validateAuthResponse(as, client, flow.callback, flow.state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, flow.redirect, flow.verifier, {
        ...insecure,
        additionalParameters: { resource: gw.baseUrl },
      }),
    );
    assert.equal(tokens.scope, 'todos:read');
    const todos = await fetch(`${gw.baseUrl}/todos`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(todos.status, 200);

    // A refresh naming another resource is invalid_target; the right one rotates the token.
    const wrong = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token, {
      ...insecure,
      additionalParameters: { resource: 'https://elsewhere.example.com' },
    });
    assert.equal(wrong.status, 400);
    assert.equal((await wrong.json()).error, 'invalid_target');
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token, insecure),
    );
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);

    // Once used, the registration no longer expires.
    const stored = await admin(`/clients/${registered.client_id}`);
    assert.equal(stored.id, registered.client_id);
  });

  test('a client asking for a secret gets one, and it authenticates with client_secret_basic', async () => {
    const res = await registerRaw({ redirect_uris: [LOOPBACK_CALLBACK], client_name: 'Confidential tool' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = await res.json();
    assert.equal(body.token_endpoint_auth_method, 'client_secret_basic');
    assert.ok(body.client_secret.length >= 40);
    assert.equal(body.client_secret_expires_at, 0);
    // A wrong secret is refused, the right one passes client authentication (and then fails on
    // the made-up code, which is the point: the client was recognised).
    const attempt = (secret) =>
      fetch(`${gw.baseUrl}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${body.client_id}:${secret}`).toString('base64')}`,
        },
        body: 'grant_type=authorization_code&code=x.y',
      }).then(async (r) => [r.status, (await r.json()).error]);
    assert.deepEqual(await attempt('wrong'), [401, 'invalid_client']);
    assert.deepEqual(await attempt(body.client_secret), [400, 'invalid_grant']);
  });

  test('bad registrations get RFC 7591 errors and store nothing', async () => {
    const before = (await admin('/clients?limit=100')).items.length;
    const cases = [
      [{ redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['data:text/html,<script>alert(1)</script>'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['https://app.example.com/cb#fragment'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['https://*.example.com/cb'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['http://app.example.com/cb'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: Array.from({ length: 20 }, (_, i) => `https://app.example.com/${i}`) }, 'invalid_redirect_uri'],
      // Past the 16 KiB body cap: refused before the body is read, as too large.
      [{ redirect_uris: Array.from({ length: 10000 }, (_, i) => `https://app.example.com/${i}`) }, 'invalid_client_metadata', 413],
      [{ redirect_uris: [LOOPBACK_CALLBACK], grant_types: ['implicit'] }, 'invalid_client_metadata'],
      [{ redirect_uris: [LOOPBACK_CALLBACK], token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
      ['{"redirect_uris": [', 'invalid_client_metadata'],
    ];
    for (const [body, code, status = 400] of cases) {
      const res = await registerRaw(body, '198.51.100.8');
      assert.equal(res.status, status, JSON.stringify(body).slice(0, 80));
      const error = await res.json();
      assert.equal(error.error, code, JSON.stringify(body).slice(0, 80));
      assert.ok(error.error_description);
    }
    assert.equal((await admin('/clients?limit=100')).items.length, before);
  });

  test('names with invisible or reordering characters, or copied from an assistant, are refused and store nothing', async () => {
    const before = (await admin('/clients?limit=100')).items.length;
    for (const client_name of ['Notes \u202Etpircs', 'Chat\u200BGPT', '\uFEFFNotes', 'ChatGPT', 'Chat GPT', 'ＣｈａｔＧＰＴ', 'ChatGРТ', 'Claude']) {
      const res = await registerRaw({ client_name, redirect_uris: [LOOPBACK_CALLBACK], token_endpoint_auth_method: 'none' }, '198.51.100.9');
      assert.equal(res.status, 400, JSON.stringify(client_name));
      const error = await res.json();
      assert.equal(error.error, 'invalid_client_metadata', JSON.stringify(client_name));
      assert.match(error.error_description, /^client_name (contains U\+|reads as)/);
    }
    // Right-to-left scripts are names like any other.
    assert.equal((await registerRaw({ client_name: 'אפליקציית פתקים', redirect_uris: [LOOPBACK_CALLBACK] }, '198.51.100.9')).status, 201);
    assert.equal((await admin('/clients?limit=100')).items.length, before + 1);
  });

  test('registration is rate-limited per client address', async () => {
    // The limiter counts in fixed minutes: calls that straddle a minute's turn are split between
    // two, so up to twice the limit (and one) may be needed before one of them is full.
    const statuses = [];
    while (statuses.length < 41 && !statuses.includes(429)) {
      statuses.push((await registerRaw({ redirect_uris: [LOOPBACK_CALLBACK] }, '198.51.100.99')).status);
    }
    assert.ok(statuses.slice(0, 20).every((s) => s === 201), statuses.join(','));
    assert.ok(statuses.includes(429), statuses.join(','));
    assert.ok(statuses.slice(0, -1).every((s) => s === 201), statuses.join(','));
    // Another address is unaffected.
    assert.equal((await registerRaw({ redirect_uris: [LOOPBACK_CALLBACK] }, '198.51.100.100')).status, 201);
  });

  test('one IPv6 /64 counts as one registrant: past 500 unused registrations it gets 429, stores nothing, and others go on', async () => {
    const before = await countClients();
    // Each address stays under the per-address rate limit; together they are one network.
    const statuses = [];
    for (let i = 1; i <= 500; i += 25) {
      const batch = Array.from({ length: 25 }, (_, k) => registerRaw({ redirect_uris: [LOOPBACK_CALLBACK] }, `2001:db8:5:6::${(i + k).toString(16)}`));
      statuses.push(...(await Promise.all(batch)).map((r) => r.status));
    }
    assert.ok(statuses.every((s) => s === 201), `all 500 stored: ${[...new Set(statuses)]}`);
    const over = await registerRaw({ redirect_uris: [LOOPBACK_CALLBACK] }, '2001:db8:5:6:ffff::1');
    assert.equal(over.status, 429);
    assert.ok(Number(over.headers.get('retry-after')) > 0);
    const error = await over.json();
    assert.equal(error.error, 'temporarily_unavailable');
    assert.match(error.error_description, /never used/);
    assert.equal(await countClients(), before + 500, 'the refused one stored nothing');
    // Another network registers, and the rest of the server answers as before.
    assert.equal((await registerRaw({ redirect_uris: [LOOPBACK_CALLBACK] }, '2001:db8:5:7::1')).status, 201);
    assert.equal((await fetch(`${gw.baseUrl}/.well-known/oauth-authorization-server`)).status, 200);
  });
});

describe('client ID metadata documents', () => {
  const doc = (name) => `${gw.originUrl}/client-metadata/${name}.json`;

  test('an https-style client_id document is fetched once, and its client completes the flow', async () => {
    await gw.clearOriginRequests();
    const clientId = doc('app');
    const client = { client_id: clientId, token_endpoint_auth_method: 'none' };
    const flow = await authorizeAsPublicClient(clientId, LOOPBACK_CALLBACK);
    assert.match(flow.consent.text_, /<bdi>Metadata client app<\/bdi><\/strong> <span class="unverified-mark">\(unverified\)<\/span>/);
    assert.match(flow.consent.text_, /will be sent to <strong><bdi>127\.0\.0\.1<\/bdi><\/strong>/);
    const params = oauth.validateAuthResponse(as, client, flow.callback, flow.state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, flow.redirect, flow.verifier, insecure),
    );
    assert.ok(tokens.access_token);
    const fetched = (await gw.originRequests()).filter((r) => r.path === '/client-metadata/app.json');
    assert.equal(fetched.length, 1, 'cached by its Cache-Control');
  });

  test('documents that do not name themselves, are too big, hang, redirect, copy an assistant\'s name or carry a bidi control make the client unknown', async () => {
    for (const name of ['other', 'huge', 'hang', 'redirect', 'spoof', 'bidi']) {
      const url = new URL(as.authorization_endpoint);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', doc(name));
      url.searchParams.set('redirect_uri', LOOPBACK_CALLBACK);
      url.searchParams.set('code_challenge', 'x'.repeat(43));
      url.searchParams.set('code_challenge_method', 'S256');
      const started = Date.now();
      const res = await fetch(url, { redirect: 'manual' });
      assert.equal(res.status, 400, name);
      assert.match(await res.text(), /unknown|not registered|client/i, name);
      assert.equal(res.headers.get('location'), null, `${name}: never redirects to an unverified URI`);
      assert.ok(Date.now() - started < 10000, `${name}: answered in bounded time`);
    }
  });

  test('document fetches are throttled per client address, and a cached document costs nothing', async () => {
    const authorize = async (clientId, ip) => {
      const url = new URL(as.authorization_endpoint);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', clientId);
      url.searchParams.set('redirect_uri', LOOPBACK_CALLBACK);
      url.searchParams.set('code_challenge', 'x'.repeat(43));
      url.searchParams.set('code_challenge_method', 'S256');
      const res = await fetch(url, { redirect: 'manual', headers: { 'cf-connecting-ip': ip } });
      return { status: res.status, type: res.headers.get('content-type'), retryAfter: res.headers.get('retry-after'), location: res.headers.get('location'), text: await res.text() };
    };
    await gw.clearOriginRequests();
    const flood = [];
    for (let i = 0; i < 24; i++) flood.push(await authorize(doc(`flood-${i}`), '198.51.100.120'));
    assert.deepEqual(flood.slice(0, 20).map((r) => r.status), Array(20).fill(200));
    for (const refused of flood.slice(20)) {
      assert.equal(refused.status, 429);
      assert.match(refused.type, /text\/html/);
      assert.equal(refused.retryAfter, '60');
      assert.equal(refused.location, null);
    }
    const fetched = (await gw.originRequests()).filter((r) => r.path.startsWith('/client-metadata/flood-'));
    assert.equal(fetched.length, 20, 'no fetch past the limit');
    // Documents already cached cost nothing: the throttled address still reaches them, and another
    // address can ask for one as often as it likes.
    assert.equal((await authorize(doc('flood-0'), '198.51.100.120')).status, 200);
    await authorize(doc('app'), '198.51.100.121');
    for (let i = 0; i < 30; i++) assert.equal((await authorize(doc('app'), '198.51.100.121')).status, 200);
    // Another address is not held back by the first.
    assert.equal((await authorize(doc('flood-20'), '198.51.100.122')).status, 200);
  });

  test('a redirect URI the document does not list is refused locally', async () => {
    const url = new URL(as.authorization_endpoint);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', doc('app'));
    url.searchParams.set('redirect_uri', 'https://attacker.example.com/cb');
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
  });
});
