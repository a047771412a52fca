// The redirect URI property, differentially: for a generated corpus of requested redirect URIs
// (userinfo, `@` in odd places, backslashes, tabs and newlines, percent-encoded delimiters, IPv6
// zones and mapped addresses, uppercase schemes, trailing dots, empty and odd ports, `localhost`
// variants), whenever the gateway sends the browser anywhere, the scheme, host and path that
// Node's WHATWG `URL` (the browser's rules) reads in the Location equal a registered URI's, and so
// does the port unless that URI is a loopback one (RFC 8252 §7.3). The client is first-party, so
// an accepted request redirects at once with a code: the case the outside review exploited.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from './harness.mjs';
import { FormBrowser, signIn } from './browser.mjs';

const REGISTERED = [
  'http://127.0.0.1/callback',
  'http://[::1]/callback',
  'http://localhost/callback',
  'https://app.example.com/cb',
  'https://app.example.com/cb?tenant=1',
];
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

let gw;
let clientId;
let browser;
before(async () => {
  gw = await startGateway();
  const res = await fetch(`${gw.baseUrl}/admin/api/clients`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Native app', kind: 'public', first_party: true, redirect_uris: REGISTERED }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  clientId = (await res.json()).id;
  browser = new FormBrowser(gw.baseUrl);
  const login = await browser.get(authorizeUrl(REGISTERED[0]));
  const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  assert.equal(signedIn.status, 303);
});
after(async () => {
  await gw?.stop();
});

function authorizeUrl(redirectUri) {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    state: 'st',
    scope: 'todos:read',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
  });
  return `${gw.baseUrl}/authorize?${query}`;
}

/** A small seeded generator, so a failure names an input that reproduces. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function corpus() {
  const schemes = ['http', 'https', 'HTTP', 'hTtP', 'http:', 'http:/', 'http:\\\\', ' http', 'http\t'];
  const userinfo = ['', '', '', '@', 'x@', ':@', 'a:b@', '[::1]:@', '127.0.0.1:@', 'localhost:@', '%40@', 'evil.example@'];
  const hosts = [
    '127.0.0.1', '[::1]', 'localhost', 'app.example.com',
    'evil.example', '127.0.0.1.', 'localhost.', 'LOCALHOST', 'LocalHost', '127.1', '0x7f.0.0.1', '0177.0.0.1',
    '2130706433', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[0:0:0:0:0:0:0:1]', '[::1%25eth0]', '[::1%eth0]',
    '[::7f00:1]', 'localhost%2eevil.example', 'app.example.com.', 'APP.example.com', 'app.example.com%2eevil.example',
    '127.0.0.1%00', 'xn--pp-kia.example.com', 'app.example.com\\evil.example', '[::1]]', '[::1',
  ];
  const ports = ['', '', '', ':', ':0', ':53117', ':80', ':443', ':x', ':65536', ':+1', ': 1', ':%31', ':0053117', ':8080:9'];
  const glue = ['', '', '', '@evil.example', '\\@evil.example', '%40evil.example', '\t', '\n', '\r', '#@evil.example', '?@evil.example', '/..', '\\', '%2f', ';@evil.example', '%5c@evil.example'];
  const paths = ['/callback', '/cb', '/cb?tenant=1', '/callback/', '/%63allback', '/Callback', '/callback/../callback', '/callback?', '/callback#x', '', '/cb?tenant=1&x=2', '/cb?tenant=%31', '//evil.example/callback'];
  const out = new Set();
  // The outside review's exploit, and its siblings, always.
  for (const h of ['[::1]', '127.0.0.1', 'localhost']) {
    out.add(`http://${h}:@evil.example/callback`);
    out.add(`http://${h}:80@evil.example/callback`);
    out.add(`http://${h}@evil.example/callback`);
    out.add(`http://${h}:53117/callback`);
  }
  for (const r of REGISTERED) out.add(r);
  const random = rng(20261126);
  const pick = (list) => list[Math.floor(random() * list.length)];
  // Loopback URIs on any port are the relaxation under test: many of them, all to be accepted.
  for (let i = 0; i < 60; i++) {
    out.add(`http://${pick(['127.0.0.1', '[::1]', 'localhost'])}:${1 + Math.floor(random() * 65535)}/callback`);
  }
  while (out.size < 1500) {
    out.add(`${pick(schemes)}://${pick(userinfo)}${pick(hosts)}${pick(ports)}${pick(glue)}${pick(paths)}`);
  }
  return [...out];
}

/** The registered URI the Location lands on under the WHATWG rules, if any. */
function landsOnRegistered(location) {
  let url;
  try {
    url = new URL(location);
  } catch {
    return null;
  }
  if (url.username !== '' || url.password !== '') return null;
  return (
    REGISTERED.find((r) => {
      const reg = new URL(r);
      const portFree = reg.protocol === 'http:' && LOOPBACK.has(reg.hostname);
      return (
        url.protocol === reg.protocol &&
        url.hostname === reg.hostname &&
        (portFree || url.port === reg.port) &&
        url.pathname === reg.pathname
      );
    }) ?? null
  );
}

test('every redirect the gateway sends for a generated corpus of redirect URIs lands on a registered scheme, host and path', async () => {
  const candidates = corpus();
  const accepted = [];
  const violations = [];
  for (const candidate of candidates) {
    const res = await browser.get(authorizeUrl(candidate));
    const location = res.headers.get('location');
    if (res.status === 400) {
      assert.equal(location, null, candidate);
      continue;
    }
    assert.equal(res.status, 302, `${JSON.stringify(candidate)}: ${res.status} ${res.text_.slice(0, 200)}`);
    if (landsOnRegistered(location)) accepted.push(candidate);
    else violations.push({ candidate, location });
  }
  assert.deepEqual(violations, [], 'redirects that left the registered hosts');
  // The property is not vacuous: the registered URIs and loopback ports are accepted.
  for (const good of [...REGISTERED, 'http://[::1]:53117/callback', 'http://127.0.0.1:53117/callback', 'http://localhost:53117/callback']) {
    assert.ok(accepted.includes(good), `${good} should be accepted`);
  }
  assert.ok(accepted.length >= 60, `only ${accepted.length} accepted`);
  console.log(`redirect URI corpus: ${candidates.length} requested, ${accepted.length} accepted, 0 violations`);
});
