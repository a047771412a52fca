// Signed agents (HTTP Message Signatures, RFC 9421, in the Web Bot Auth profile) end to end in
// workerd. The agent is played by the test: its Ed25519 keys are generated here, its key
// directory is served on 127.0.0.1 (the gateway runs with CLIENT_METADATA_ALLOW_LOOPBACK, as in
// local development), and its requests are signed by Cloudflare's own `web-bot-auth` package. The
// plugin is a `none` plugin locked to an address range the test does not call from, which a
// trusted agent's signature stands in for (`instead_of_ip`); its `/public/egress.json` route takes only
// signed calls. Every refusal is a 403 with nothing forwarded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { signatureHeaders, jwkToKeyID, helpers } from 'web-bot-auth';
import { signerFromJWK } from 'web-bot-auth/crypto';
import { startGateway } from './harness.mjs';
import { freePort, root } from '../../scripts/lib.mjs';

let gw;
let directory;
let agentOrigin;
let current; // { publicJwk, signer }
const listed = [];
let directoryFetches = 0;

async function newKey() {
  const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const privateJwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
  const publicJwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
  const kid = await jwkToKeyID(publicJwk, helpers.WEBCRYPTO_SHA256, helpers.BASE64URL_DECODE);
  return { publicJwk: { kty: 'OKP', crv: 'Ed25519', x: publicJwk.x, kid }, signer: await signerFromJWK(privateJwk), kid };
}

before(async () => {
  const port = await freePort();
  agentOrigin = `http://127.0.0.1:${port}`;
  current = await newKey();
  listed.push(current.publicJwk);
  directory = createServer((req, res) => {
    if (req.url !== '/.well-known/http-message-signatures-directory') {
      res.writeHead(404).end();
      return;
    }
    directoryFetches += 1;
    res.writeHead(200, { 'content-type': 'application/http-message-signatures-directory+json', 'cache-control': 'max-age=3600' });
    res.end(JSON.stringify({ keys: listed, purpose: 'ai' }));
  });
  await new Promise((resolve) => directory.listen(port, '127.0.0.1', resolve));
  const todo = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8')).vars.PLUGIN;
  gw = await startGateway({
    vars: { CLIENT_METADATA_ALLOW_LOOPBACK: 'true' },
    plugin: {
      ...todo,
      auth: { type: 'none', allowed_cidrs: ['203.0.113.0/24'] },
      // The demo document asks for OAuth tokens; this plugin checks none.
      routes_from_openapi: false,
      agents: { trusted: [agentOrigin], instead_of_ip: true },
      routes: [
        { path: '/public/egress.json', methods: ['GET'], agents: [agentOrigin] },
        { path: '/public/*', methods: ['GET', 'POST'] },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await new Promise((resolve) => directory?.close(resolve));
});

/** Headers for `method path` signed by `key`, as the `web-bot-auth` package makes them. */
async function signed(path, { key = current, method = 'GET', created = new Date(), expires = new Date(Date.now() + 60_000), agent = `"${agentOrigin}"`, components } = {}) {
  const url = `${gw.baseUrl}${path}`;
  const headers = agent ? { 'signature-agent': agent } : {};
  const signature = await signatureHeaders({ method, url, headers }, key.signer, { created, expires, ...(components ? { components } : {}) });
  return { ...headers, signature: signature.Signature, 'signature-input': signature['Signature-Input'] };
}

const call = (path, headers = {}, method = 'GET') => fetch(`${gw.baseUrl}${path}`, { method, headers });

async function refusedWithNothingForwarded(res, why) {
  assert.equal(res.status, 403, why);
  const body = await res.json();
  assert.equal(body.error, 'access_denied', why);
  assert.deepEqual(await gw.originRequests(), [], `${why}: nothing forwarded`);
}

describe('signed agents (Web Bot Auth)', () => {
  test('an unsigned call from outside the allowed range is refused', async () => {
    await gw.clearOriginRequests();
    await refusedWithNothingForwarded(await call('/public/hello'), 'unsigned');
    assert.equal(directoryFetches, 0, 'no signature, no directory fetch');
  });

  test('a trusted agent\'s signature admits the call, and the origin is told who signed', async () => {
    await gw.clearOriginRequests();
    const headers = await signed('/public/hello');
    assert.match(headers['signature-input'], /tag="web-bot-auth"/);
    const res = await call('/public/hello', headers);
    assert.equal(res.status, 200, await res.clone().text());
    const [seen] = await gw.originRequests();
    assert.equal(seen.headers['x-portcullis-agent'], agentOrigin);
    // The signature is the gateway's to check, not the origin's to log and replay.
    for (const name of ['signature', 'signature-input', 'signature-agent']) assert.equal(seen.headers[name], undefined, name);
    assert.equal(directoryFetches, 1);
    // The directory is cached: a second call fetches nothing.
    assert.equal((await call('/public/hello', await signed('/public/hello'))).status, 200);
    assert.equal(directoryFetches, 1);
    // A route that takes only signed calls.
    assert.equal((await call('/public/egress.json', await signed('/public/egress.json'))).status, 200);
  });

  test('ChatGPT\'s components (@method and @path covered too) are read the same way', async () => {
    await gw.clearOriginRequests();
    const headers = await signed('/public/hello', { components: ['@authority', '@method', '@path', 'signature-agent'] });
    const res = await call('/public/hello', headers);
    assert.equal(res.status, 200, await res.clone().text());
    // The same signature on another path or method does not hold.
    const moved = await signed('/public/hello', { components: ['@authority', '@method', '@path', 'signature-agent'] });
    await gw.clearOriginRequests();
    await refusedWithNothingForwarded(await call('/public/egress.json', moved), 'moved to another path');
    const post = await signed('/public/hello', { components: ['@authority', '@method', '@path', 'signature-agent'] });
    await refusedWithNothingForwarded(await call('/public/hello', post, 'POST'), 'another method');
  });

  test('replayed, expired, untrusted, forged and unknown-key signatures are refused', async () => {
    const good = await signed('/public/hello');
    assert.equal((await call('/public/hello', good)).status, 200);
    await gw.clearOriginRequests();
    await refusedWithNothingForwarded(await call('/public/hello', good), 'replayed nonce');

    const expired = await signed('/public/hello', { created: new Date(Date.now() - 120_000), expires: new Date(Date.now() - 60_000) });
    await refusedWithNothingForwarded(await call('/public/hello', expired), 'expired');

    const fetchesBefore = directoryFetches;
    const untrusted = await signed('/public/hello', { agent: '"https://agent.example.com"' });
    await refusedWithNothingForwarded(await call('/public/hello', untrusted), 'untrusted agent');
    assert.equal(directoryFetches, fetchesBefore, 'an untrusted agent\'s directory is never fetched');

    const forged = await signed('/public/hello');
    forged.signature = forged.signature.replace(/:(.)/, (_, c) => `:${c === 'A' ? 'B' : 'A'}`);
    await refusedWithNothingForwarded(await call('/public/hello', forged), 'forged signature');

    const stranger = await newKey();
    await refusedWithNothingForwarded(await call('/public/hello', await signed('/public/hello', { key: stranger })), 'a key not in the directory');
    assert.ok(directoryFetches <= fetchesBefore + 1, 'an unknown key refetches the directory at most once');

    const unsignedAgent = await signed('/public/hello', { agent: null });
    unsignedAgent['signature-agent'] = `"${agentOrigin}"`;
    await refusedWithNothingForwarded(await call('/public/hello', unsignedAgent), 'Signature-Agent not covered');
  });
});
