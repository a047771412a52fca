// Upstream tokens, end to end (issue 16): a GitHub-shaped provider that keeps tokens, whose
// access tokens expire as a GitHub App's do, and a route that forwards the user's token to the
// origin. The user who signed in with a password is asked to connect GitHub before the app is
// allowed; the token reaches only that route, is refreshed as it expires, is sealed at rest, and
// is gone once the user revokes the app.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { startGateway } from './harness.mjs';
import { FormBrowser, formFields, signIn } from './browser.mjs';
import { startGitHubStandIn } from './providers.mjs';
import { root, wrangler } from '../../scripts/lib.mjs';

const CALLBACK = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
let gw;
let gh;

before(async () => {
  gh = await startGitHubStandIn({
    expiresIn: 30, // inside the gateway's one-minute margin: every forwarded call refreshes first
    users: {
      octo: { id: 583231, name: 'Octo Cat', emails: [{ email: 'octo@acme.test', primary: true, verified: true }] },
      // A second GitHub account whose verified address is the demo user's.
      'demo-gh': { id: 777, name: 'Demo on GitHub', emails: [{ email: 'demo@example.com', primary: true, verified: true }] },
    },
  });
  const todo = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8')).vars.PLUGIN;
  const plugin = {
    ...todo,
    routes: [{ path: '/todos/github', methods: ['GET'], scopes: ['todos:read'], upstream_token: 'github' }, ...todo.routes],
  };
  gw = await startGateway({
    plugin,
    vars: {
      IDENTITY_PROVIDERS: JSON.stringify([{ id: 'github', kind: 'github', client_id: gh.clientId, ...gh.provider, keep_tokens: true, provision: false }]),
      GITHUB_CLIENT_SECRET: gh.clientSecret,
      UPSTREAM_TOKEN_KEY: randomBytes(32).toString('base64url'),
    },
  });
});

after(async () => {
  await Promise.all([gw?.stop(), gh?.stop()]);
});

const basic = () => `Basic ${Buffer.from(`chatgpt:${gw.secrets.DEMO_CLIENT_SECRET}`).toString('base64')}`;

