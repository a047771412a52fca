// Accounts people make and recover themselves (issue 31), in workerd with its local D1, Durable
// Objects and send_email binding: a stranger follows ChatGPT's authorization link, makes an
// account on the plugin's own page, proves the address with the code from the mail (read from
// wrangler dev's local explorer) and comes back to the client with a token (oauth4webapi); a user
// who forgot a password gets back in; and the forms tell nobody who has an account.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { parse as parseToml } from 'smol-toml';
import { startGateway } from './harness.mjs';
import { FormBrowser, decide, formFields, signIn } from './browser.mjs';
import { codeIn, linkIn, mailCount, nextMailTo } from './mail.mjs';
import { root } from '../../scripts/lib.mjs';
import { closeBrowser, launchBrowser } from './chromium.mjs';

const CALLBACK = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
const insecure = { [oauth.allowInsecureRequests]: true };
const todo = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8')).vars.PLUGIN;

let gw;
let as;
const client = { client_id: 'chatgpt' };
let clientAuth;

before(async () => {
  gw = await startGateway({
    mail: true,
    plugin: { ...todo, sign_in: { sign_up: 'open', sign_up_roles: ['member'], email_codes: true } },
  });
  const issuer = new URL(gw.baseUrl);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  clientAuth = oauth.ClientSecretBasic(gw.secrets.DEMO_CLIENT_SECRET);
});
after(async () => {
  await gw?.stop();
});

async function authorizationUrl() {
  const state = oauth.generateRandomState();
  const verifier = oauth.generateRandomCodeVerifier();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: CALLBACK, scope: 'todos:read', state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  return { url, state, verifier };
}

/** The href of the link named `text` on a page. */
function linkNamed(html, text) {
  const m = new RegExp(`<a href="([^"]+)">${text}</a>`).exec(html);
  assert.ok(m, `no "${text}" link in:\n${html}`);
  return m[1].replaceAll('&amp;', '&');
}

describe('sign-up from inside an authorization', () => {
  test('a stranger goes from the authorization link to a verified account and back to the client with a token', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const { url, state, verifier } = await authorizationUrl();
    const login = await browser.get(url);
    assert.equal(login.status, 200);
    const signupPage = await browser.get(linkNamed(login.text_, 'Create an account'));
    assert.equal(signupPage.status, 200, signupPage.text_);
    assert.match(signupPage.text_, /terms and privacy policy/);
    const email = `stranger-${Date.now()}@example.org`;
    const sent = await browser.post('/signup', { ...formFields(signupPage.text_, '/signup'), email, name: 'Stranger', password: 'a long enough password', terms: 'accepted' });
    assert.equal(sent.status, 200, sent.text_);
    const mail = await nextMailTo(gw.baseUrl, email);
    assert.equal(mail.from, '"Todo Demo" <no-reply@todo.example>');
    assert.match(mail.html, new RegExp(codeIn(mail)));
    const verified = await browser.post('/signup/verify', { ...formFields(sent.text_, '/signup/verify'), code: codeIn(mail) });
    assert.equal(verified.status, 303, verified.text_);
    const consent = await browser.get(verified.headers.get('location'));
    assert.equal(consent.status, 200, consent.text_);
    assert.match(consent.text_, new RegExp(email));
    const back = await decide(browser, consent);
    const params = oauth.validateAuthResponse(as, client, new URL(back.headers.get('location')), state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, CALLBACK, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    assert.equal(tokens.scope, 'todos:read', 'the member role the plugin gives new accounts');
    const api = await fetch(`${gw.baseUrl}/todos`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(api.status, 200);
  });

  test('the mailed link confirms the address too, and only once', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const form = await browser.get('/signup');
    const email = `linked-${Date.now()}@example.org`;
    await browser.post('/signup', { ...formFields(form.text_, '/signup'), email, password: 'a long enough password', terms: 'accepted' });
    const link = linkIn(await nextMailTo(gw.baseUrl, email), '/signup/verify');
    const phone = new FormBrowser(gw.baseUrl);
    const button = await phone.get(link);
    assert.equal(button.status, 200);
    const made = await phone.post('/signup/verify', formFields(button.text_, '/signup/verify'));
    assert.equal(made.status, 303, made.text_);
    assert.equal(made.headers.get('location'), '/account');
    assert.equal((await phone.get(link)).status, 400);
  });

  test('a taken address gets the same page, and its owner a mail with no code', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const form = await browser.get('/signup');
    const fields = formFields(form.text_, '/signup');
    const before = await mailCount(gw.baseUrl, 'demo@example.com');
    const fresh = `fresh-${Date.now()}@example.org`;
    const taken = await browser.post('/signup', { ...fields, email: 'demo@example.com', password: 'a long enough password', terms: 'accepted' });
    const untaken = await browser.post('/signup', { ...fields, email: fresh, password: 'a long enough password', terms: 'accepted' });
    assert.equal(taken.status, untaken.status);
    const strip = (r, email) => r.text_.replaceAll(email, 'E').replace(/name="challenge" value="[^"]+"/, '');
    assert.equal(strip(taken, 'demo@example.com'), strip(untaken, fresh));
    const owner = await nextMailTo(gw.baseUrl, 'demo@example.com', before);
    assert.match(owner.subject, /already have/);
    assert.doesNotMatch(owner.text, /\b\d{6}\b/);
  });
});

