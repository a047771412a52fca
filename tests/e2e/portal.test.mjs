// The login portal and consent pages in headless Chromium with JavaScript disabled: what a
// person sees and clicks, and the headers that keep the pages from being framed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway } from './harness.mjs';
import { closeBrowser, launchBrowser } from './chromium.mjs';
import { root } from '../../scripts/lib.mjs';

const CALLBACK = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
let gw;
let browser;

before(async () => {
  [gw, browser] = await Promise.all([startGateway(), launchBrowser()]);
});
after(async () => {
  await closeBrowser(browser);
  await gw?.stop();
});

/** Every test here looks at the consent page, which a user who allowed ChatGPT before would not see again. */
function authorizeUrl(state = 'st-1') {
  const url = new URL('/authorize', gw.baseUrl);
  url.search = new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: CALLBACK, scope: 'todos:read todos:write', state, prompt: 'consent' });
  return url.toString();
}

/** A page with JavaScript off. */
async function newPage() {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  return { page, context };
}

/**
 * Clicks a consent button and returns where the browser was sent: the Location of the 303. The
 * browser then fails to reach chatgpt.com, as it must: no name resolves off this machine.
 */
async function clickAndFollow(page, selector) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/authorize' && r.request().method() === 'POST'),
    page.click(selector),
  ]);
  assert.equal(response.status(), 303);
  return new URL(response.headers().location);
}

async function screenshot(page, name) {
  const dir = join(root, 'target', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

describe('the portal in Chromium without JavaScript', () => {
  test('sign in, see the consent screen, allow, land on the client with a code', async () => {
    const { page, context } = await newPage();
    const response = await page.goto(authorizeUrl());
    assert.equal(response.status(), 200);
    assert.equal(await page.title(), 'Sign in · Todo Demo');
    await screenshot(page, 'login');
    await page.fill('#email', 'demo@example.com');
    await page.fill('#password', gw.secrets.DEMO_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert.equal(await page.title(), 'Allow access? · Todo Demo');
    const text = await page.textContent('main');
    assert.match(text, /ChatGPT/);
    assert.match(text, /chatgpt\.com/);
    assert.match(text, /todos:read/);
    assert.match(text, /demo@example\.com/);
    await screenshot(page, 'consent');
    const back = await clickAndFollow(page, 'button[value=allow]');
    assert.equal(back.origin + back.pathname, CALLBACK);
    assert.ok(back.searchParams.get('code'));
    assert.equal(back.searchParams.get('state'), 'st-1');
    assert.equal(back.searchParams.get('iss'), gw.baseUrl);
    await context.close();
  });

  test('a wrong password shows a readable error and no session', async () => {
    const { page, context } = await newPage();
    await page.goto(authorizeUrl());
    await page.fill('#email', 'demo@example.com');
    await page.fill('#password', 'not the password');
    const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert.equal(response.status(), 401);
    assert.match(await page.textContent('[role=alert]'), /Wrong email or password/);
    assert.equal(await page.inputValue('#email'), 'demo@example.com');
    const cookies = await context.cookies();
    assert.ok(!cookies.some((c) => c.name === 'portcullis_session'));
    const session = cookies.find((c) => c.name === 'portcullis_csrf');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    await context.close();
  });

  test('deny sends the user back with access_denied', async () => {
    const { page, context } = await newPage();
    await page.goto(authorizeUrl('st-2'));
    await page.fill('#email', 'demo@example.com');
    await page.fill('#password', gw.secrets.DEMO_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    const back = await clickAndFollow(page, 'button[value=deny]');
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.equal(back.searchParams.get('state'), 'st-2');
    await context.close();
  });

  test('sign out from the consent screen ends the session', async () => {
    const { page, context } = await newPage();
    await page.goto(authorizeUrl());
    await page.fill('#email', 'demo@example.com');
    await page.fill('#password', gw.secrets.DEMO_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    await Promise.all([page.waitForNavigation(), page.click('text=Sign out')]);
    assert.match(await page.textContent('main'), /signed out/);
    await page.goto(authorizeUrl());
    assert.equal(await page.title(), 'Sign in · Todo Demo');
    await context.close();
  });

  test('an unknown client gets a readable error page, not a redirect', async () => {
    const { page, context } = await newPage();
    const response = await page.goto(`${gw.baseUrl}/authorize?response_type=code&client_id=nobody&redirect_uri=${encodeURIComponent(CALLBACK)}`);
    assert.equal(response.status(), 400);
    assert.match(await page.textContent('main'), /not registered/);
    assert.equal(new URL(page.url()).origin, gw.baseUrl);
    await context.close();
  });

  test('the account page lists the apps with access and revokes one', async () => {
    const opened = await newPage();
    const { context } = opened;
    let { page } = opened;
    await page.goto(authorizeUrl('st-acct'));
    await page.fill('#email', 'demo@example.com');
    await page.fill('#password', gw.secrets.DEMO_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    const back = await clickAndFollow(page, 'button[value=allow]');
    assert.ok(back.searchParams.get('code'));
    // The first tab is still failing to reach chatgpt.com; open the account page in a new one.
    const accountPage = await context.newPage();
    await accountPage.goto(`${gw.baseUrl}/account`);
    await page.close();
    page = accountPage;
    assert.equal(await page.title(), 'Your account · Todo Demo');
    const before = await page.locator('li', { hasText: 'ChatGPT' }).locator('button', { hasText: 'Revoke' }).count();
    assert.ok(before >= 1);
    await screenshot(page, 'account');
    await Promise.all([page.waitForNavigation(), page.locator('li', { hasText: 'ChatGPT' }).locator('button', { hasText: 'Revoke' }).first().click()]);
    const after = await page.locator('li', { hasText: 'ChatGPT' }).locator('button', { hasText: 'Revoke' }).count();
    assert.equal(after, before - 1);
    await context.close();
  });

  test('the login page refuses to be framed', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(authorizeUrl());
    assert.equal(response.headers()['x-frame-options'], 'DENY');
    assert.match(response.headers()['content-security-policy'], /frame-ancestors 'none'/);
    await page.setContent(`<iframe id="f" src="${authorizeUrl()}" width="400" height="400"></iframe>`);
    await page.waitForTimeout(500);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    const framedText = frame ? await frame.evaluate(() => document.body?.innerText ?? '').catch(() => '') : '';
    assert.ok(!/Sign in/.test(framedText), 'the login form rendered inside a frame');
    await context.close();
  });
});
