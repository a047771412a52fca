// Signing in with an identity the user already has (issue 16), end to end: the gateway in
// workerd with D1, a real OpenID provider (oidc-provider) and a GitHub-shaped OAuth server, the
// pages driven in Chromium where a person would click, and with a cookie-keeping fetch where the
// test must tamper with the protocol.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startGateway } from './harness.mjs';
import { closeBrowser, launchBrowser } from './chromium.mjs';
import { FormBrowser, formFields } from './browser.mjs';
import { providerCallback, startGitHubStandIn, startOidcProvider } from './providers.mjs';
import { freePort } from '../../scripts/lib.mjs';

const CALLBACK = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
const IDP = 'acme-idp';
let gw;
let op;
let rsa;
let gh;
let browser;

const accounts = [
  { sub: 'ada', email: 'ada@acme.test', email_verified: true, name: 'Ada Lovelace' },
  { sub: 'grace', email: 'grace@elsewhere.test', email_verified: true, name: 'Grace Hopper' },
  // The demo user's address, verified by the provider: may be linked, with the password.
  { sub: 'demo-twin', email: 'demo@example.com', email_verified: true, name: 'Demo Twin' },
  // The same address, unverified: must never reach the demo user's account.
  { sub: 'mallory', email: 'demo@example.com', email_verified: false, name: 'Mallory' },
  { sub: 'ghost', name: 'No Email' },
];

before(async () => {
  const issuerPort = await freePort();
  const rsaPort = await freePort();
  const opSecret = randomBytes(18).toString('hex');
  const rsaSecret = randomBytes(18).toString('hex');
  gh = await startGitHubStandIn({
    users: {
      octo: { id: 583231, name: 'Octo Cat', emails: [{ email: 'old@acme.test', primary: false, verified: true }, { email: 'Octo@Acme.test', primary: true, verified: true }] },
      shady: { id: 666, name: 'Shady', emails: [{ email: 'shady@acme.test', primary: true, verified: false }, { email: 'alt@acme.test', primary: false, verified: true }] },
    },
  });
  const providers = [
    {
      id: IDP, name: 'Acme SSO', kind: 'oidc', issuer: `http://127.0.0.1:${issuerPort}`, client_id: 'portcullis-e2e',
      default_roles: ['viewer'], domain_roles: [{ domain: 'acme.test', roles: ['member'] }],
    },
    { id: 'github', kind: 'github', client_id: gh.clientId, ...gh.provider, default_roles: ['viewer'] },
    // A second OpenID provider that signs RS256 and sends its secret in the form.
    {
      id: 'rsa-idp', name: 'RSA SSO', kind: 'oidc', issuer: `http://127.0.0.1:${rsaPort}`, client_id: 'portcullis-e2e',
      token_endpoint_auth_method: 'client_secret_post', default_roles: ['viewer'],
    },
  ];
  [gw, browser] = await Promise.all([
    startGateway({ vars: { IDENTITY_PROVIDERS: JSON.stringify(providers), ACME_IDP_CLIENT_SECRET: opSecret, RSA_IDP_CLIENT_SECRET: rsaSecret, GITHUB_CLIENT_SECRET: gh.clientSecret } }),
    launchBrowser(),
  ]);
  [op, rsa] = await Promise.all([
    startOidcProvider({ issuerPort, clientSecret: opSecret, accounts, redirectUris: [`${gw.baseUrl}/login/provider/${IDP}/callback`] }),
    startOidcProvider({
      issuerPort: rsaPort, clientSecret: rsaSecret, alg: 'RS256', authMethod: 'client_secret_post',
      accounts: [{ sub: 'rosa', email: 'rosa@acme.test', email_verified: true, name: 'Rosa' }],
      redirectUris: [`${gw.baseUrl}/login/provider/rsa-idp/callback`],
    }),
  ]);
});

after(async () => {
  await closeBrowser(browser);
  await Promise.all([gw?.stop(), op?.stop(), rsa?.stop(), gh?.stop()]);
});

