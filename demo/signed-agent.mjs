#!/usr/bin/env node
// The demo's trusted agent, as Web Bot Auth describes one: an origin that publishes its Ed25519
// public keys at /.well-known/http-message-signatures-directory, so a gateway that trusts the
// origin (the todo plugin's `agents.trusted`) can check its HTTP Message Signatures (RFC 9421).
// The agent's private key stays in KEY_FILE (git-ignored, under .wrangler/ for `npm start`),
// where `node scripts/agent-demo.mjs` reads it to sign its calls. On 127.0.0.1 only.
//
//   PORT=8793 KEY_FILE=.wrangler/demo-agent-key.json node demo/signed-agent.mjs
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { jwkToKeyID, helpers } from 'web-bot-auth';

export const DIRECTORY_PATH = '/.well-known/http-message-signatures-directory';

/** The agent's key: read from `file`, or made and written there (the private JWK, mode 600). */
export async function agentKey(file) {
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const { kty, crv, x, d } = await crypto.subtle.exportKey('jwk', pair.privateKey);
  const kid = await jwkToKeyID({ kty, crv, x }, helpers.WEBCRYPTO_SHA256, helpers.BASE64URL_DECODE);
  const jwk = { kty, crv, x, d, kid };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  return jwk;
}

/** Serves the directory of the key in `keyFile`. Returns `{ origin, kid, stop() }`. */
export async function startSignedAgent({ port = 0, keyFile }) {
  if (!keyFile) throw new Error('signed-agent: KEY_FILE is required (where the private key is kept)');
  const { kty, crv, x, kid } = await agentKey(keyFile);
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || new URL(req.url, 'http://agent.invalid').pathname !== DIRECTORY_PATH) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end('{"error":"not_found"}');
    }
    res.writeHead(200, { 'content-type': 'application/http-message-signatures-directory+json', 'cache-control': 'max-age=300' });
    res.end(JSON.stringify({ keys: [{ kty, crv, x, kid }], purpose: 'ai' }));
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    kid,
    async stop() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const agent = await startSignedAgent({ port: Number(process.env.PORT ?? 8793), keyFile: process.env.KEY_FILE });
  console.log(`signed-agent: ${agent.origin}${DIRECTORY_PATH} (key ${agent.kid})`);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => agent.stop().then(() => process.exit(0)));
}
