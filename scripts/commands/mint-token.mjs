// Developer tool: signs an access token for a user with the local SIGNING_KEY from .dev.vars (or,
// with --alg RS256, its RSA_SIGNING_KEY), exactly as the gateway's token endpoint shapes them
// (RFC 9068: typ at+jwt, kid = RFC 7638 thumbprint). For trying the proxy from a shell;
// production tokens come from the OAuth flow.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, importJWK, calculateJwkThumbprint } from 'jose';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { CommandError, UsageError } from '../cli.mjs';
import { parseDevVars, root } from '../lib.mjs';

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

/** The signing key and `kid` for an RSA private JWK (the RSA_SIGNING_KEY secret's text). */
export async function rsaKey(jwkText) {
  const jwk = JSON.parse(jwkText);
  return { key: await importJWK(jwk, 'RS256'), kid: await calculateJwkThumbprint({ kty: 'RSA', n: jwk.n, e: jwk.e }) };
}

/** `seed` signs EdDSA; `rsaJwk` (JWK text) instead signs RS256. */
export async function mintAccessToken({ seed, rsaJwk, issuer, audience, sub, clientId = 'dev-cli', scope, ttl = 3600, now = Math.floor(Date.now() / 1000), typ = 'at+jwt', nbf }) {
  let alg = 'EdDSA';
  let key;
  let kid;
  if (rsaJwk) {
    alg = 'RS256';
    ({ key, kid } = await rsaKey(rsaJwk));
  } else {
    const ed = await jwkFromSeed(seed);
    key = await importJWK(ed.jwk, 'EdDSA');
    kid = ed.kid;
  }
  return new SignJWT({ scope, client_id: clientId, ...(nbf === undefined ? {} : { nbf }) })
    .setProtectedHeader({ alg, typ, kid })
    .setIssuer(issuer)
    .setSubject(sub)
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .setJti(crypto.randomUUID())
    .sign(key);
}

/** `node scripts/mint-token.mjs`: the flags are described in that entry. */
export async function main({ values }) {
  const devVars = join(root, '.dev.vars');
  if (!existsSync(devVars)) throw new CommandError(`${devVars} does not exist: run npm start once, which writes the local keys`);
  if (!['EdDSA', 'RS256'].includes(values.alg)) throw new UsageError('--alg is EdDSA or RS256');
  if (!/^[1-9][0-9]*$/.test(values.ttl)) throw new UsageError('--ttl is a number of seconds');
  const vars = parseDevVars(readFileSync(devVars, 'utf8'));
  if (values.alg === 'RS256' && !vars.RSA_SIGNING_KEY) throw new CommandError('.dev.vars has no RSA_SIGNING_KEY (npm start adds one)');
  const token = await mintAccessToken({
    seed: vars.SIGNING_KEY,
    rsaJwk: values.alg === 'RS256' ? vars.RSA_SIGNING_KEY : undefined,
    issuer: values['base-url'],
    audience: values.audience ?? values['base-url'],
    sub: values.sub,
    scope: values.scope,
    ttl: Number(values.ttl),
  });
  process.stdout.write(`${token}\n`);
}