const admin = (path, init = {}) =>
  fetch(`${gw.baseUrl}/admin/api/${path}`, { ...init, headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers } });

async function users() {
  const res = await admin('users?limit=100');
  assert.equal(res.status, 200);
  return (await res.json()).items;
}

function authorizeUrl(state) {
  const url = new URL('/authorize', gw.baseUrl);
  url.search = new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: CALLBACK, scope: 'todos:read todos:write', state, prompt: 'consent' });
  return url.toString();
}

async function tokenFor(code) {
  const res = await fetch(`${gw.baseUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`chatgpt:${gw.secrets.DEMO_CLIENT_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

/**
 * From ChatGPT's authorization request, through the provider's own sign-in page (Chromium), to
 * the consent page and back to ChatGPT with a code: the scope of the token it buys.
 */
async function authorizeThroughProvider(button, signInAtProvider) {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(authorizeUrl('fed-1'));
    assert.equal(await page.title(), 'Sign in · Todo Demo');
    await Promise.all([page.waitForNavigation(), page.click(`button:has-text("Continue with ${button}")`)]);
    await signInAtProvider(page);
    assert.equal(await page.title(), 'Allow access? · Todo Demo', await page.textContent('body'));
    const [response] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/authorize' && r.request().method() === 'POST'),
      page.click('button[value=allow]'),
    ]);
    const back = new URL(response.headers().location);
    assert.equal(back.searchParams.get('state'), 'fed-1');
    const tokens = await tokenFor(back.searchParams.get('code'));
    const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString());
    return { scope: tokens.scope, sub: claims.sub, page, context };
  } catch (e) {
    await context.close();
    throw e;
  }
}

const atOidcProvider = (login) => async (page) => {
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'anything');
  await Promise.all([page.waitForNavigation({ url: (u) => u.port === String(gw.port) }), page.click('button.login-submit')]);
};

const atGitHub = (login) => async (page) => {
  await page.fill('#login', login);
  await Promise.all([page.waitForNavigation({ url: (u) => u.port === String(gw.port) }), page.click('button[value=allow]')]);
};

/** Starts a sign-in with `provider` in a cookie-keeping fetch; returns the browser and the provider's authorization URL. */
async function startAt(provider) {
  const b = new FormBrowser(gw.baseUrl);
  const login = await b.get('/login');
  const started = await b.post(`/login/provider/${provider}`, formFields(login.text_, `/login/provider/${provider}`));
  assert.equal(started.status, 303, started.text_);
  return { b, to: new URL(started.headers.get('location')) };
}

/** Waits for a line matching `pattern` in the gateway's output. */
const logged = (pattern) => gw.waitForLog(pattern);

/** Completes the provider's side without a browser; returns the callback URL. */
const oidcCallbackFor = (login, to) => providerCallback({ issuer: op.issuer, authorizationUrl: to, login, gatewayPort: gw.port });

