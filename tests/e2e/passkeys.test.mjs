// Passkeys in real Chromium with JavaScript on and a virtual authenticator (the Chrome DevTools
// Protocol's WebAuthn domain): a user signs in with the password, adds a passkey on the account
// page, signs out, and signs in with the passkey inside an authorization, landing on the consent
// page; a posted passkey answer replayed is refused; and with the credential gone from the
// authenticator the sign-in page still takes the password.
//
// WebAuthn forbids IP addresses as RP IDs, so the plugin's public base URL is
// http://localhost:PORT here (a secure context, as every loopback origin is), and Chromium maps
// localhost to the gateway's 127.0.0.1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { parse as parseToml } from 'smol-toml';
import { startGateway } from './harness.mjs';
import { CHROMIUM_PATH, closeBrowser } from './chromium.mjs';
import { root } from '../../scripts/lib.mjs';

const CALLBACK = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
const todo = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8')).vars.PLUGIN;

let gw;
let browser;
let base;

before(async () => {
  [gw, browser] = await Promise.all([
    startGateway({ plugin: ({ port }) => ({ ...todo, public_base_url: `http://localhost:${port}` }) }),
    chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // localhost is the gateway; nothing else resolves off this machine.
        '--host-resolver-rules=MAP localhost 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      ],
    }),
  ]);
  base = `http://localhost:${gw.port}`;
});
after(async () => {
  await closeBrowser(browser);
  await gw?.stop();
});

function authorizeUrl(state = 'st-pk') {
  const url = new URL('/authorize', base);
  url.search = new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: CALLBACK, scope: 'todos:read', state, prompt: 'consent', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
  return url.toString();
}

/** A page with JavaScript on and a virtual platform authenticator that verifies its user. */
async function pageWithAuthenticator() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  return { context, page, cdp, authenticatorId };
}

async function signInWithPassword(page) {
  await page.goto(`${base}/login`);
  await page.fill('#email', 'demo@example.com');
  await page.fill('#password', gw.secrets.DEMO_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type=submit]')]);
  assert.match(await page.textContent('main'), /You are signed in/);
}

/** Clicks the sign-in page's passkey button; the response to the POST it makes. */
async function signInWithPasskey(page) {
  const button = page.locator('form[data-passkey="sign-in"] button');
  await button.waitFor({ state: 'visible' });
  const posted = page.waitForResponse((r) => new URL(r.url()).pathname === '/login/passkey');
  await button.click();
  return posted;
}

describe('passkeys in Chromium with a virtual authenticator', () => {
  let session;

  test('add a passkey on the account page, then sign in with it inside an authorization', async () => {
    session = await pageWithAuthenticator();
    const { page, context, cdp, authenticatorId } = session;
    await signInWithPassword(page);
    const account = await page.goto(`${base}/account`);
    assert.match(account.headers()['content-security-policy'], /script-src 'self'/);
    assert.doesNotMatch(account.headers()['content-security-policy'], /unsafe/);
    await page.fill('#passkey-name', 'Chromium');
    await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/account/passkeys' && r.status() === 303),
      page.click('form[data-passkey="register"] button[type=submit]'),
    ]);
    await page.waitForLoadState();
    assert.match(await page.textContent('main'), /Chromium/);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0].isResidentCredential, true);
    assert.equal(credentials[0].rpId, 'localhost');

    await Promise.all([page.waitForNavigation(), page.click('form[action="/logout"] button')]);
    assert.match(await page.textContent('main'), /signed out/);

    // The browser's autofill (conditional mediation) offers the passkey as the page opens, and
    // the virtual authenticator picks it: the sign-in needs no click.
    const autofilled = page.waitForResponse((r) => new URL(r.url()).pathname === '/login/passkey');
    const signInPage = await page.goto(authorizeUrl('st-autofill'));
    assert.match(signInPage.headers()['content-security-policy'], /script-src 'self'/);
    const posted = await autofilled;
    assert.equal(posted.status(), 303);
    assert.match(posted.headers().location, /^\/authorize\?.*state=st-autofill/);
    await page.locator('button[value=allow]').waitFor();
    assert.equal(await page.title(), 'Allow access? · Todo Demo');
    assert.match(await page.textContent('main'), /demo@example\.com/);
    // Pages without a ceremony stay without scripts.
    const consent = await page.reload();
    assert.doesNotMatch(consent.headers()['content-security-policy'], /script-src/);

    // The button, where the browser has no autofill for passkeys.
    await context.clearCookies();
    await page.addInitScript(() => {
      Object.defineProperty(PublicKeyCredential, 'isConditionalMediationAvailable', { value: undefined });
    });
    await page.goto(authorizeUrl('st-button'));
    assert.equal(await page.title(), 'Sign in · Todo Demo');
    assert.equal(await page.getAttribute('#email', 'autocomplete'), 'username webauthn');
    const clicked = await signInWithPasskey(page);
    assert.equal(clicked.status(), 303);
    assert.match(clicked.headers().location, /state=st-button/);
    await page.locator('button[value=allow]').waitFor();
    assert.equal(await page.title(), 'Allow access? · Todo Demo');
    await context.clearCookies();
  });

  test('a posted passkey answer replayed is refused', async () => {
    const { page, context } = session;
    await page.goto(`${base}/login`);
    // Hold the browser's post back: it is sent twice below, as an onlooker who copied it would.
    let held;
    const caught = new Promise((resolve) => {
      page.route('**/login/passkey', async (route) => {
        held = route.request().postData();
        await route.abort();
        resolve();
      });
    });
    await page.locator('form[data-passkey="sign-in"] button').waitFor({ state: 'visible' });
    await page.click('form[data-passkey="sign-in"] button');
    await caught;
    await page.unroute('**/login/passkey');
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const send = () =>
      fetch(`${gw.baseUrl}/login/passkey`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: held,
        redirect: 'manual',
      });
    const first = await send();
    assert.equal(first.status, 200);
    assert.ok(first.headers.getSetCookie().some((c) => c.startsWith('portcullis_session=')));
    const again = await send();
    assert.equal(again.status, 400);
    assert.match(await again.text(), /used already/);
    assert.ok(!again.headers.getSetCookie().some((c) => c.startsWith('portcullis_session=')));
  });

  test('with the credential gone from the authenticator, the password still signs in', async () => {
    const { page, context, cdp, authenticatorId } = session;
    await context.clearCookies();
    await cdp.send('WebAuthn.clearCredentials', { authenticatorId });
    await page.goto(`${base}/login`);
    await page.locator('form[data-passkey="sign-in"] button').waitFor({ state: 'visible' });
    await page.click('form[data-passkey="sign-in"] button');
    await page.locator('.passkey-note', { hasText: 'No passkey was used' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/login');
    await signInWithPassword(page);
    await context.close();
  });
});
