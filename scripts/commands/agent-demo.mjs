// A signed agent against the running demo: the demo agent (its directory served by
// demo/signed-agent.mjs) signs its calls to the todo plugin's agent route with Cloudflare's
// `web-bot-auth` package (the plugin's `agents.trusted` and the route's `agents`,
// scripts/demo-plugins.mjs). Each step prints what the gateway answered.
import { existsSync, readFileSync } from 'node:fs';
import { signatureHeaders } from 'web-bot-auth';
import { signerFromJWK } from 'web-bot-auth/crypto';
import { CommandError } from '../cli.mjs';
import { DEMO_FEATURES } from '../demo-plugins.mjs';
import { answered, reach, say, step, urlFlag } from '../demo-client.mjs';

const DIRECTORY = '/.well-known/http-message-signatures-directory';

/** `node scripts/agent-demo.mjs`: the flags are described in that entry. */
export async function main({ values }) {
  const base = urlFlag('base-url', values['base-url']).origin;
  const agent = urlFlag('agent', values.agent).origin;
  const keyFile = values['key-file'];
  if (!existsSync(keyFile)) throw new CommandError(`no agent key at ${keyFile}: npm start writes it when it starts the demo agent (or pass --key-file)`);
  let jwk;
  try {
    jwk = JSON.parse(readFileSync(keyFile, 'utf8'));
  } catch (e) {
    throw new CommandError(`${keyFile} is not the agent's key (a private JWK): ${e.message}`);
  }
  if (jwk?.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.d) throw new CommandError(`${keyFile} is not an Ed25519 private JWK (demo/signed-agent.mjs writes one)`);
  const signer = await signerFromJWK(jwk);
  const url = `${base}${DEMO_FEATURES.agentRoute}`;

  step('The agent publishes its public key in its directory');
  const directory = await reach('demo agent', agent, () => fetch(`${agent}${DIRECTORY}`));
  if (!directory.ok) throw new CommandError(`${agent}${DIRECTORY} answered ${directory.status}`);
  const { keys } = await directory.json();
  say(`GET ${agent}${DIRECTORY} → ${directory.status}: ${keys.map((k) => `${k.kty}/${k.crv} key ${k.kid}`).join(', ')}`);
  if (!keys.some((k) => k.kid === signer.keyid)) throw new CommandError(`the key in ${keyFile} (${signer.keyid}) is not in the agent's directory`);

  step(`An unsigned call to ${DEMO_FEATURES.agentRoute}`);
  await reach('gateway', base, async () => answered(`GET ${url}`, await fetch(url)));

  step('The agent signs the call (Signature-Agent, Signature-Input, Signature: Ed25519 over @authority and signature-agent, with a nonce)');
  const headers = { 'signature-agent': `"${agent}"` };
  const signed = await signatureHeaders({ method: 'GET', url, headers }, signer, { created: new Date(), expires: new Date(Date.now() + 60_000) });
  const sent = { ...headers, signature: signed.Signature, 'signature-input': signed['Signature-Input'] };
  say(`Signature-Agent: ${sent['signature-agent']}`);
  say(`Signature-Input: ${sent['signature-input']}`);
  const first = await answered(`GET ${url} (signed)`, await fetch(url, { headers: sent }));
  if (first.status === 200) say(`the origin answered: ${JSON.stringify(first.body)}`);

  step('The same signed request again (a replay)');
  await answered(`GET ${url} (the same signature)`, await fetch(url, { headers: sent }));
}