describe('upstream sign-in with a real OpenID provider', () => {
  test('the sign-in page offers the providers beside the password form', async () => {
    const page = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
    await page.goto(`${gw.baseUrl}/login`);
    const buttons = await page.$$eval('form.provider button', (els) => els.map((e) => e.textContent));
    assert.deepEqual(buttons, ['Continue with Acme SSO', 'Continue with GitHub', 'Continue with RSA SSO']);
    assert.equal(await page.$$eval('input[type=password]', (els) => els.length), 1);
    await page.context().close();
  });

  test('a first sign-in provisions the user with the domain\'s roles; a second finds the same user', async () => {
    const before = await users();
    const first = await authorizeThroughProvider('Acme SSO', atOidcProvider('ada'));
    await first.context.close();
    assert.equal(first.scope, 'todos:read todos:write', 'acme.test is given member, which may write');
    const ada = (await users()).find((u) => u.email === 'ada@acme.test');
    assert.ok(ada, 'provisioned');
    assert.equal(first.sub, ada.id);
    assert.deepEqual(ada.roles.map((r) => r.name).sort(), ['member', 'viewer']);
    assert.equal((await users()).length, before.length + 1);

    const identities = await (await admin(`users/${ada.id}/identities`)).json();
    assert.deepEqual(identities.identities.map((i) => [i.provider, i.subject, i.email, i.email_verified]), [[IDP, 'ada', 'ada@acme.test', true]]);

    const second = await authorizeThroughProvider('Acme SSO', atOidcProvider('ada'));
    await second.context.close();
    assert.equal(second.sub, ada.id, 'the same user, found by (provider, subject)');
    assert.equal((await users()).length, before.length + 1, 'nobody new');
  });

  test('an address outside the domain rules gets the provider\'s default roles only', async () => {
    const grace = await authorizeThroughProvider('Acme SSO', atOidcProvider('grace'));
    await grace.context.close();
    assert.equal(grace.scope, 'todos:read');
  });

  test('an unverified email never reaches the existing account it names; nothing is stored', async () => {
    const before = await users();
    const { b, to } = await startAt(IDP);
    const back = await b.get((await oidcCallbackFor('mallory', to)).toString());
    assert.equal(back.status, 403);
    assert.doesNotMatch(back.text_, /demo@example\.com/, 'nothing tells whether an account exists');
    // The same page as an unverified sign-in that matches nobody: only the log tells them apart.
    const other = await startAt(IDP);
    const stranger = await other.b.get((await oidcCallbackFor('ghost', other.to)).toString());
    const said = (text) => /<p>([^<]*sign-in cannot be used here[^<]*)<\/p>/.exec(text)?.[1];
    assert.ok(said(back.text_), back.text_);
    assert.deepEqual([stranger.status, said(stranger.text_)], [back.status, said(back.text_)]);
    await logged(/upstream acme-idp: email_unverified/);
    assert.match(back.text_, /href="\/login"/, 'a way back');
    assert.deepEqual(await users(), before);
    const demo = before.find((u) => u.email === 'demo@example.com');
    assert.deepEqual((await (await admin(`users/${demo.id}/identities`)).json()).identities, []);
    assert.ok(!b.cookies.has('portcullis_session'));
  });

  test('a verified email links to the existing account once its password is given', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${gw.baseUrl}/login`);
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Continue with Acme SSO")')]);
    await atOidcProvider('demo-twin')(page);
    assert.equal(await page.title(), 'Link your account · Todo Demo');
    assert.match(await page.textContent('main'), /demo@example\.com/);
    await page.fill('#password', 'not the password');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert.match(await page.textContent('main'), /Wrong password/);
    await page.fill('#password', gw.secrets.DEMO_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert.equal(await page.title(), 'Signed in · Todo Demo');
    await context.close();

    const demo = (await users()).find((u) => u.email === 'demo@example.com');
    const linked = (await (await admin(`users/${demo.id}/identities`)).json()).identities;
    assert.deepEqual(linked.map((i) => [i.provider, i.subject]), [[IDP, 'demo-twin']]);
    // From now on the provider alone signs the demo user in.
    const again = await authorizeThroughProvider('Acme SSO', atOidcProvider('demo-twin'));
    await again.context.close();
    assert.equal(again.sub, demo.id);
  });

  test('RS256 ID tokens and client_secret_post work as well (a second provider)', async () => {
    const { b, to } = await startAt('rsa-idp');
    const back = await b.get((await providerCallback({ issuer: rsa.issuer, authorizationUrl: to, login: 'rosa', gatewayPort: gw.port })).toString());
    assert.equal(back.status, 200, back.text_);
    assert.match(back.text_, /You are signed in/);
    const rosa = (await users()).find((u) => u.email === 'rosa@acme.test');
    const identities = (await (await admin(`users/${rosa.id}/identities`)).json()).identities;
    assert.deepEqual(identities.map((i) => [i.provider, i.subject]), [['rsa-idp', 'rosa']]);
  });

  test('no verified email: no account is made', async () => {
    const before = await users();
    const { b, to } = await startAt(IDP);
    const back = await b.get((await oidcCallbackFor('ghost', to)).toString());
    assert.equal(back.status, 403);
    assert.match(back.text_, /This Acme SSO sign-in cannot be used here/);
    await logged(/upstream acme-idp: no_verified_email/);
    assert.deepEqual(await users(), before);
  });

  for (const [mode, why] of [
    ['nonce', /upstream acme-idp: invalid: ID token: the nonce is not this sign-in's/],
    ['aud', /upstream acme-idp: invalid: ID token: aud does not name this client/],
    ['expired', /upstream acme-idp: invalid: ID token: expired/],
    ['signature', /upstream acme-idp: invalid: ID token: the signature does not verify/],
  ]) {
    test(`an ID token with a ${mode === 'aud' ? 'wrong audience' : mode === 'nonce' ? 'wrong nonce' : mode === 'expired' ? 'past expiry' : 'bad signature'} is refused, with nothing stored`, async () => {
      const before = await users();
      const { b, to } = await startAt(IDP);
      const callback = await oidcCallbackFor('ada', to);
      op.misbehave(mode);
      try {
        const back = await b.get(callback.toString());
        assert.equal(back.status, 502, back.text_);
        assert.match(back.text_, /could not be verified/);
        assert.ok(!b.cookies.has('portcullis_session'));
        await logged(why);
      } finally {
        op.misbehave(null);
      }
      assert.deepEqual(await users(), before);
    });
  }

  test('a callback whose state is not the sign-in\'s is refused before any code is spent', async () => {
    const { b, to } = await startAt(IDP);
    const callback = await oidcCallbackFor('ada', to);
    callback.searchParams.set('state', 'forged');
    const back = await b.get(callback.toString());
    assert.equal(back.status, 400);
    assert.match(back.text_, /does not belong to the sign-in started here/);
    // Without the browser's sign-in cookie (another browser), the same.
    const stranger = new FormBrowser(gw.baseUrl);
    const lost = await stranger.get((await oidcCallbackFor('ada', (await startAt(IDP)).to)).toString());
    assert.equal(lost.status, 400);
    assert.match(lost.text_, /Start again/);
  });

  test('a provider that does not answer is given up on in bounded time', async () => {
    const before = await users();
    const { b, to } = await startAt(IDP);
    const callback = await oidcCallbackFor('ada', to);
    op.misbehave('silent');
    try {
      const started = Date.now();
      const back = await b.get(callback.toString());
      const took = Date.now() - started;
      assert.equal(back.status, 502, back.text_);
      assert.match(back.text_, /did not answer in time/);
      assert.ok(took < 15000, `${took} ms`);
    } finally {
      op.misbehave(null);
    }
    assert.deepEqual(await users(), before);
  });
});

describe('upstream sign-in with a GitHub-shaped OAuth server', () => {
  test('the numeric id is the account and the verified primary email its address', async () => {
    const octo = await authorizeThroughProvider('GitHub', atGitHub('octo'));
    await octo.context.close();
    assert.equal(octo.scope, 'todos:read', 'the provider\'s default role');
    const user = (await users()).find((u) => u.email === 'octo@acme.test');
    assert.ok(user);
    const identities = (await (await admin(`users/${user.id}/identities`)).json()).identities;
    assert.deepEqual(identities.map((i) => [i.provider, i.subject]), [['github', '583231']]);
    assert.ok(gh.requests.length >= 2 && gh.requests.every((r) => r.userAgent), 'every API call names itself');
  });

  test('an unverified primary email gets no account, even with a verified secondary', async () => {
    const before = await users();
    const { b, to } = await startAt('github');
    const approve = await fetch(to, { redirect: 'manual' });
    assert.equal(approve.status, 200);
    const form = new URLSearchParams([...to.searchParams, ['login', 'shady'], ['decision', 'allow']]);
    const redirected = await fetch(new URL('/login/oauth/authorize', to), { method: 'POST', body: form, redirect: 'manual' });
    const back = await b.get(redirected.headers.get('location'));
    assert.equal(back.status, 403);
    assert.deepEqual(await users(), before);
  });

  test('a refusal at the provider is a readable page with a way back', async () => {
    const { b, to } = await startAt('github');
    const form = new URLSearchParams([...to.searchParams, ['decision', 'deny']]);
    const redirected = await fetch(new URL('/login/oauth/authorize', to), { method: 'POST', body: form, redirect: 'manual' });
    const back = await b.get(redirected.headers.get('location'));
    assert.equal(back.status, 403);
    assert.match(back.text_, /cancelled or refused/);
    assert.match(back.text_, /Back to sign-in/);
  });
});

test('no provider secret, code or token reaches a page or a log line', () => {
  const logs = gw.logs();
  for (const secret of [op.clientSecret, rsa.clientSecret, gh.clientSecret]) assert.ok(!logs.includes(secret));
  assert.doesNotMatch(logs, /gho_[0-9a-f]{8}/, 'no GitHub token');
  assert.doesNotMatch(logs, /code=[A-Za-z0-9_-]{20}/, 'no authorization code');
});

describe('linked identities on the account page', () => {
  test('a signed-in user links GitHub, sees it, and unlinks it', async () => {
    const b = new FormBrowser(gw.baseUrl);
    const login = await b.get('/account');
    const signedIn = await b.post('/login', { ...formFields(login.text_, '/login'), email: 'demo@example.com', password: gw.secrets.DEMO_PASSWORD });
    assert.equal(signedIn.status, 303);
    let account = await b.get('/account');
    assert.match(account.text_, /Sign-in methods/);
    assert.match(account.text_, /Acme SSO/, 'linked earlier by email');
    const started = await b.post('/login/provider/github', formFields(account.text_, '/login/provider/github'));
    assert.equal(started.status, 303);
    const to = new URL(started.headers.get('location'));
    const form = new URLSearchParams([...to.searchParams, ['login', 'octo'], ['decision', 'allow']]);
    const redirected = await fetch(new URL('/login/oauth/authorize', to), { method: 'POST', body: form, redirect: 'manual' });
    // octo's GitHub identity already belongs to the user provisioned above: refused.
    const refused = await b.get(redirected.headers.get('location'));
    assert.equal(refused.status, 403);
    assert.match(refused.text_, /This GitHub sign-in cannot be used here/);
    await logged(/upstream github: linked_to_another/);

    account = await b.get('/account');
    assert.match(account.text_, /value="unlink-identity"/, 'the password is another way in: unlinkable');
    const done = await b.post('/account', { ...formFields(account.text_, '/account'), action: 'unlink-identity', id: IDP });
    assert.equal(done.status, 303);
    const demo = (await users()).find((u) => u.email === 'demo@example.com');
    assert.deepEqual((await (await admin(`users/${demo.id}/identities`)).json()).identities, []);
  });
});

describe('identities in the admin console', () => {
  test('an administrator sees a user\'s sign-ins and unlinks one', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${gw.baseUrl}/admin/`);
      await page.fill('#token', gw.secrets.ADMIN_TOKEN);
      await page.click('#signin-form button');
      await page.waitForSelector('#console:not([hidden])');
      const row = page.locator('#users tbody tr', { hasText: 'octo@acme.test' });
      await row.locator('button.show-identities').click();
      const identity = row.locator('.identity[data-provider=github]');
      await identity.waitFor();
      assert.match(await identity.textContent(), /github: 583231 \(octo@acme\.test\)/);
      await identity.locator('button').click();
      await page.locator('#notice', { hasText: 'github unlinked from octo@acme.test' }).waitFor();
      const octo = (await users()).find((u) => u.email === 'octo@acme.test');
      assert.deepEqual((await (await admin(`users/${octo.id}/identities`)).json()).identities, []);
    } finally {
      await context.close();
    }
  });
});