async function token(body) {
  const res = await fetch(`${gw.baseUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic() },
    body: new URLSearchParams(body),
  });
  return { status: res.status, body: await res.json() };
}

function kept() {
  const out = wrangler(['d1', 'execute', 'DB', '--local', `--persist-to=${gw.state}`, '--json', '--command=SELECT provider, subject, user_id, access_token, refresh_token FROM upstream_tokens']);
  return JSON.parse(out.slice(out.indexOf('[')))[0].results;
}

async function call(path, accessToken, headers = {}) {
  await gw.clearOriginRequests();
  const res = await fetch(`${gw.baseUrl}${path}`, { headers: { authorization: `Bearer ${accessToken}`, ...headers } });
  await res.arrayBuffer();
  const [seen] = await gw.originRequests();
  return { status: res.status, seen, res };
}

describe('a route that forwards the user\'s GitHub token', () => {
  let tokens;

  test('a password user is asked to connect GitHub before the app is allowed, then allows it', async () => {
    const b = new FormBrowser(gw.baseUrl);
    const url = new URL('/authorize', gw.baseUrl);
    url.search = new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: CALLBACK, scope: 'todos:read', state: 'tok-1', prompt: 'consent' });
    const login = await b.get(url);
    const signedIn = await signIn(b, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
    assert.equal(signedIn.status, 303);
    const connect = await b.get(signedIn.headers.get('location'));
    assert.equal(connect.status, 200);
    assert.match(connect.text_, /Connect your account/);
    assert.match(connect.text_, /works with your GitHub account/);
    const fields = formFields(connect.text_, '/login/provider/github');
    assert.equal(fields.link, '1');
    const started = await b.post('/login/provider/github', fields);
    assert.equal(started.status, 303, started.text_);
    const to = new URL(started.headers.get('location'));
    const approved = await fetch(new URL('/login/oauth/authorize', to), {
      method: 'POST',
      body: new URLSearchParams([...to.searchParams, ['login', 'octo'], ['decision', 'allow']]),
      redirect: 'manual',
    });
    const back = await b.get(approved.headers.get('location'));
    assert.equal(back.status, 303, back.text_);
    const consent = await b.get(back.headers.get('location'));
    assert.match(consent.text_, /Allow access\?|ChatGPT/);
    const allowed = await b.post('/authorize', { ...formFields(consent.text_, '/authorize'), decision: 'allow' });
    const code = new URL(allowed.headers.get('location')).searchParams.get('code');
    const exchanged = await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK });
    assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
    tokens = exchanged.body;
  });

  test('the token is sealed at rest, never stored as issued', () => {
    const [row] = kept();
    assert.equal(row.provider, 'github');
    assert.equal(row.subject, '583231');
    assert.equal(row.user_id, 'usr_demo');
    assert.match(row.access_token, /^v1\./);
    for (const issued of gh.issued) assert.ok(!JSON.stringify(row).includes(issued));
    assert.ok(!row.refresh_token.includes('ghr_'));
  });

  test('only the route that asks gets it, refreshed as it expires; a caller cannot forge it', async () => {
    const refreshesBefore = gh.refreshes;
    const first = await call('/todos/github', tokens.access_token);
    assert.equal(first.seen.headers['x-portcullis-upstream-provider'], 'github');
    const forwarded = first.seen.headers['x-portcullis-upstream-token'];
    assert.ok(gh.issued.includes(forwarded), 'a token GitHub issued');
    assert.equal(gh.refreshes, refreshesBefore + 1, 'within a minute of expiry: refreshed first');
    const second = await call('/todos/github', tokens.access_token);
    assert.notEqual(second.seen.headers['x-portcullis-upstream-token'], forwarded, 'rotated');
    assert.equal(second.seen.headers['x-portcullis-upstream-token'], gh.issued.at(-1));

    const other = await call('/todos', tokens.access_token, { 'x-portcullis-upstream-token': 'forged', 'X_Portcullis_Upstream_Token': 'forged' });
    assert.equal(other.status, 200);
    assert.equal(other.seen.headers['x-portcullis-upstream-token'], undefined);
    assert.ok(!JSON.stringify(other.seen.headers).includes('forged'));
  });

  test('revoking the app deletes the kept tokens; the route then asks for a new sign-in', async () => {
    const revoked = await fetch(`${gw.baseUrl}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic() },
      body: new URLSearchParams({ token: tokens.refresh_token }),
    });
    assert.equal(revoked.status, 200);
    assert.deepEqual(kept(), []);
    // The access token is a JWT and verifies until it expires; the GitHub token is gone.
    const res = await fetch(`${gw.baseUrl}/todos/github`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/);
    assert.match(res.headers.get('www-authenticate'), /GitHub/);
  });

  test('linking by verified email with the password keeps the sign-in\'s tokens; one GitHub account per user', async () => {
    const signInWithGitHub = async (login) => {
      const b = new FormBrowser(gw.baseUrl);
      const page = await b.get('/login');
      const started = await b.post('/login/provider/github', formFields(page.text_, '/login/provider/github'));
      const to = new URL(started.headers.get('location'));
      const approved = await fetch(new URL('/login/oauth/authorize', to), {
        method: 'POST',
        body: new URLSearchParams([...to.searchParams, ['login', login], ['decision', 'allow']]),
        redirect: 'manual',
      });
      return { b, back: await b.get(approved.headers.get('location')) };
    };
    const prove = async ({ b, back }) => {
      assert.match(back.text_, /Link your account/);
      return b.post('/login/link', { ...formFields(back.text_, '/login/link'), password: gw.secrets.DEMO_PASSWORD });
    };
    // octo is still linked to the demo user: a second GitHub account is refused, not stacked.
    const refused = await prove(await signInWithGitHub('demo-gh'));
    assert.equal(refused.status, 409);
    assert.match(refused.text_, /Another GitHub account is already linked/);
    const admin = { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}` };
    assert.equal((await fetch(`${gw.baseUrl}/admin/api/users/usr_demo/identities/github`, { method: 'DELETE', headers: admin })).status, 204);
    const linked = await prove(await signInWithGitHub('demo-gh'));
    assert.equal(linked.status, 200, linked.text_);
    assert.match(linked.text_, /You are signed in/);
    const [row] = kept();
    assert.equal(row.subject, '777');
    assert.equal(row.user_id, 'usr_demo');
    assert.match(row.access_token, /^v1\./);
  });
});
