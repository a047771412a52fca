// The second factor end to end in workerd, with its local D1: the demo user sets up an
// authenticator app on the account page with a code otplib computes from the key the page shows,
// keeps the recovery codes, signs out, signs in again with the password and then the app's code,
// and the client (oauth4webapi) gets an ID token whose amr says a one-time code was used.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { generateSync } from 'otplib';
import { startGateway } from './harness.mjs';
import { FormBrowser, decide, formFields, signIn } from './browser.mjs';

const CALLBACK = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
const insecure = { [oauth.allowInsecureRequests]: true };
const PERIOD = 30;

let gw;
let as;
const client = { client_id: 'chatgpt' };
let clientAuth;

before(async () => {
  gw = await startGateway();
  const issuer = new URL(gw.baseUrl);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  clientAuth = oauth.ClientSecretBasic(gw.secrets.DEMO_CLIENT_SECRET);
});
after(async () => {
  await gw?.stop();
});

const now = () => Math.floor(Date.now() / 1000);
const codeAt = (secret, epoch) => generateSync({ secret, epoch, period: PERIOD });

/** Waits for the next 30 s step: the step a code was accepted at is spent. */
async function nextStep() {
  const wait = (PERIOD - (now() % PERIOD)) * 1000 + 200;
  await new Promise((resolve) => setTimeout(resolve, wait));
}

test('an app set up on the account page is asked for at the next sign-in, and the ID token says so', async () => {
  const browser = new FormBrowser(gw.baseUrl);
  const login = await browser.get('/login');
  const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  assert.equal(signedIn.status, 200, signedIn.text_);
  const account = await browser.get('/account');
  assert.match(account.text_, /Set up an authenticator app/);

  const setup = await browser.get('/account/second-factor');
  assert.equal(setup.status, 200, setup.text_);
  const key = /<code class="secret">([A-Z2-7 ]+)<\/code>/.exec(setup.text_)[1].replaceAll(' ', '');
  assert.match(setup.text_, new RegExp(`otpauth://totp/[^"]*secret=${key}`));
  const done = await browser.post('/account/second-factor', { ...formFields(setup.text_, '/account/second-factor'), code: codeAt(key, now()) });
  assert.equal(done.status, 200, done.text_);
  const codes = [...done.text_.matchAll(/<li><code>([0-9a-z-]+)<\/code><\/li>/g)].map((m) => m[1]);
  assert.equal(codes.length, 10);

  const out = await browser.post('/logout', formFields((await browser.get('/account')).text_, '/logout'));
  assert.equal(out.status, 200, out.text_);

  await nextStep();
  const state = oauth.generateRandomState();
  const verifier = oauth.generateRandomCodeVerifier();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: CALLBACK, scope: 'openid todos:read', state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const page = await browser.get(url);
  const asked = await signIn(browser, page, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  assert.equal(asked.status, 200, asked.text_);
  assert.match(asked.text_, /action="\/login\/second-factor"/);
  assert.ok(!asked.headers.getSetCookie().some((c) => c.includes('portcullis_session')), 'no session before the code');
  const back = await browser.post('/login/second-factor', { ...formFields(asked.text_, '/login/second-factor'), code: codeAt(key, now()) });
  assert.equal(back.status, 303, back.text_);
  const consent = await browser.get(back.headers.get('location'));
  const redirected = await decide(browser, consent);
  const params = oauth.validateAuthResponse(as, client, new URL(redirected.headers.get('location')), state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, CALLBACK, verifier, insecure);
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { requireIdToken: true });
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  assert.ok(claims.amr.includes('otp'), JSON.stringify(claims));
  assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
  assert.equal(claims.acr, 'urn:portcullis:acr:mfa');
  assert.ok(as.acr_values_supported.includes('urn:portcullis:acr:mfa'));

  // A recovery code signs in once in place of the app's.
  const other = new FormBrowser(gw.baseUrl);
  const again = await signIn(other, await other.get('/login'), 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  const recovered = await other.post('/login/second-factor', { ...formFields(again.text_, '/login/second-factor'), code: codes[0] });
  assert.equal(recovered.status, 200, recovered.text_);
  const third = new FormBrowser(gw.baseUrl);
  const once = await signIn(third, await third.get('/login'), 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  const spent = await third.post('/login/second-factor', { ...formFields(once.text_, '/login/second-factor'), code: codes[0] });
  assert.equal(spent.status, 401, spent.text_);
});
