// Mail through Resend's HTTP API (MAIL_PROVIDER = "resend"), against a local stand-in that
// records what reaches it: the request Resend documents (POST /emails, a bearer key, JSON with
// from, to, subject, text and html), sent after the response; and a provider that fails costs
// the person nothing but the mail, logged by the recipient's domain only, never the key.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { startGateway } from './harness.mjs';
import { FormBrowser, formFields } from './browser.mjs';
import { freePort, root } from '../../scripts/lib.mjs';

const API_KEY = 're_test_0123456789abcdef';
const todo = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8')).vars.PLUGIN;
const received = [];
let failNext = false;
let resend;
let gw;

before(async () => {
  const port = await freePort();
  resend = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (failNext) {
        failNext = false;
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"name":"internal_server_error","message":"stand-in failure"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `re_${received.length}` }));
    });
  });
  await new Promise((r) => resend.listen(port, '127.0.0.1', r));
  gw = await startGateway({
    plugin: { ...todo, sign_in: { sign_up: 'open' } },
    vars: { MAIL_FROM: 'Todo Demo <no-reply@todo.example>', MAIL_PROVIDER: 'resend', RESEND_API_KEY: API_KEY, RESEND_API_BASE: `http://127.0.0.1:${port}` },
  });
});
after(async () => {
  await gw?.stop();
  await new Promise((r) => resend?.close(r));
});

async function signUp(email) {
  const browser = new FormBrowser(gw.baseUrl);
  const form = await browser.get('/signup');
  return browser.post('/signup', { ...formFields(form.text_, '/signup'), email, password: 'a long enough password', terms: 'accepted' });
}

async function waitForRequests(n) {
  for (let i = 0; i < 100 && received.length < n; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(received.length, n, 'mail reached the provider');
}

test('a sign-up code goes to Resend as its API documents', async () => {
  const sent = await signUp('resend-user@example.org');
  assert.equal(sent.status, 200, sent.text_);
  await waitForRequests(1);
  const [call] = received;
  assert.equal(call.method, 'POST');
  assert.equal(call.url, '/emails');
  assert.equal(call.headers.authorization, `Bearer ${API_KEY}`);
  assert.match(call.headers['content-type'], /^application\/json/);
  const body = JSON.parse(call.body);
  assert.equal(body.from, 'Todo Demo <no-reply@todo.example>');
  assert.deepEqual(body.to, ['resend-user@example.org']);
  assert.match(body.subject, /^\d{6} is your Todo Demo sign-up code$/);
  assert.match(body.text, /\/signup\/verify\?token=/);
  assert.match(body.html, /<a href="http:\/\/127\.0\.0\.1:\d+\/signup\/verify\?token=/);
});

test('a failing provider costs the mail, not the page, and the log names only the domain', async () => {
  failNext = true;
  const sent = await signUp('unlucky@failing.example');
  assert.equal(sent.status, 200, 'the page does not wait for the mail');
  await waitForRequests(2);
  await gw.waitForLog(/mail to an address at failing\.example not sent: Resend answered 500/);
  assert.doesNotMatch(gw.logs(), new RegExp(API_KEY));
  assert.doesNotMatch(gw.logs(), /unlucky@/);
});
