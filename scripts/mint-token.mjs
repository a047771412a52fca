#!/usr/bin/env node
// Developer tool: signs an access token for a user with the local SIGNING_KEY from .dev.vars,
// exactly as the gateway's token endpoint shapes them (RFC 9068: typ at+jwt, EdDSA, kid = RFC 7638
// thumbprint). For trying the proxy from a shell; production tokens come from the OAuth flow.
//
//   node scripts/mint-token.mjs [--sub usr_demo] [--scope "todos:read todos:write"] [--ttl 3600]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { SignJWT, importJWK, calculateJwkThumbprint } from 'jose';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { parseDevVars, root } from './lib.mjs';

/** The private JWK for a base64url Ed25519 seed. */
export async function jwkFromSeed(seed) {
  const d = Buffer.from(seed, 'base64url');
  // PKCS#8 wrapper for a raw Ed25519 seed (RFC 8410).
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), d]);
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const jwk = privateKey.export({ format: 'jwk' });
  const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: publicJwk.x });
  return { jwk, kid };
}

export async function mintAccessToken({ seed, issuer, audience, sub, clientId = 'dev-cli', scope, ttl = 3600, now = Math.floor(Date.now() / 1000), typ = 'at+jwt', nbf }) {
  const { jwk, kid } = await jwkFromSeed(seed);
  const key = await importJWK(jwk, 'EdDSA');
  return new SignJWT({ scope, client_id: clientId, ...(nbf === undefined ? {} : { nbf }) })
    .setProtectedHeader({ alg: 'EdDSA', typ, kid })
    .setIssuer(issuer)
    .setSubject(sub)
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .setJti(crypto.randomUUID())
    .sign(key);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string', default: 'usr_demo' },
      scope: { type: 'string', default: 'todos:read todos:write' },
      ttl: { type: 'string', default: '3600' },
      'base-url': { type: 'string', default: 'http://127.0.0.1:8787' },
      audience: { type: 'string' },
    },
  });
  const vars = parseDevVars(readFileSync(join(root, '.dev.vars'), 'utf8'));
  const token = await mintAccessToken({
    seed: vars.SIGNING_KEY,
    issuer: values['base-url'],
    audience: values.audience ?? values['base-url'],
    sub: values.sub,
    scope: values.scope,
    ttl: Number(values.ttl),
  });
  process.stdout.write(`${token}\n`);
}