describe('a forgotten password', () => {
  test('comes back by a mailed link, which works once and signs in with the new password', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const login = await browser.get('/login');
    const form = await browser.get(linkNamed(login.text_, 'Forgot your password\\?'));
    const before = await mailCount(gw.baseUrl, 'demo@example.com');
    const asked = await browser.post('/login/reset', { ...formFields(form.text_, '/login/reset'), email: 'demo@example.com' });
    assert.equal(asked.status, 200);
    const link = linkIn(await nextMailTo(gw.baseUrl, 'demo@example.com', before), '/login/reset');
    const page = await browser.get(link);
    assert.equal(page.status, 200, page.text_);
    const set = await browser.post('/login/reset', { ...formFields(page.text_, '/login/reset'), password: 'my brand new password' });
    assert.equal(set.status, 200, set.text_);
    assert.equal((await browser.get(link)).status, 400, 'used');
    const other = new FormBrowser(gw.baseUrl);
    const again = await other.get('/login');
    assert.equal((await signIn(other, again, 'demo@example.com', gw.secrets.DEMO_PASSWORD)).status, 401);
    assert.equal((await signIn(other, again, 'demo@example.com', 'my brand new password')).status, 200);
  });

  test('asking tells nobody whether the address has an account: same status, same page, same time', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const form = await browser.get('/login/reset');
    const fields = formFields(form.text_, '/login/reset');
    const times = { known: [], unknown: [] };
    let pages = {};
    // Alternating, from addresses of their own (each address gets few mails an hour).
    for (let i = 0; i < 8; i++) {
      for (const kind of ['known', 'unknown']) {
        const email = kind === 'known' ? `demo+${i}@example.com` : `nobody-${i}@example.com`;
        if (kind === 'known') await makeAccount(email);
        const started = performance.now();
        const r = await browser.request('/login/reset', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': `198.51.100.${i * 2 + (kind === 'known' ? 0 : 1)}` },
          body: new URLSearchParams({ ...fields, email }).toString(),
        });
        times[kind].push(performance.now() - started);
        assert.equal(r.status, 200);
        pages[kind] = r.text_.replaceAll(email, 'E');
      }
    }
    assert.equal(pages.known, pages.unknown);
    const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
    const gap = Math.abs(median(times.known) - median(times.unknown));
    assert.ok(gap < Math.max(15, 0.5 * median(times.unknown)), `medians ${median(times.known)} vs ${median(times.unknown)} ms`);
  });
});

/** An account made through the admin API (the reset test's known addresses). */
async function makeAccount(email) {
  const res = await fetch(`${gw.baseUrl}/admin/api/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'some password 123' }),
  });
  assert.equal(res.status, 201, await res.text());
}

describe('sign-in by a mailed code', () => {
  test('the code from the mail signs in without a password', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const login = await browser.get('/login');
    const form = await browser.get(linkNamed(login.text_, 'Email me a sign-in code'));
    const email = `coded-${Date.now()}@example.org`;
    await makeAccount(email);
    const sent = await browser.post('/login/code', { ...formFields(form.text_, '/login/code'), email });
    assert.equal(sent.status, 200);
    const mail = await nextMailTo(gw.baseUrl, email);
    const signedIn = await browser.post('/login/code', { ...formFields(sent.text_, '/login/code'), code: codeIn(mail) });
    assert.equal(signedIn.status, 200, signedIn.text_);
    const account = await browser.get('/account');
    assert.match(account.text_, new RegExp(email));
  });
});

describe('invitations from the admin console', () => {
  test('an administrator invites an address in the console; its link makes the account with the roles chosen', async () => {
    const chromium = await launchBrowser();
    try {
      const context = await chromium.newContext();
      const page = await context.newPage();
      await page.goto(`${gw.baseUrl}/admin/`);
      await page.fill('#token', gw.secrets.ADMIN_TOKEN);
      await page.click('#signin-form button');
      await page.waitForSelector('#console:not([hidden])');
      const email = `invited-${Date.now()}@example.org`;
      await page.fill('#invite-form [name=email]', email);
      await page.check('#invite-form input[name=invite-roles][value=member]');
      await page.click('#invite-form button[type=submit]');
      await page.waitForSelector(`#invitations tbody tr:has-text("${email}")`);
      assert.match(await page.textContent(`#invitations tbody tr:has-text("${email}")`), /member/);
      const mail = await nextMailTo(gw.baseUrl, email);
      assert.match(mail.subject, /invited/);
      const link = /(http\S+\/signup\?invitation=[A-Za-z0-9_-]+)/.exec(mail.text)[1];
      // The invitee, in a browser of their own.
      const invitee = await chromium.newContext({ javaScriptEnabled: false });
      const form = await invitee.newPage();
      await form.goto(link);
      assert.equal(await form.inputValue('#email'), email);
      assert.equal(await form.getAttribute('#email', 'readonly'), '');
      await form.fill('#password', 'a long enough password');
      await form.check('input[name=terms]');
      await Promise.all([form.waitForNavigation(), form.click('button[type=submit]')]);
      assert.equal(new URL(form.url()).pathname, '/account');
      assert.match(await form.textContent('main'), new RegExp(email));
      await page.reload();
      await page.waitForSelector('#console:not([hidden])');
      assert.equal(await page.locator(`#invitations tbody tr:has-text("${email}")`).count(), 0, 'used, so no longer open');
    } finally {
      await closeBrowser(chromium);
    }
  });
});
