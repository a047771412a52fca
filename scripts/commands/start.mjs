// `npm start` (scripts/start.mjs has installed what running needs): builds, migrates and seeds the
// local D1 database, then serves the gateway with `wrangler dev` on 127.0.0.1 in front of two demo origins, as two
// plugins picked by host (PLUGINS): the todo API (wrangler.toml's PLUGIN) on 127.0.0.1, and the
// demo MCP server on localhost, with its own resource (its URL). State (D1, Durable Objects, the
// demo's todos) lives under .wrangler/ and survives restarts. Ctrl-C stops everything.
import { join } from 'node:path';
import { build } from '../build.mjs';
import { writeFileSync, readFileSync } from 'node:fs';
import { ensureDevVars, freePort, localInboxUrl, node22, root, startProcess, stopTogether, waitFor, withMailBinding, wrangler, wranglerBin, wranglerEnv } from '../lib.mjs';
import { applySeed } from './seed.mjs';
import { DEMO_FEATURES, DEMO_IDP, DEMO_STRIPE, demoFeatures, demoIdentityProviders, demoIdpRedirectUris, demoPlugins } from '../demo-plugins.mjs';

async function pickPort(preferred) {
  const free = await freePort();
  // Use the preferred port when it is free; otherwise any free one.
  const probe = await new Promise((resolve) => {
    import('node:net').then(({ createServer }) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(preferred, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  });
  return probe ? preferred : free;
}

/** `npm start`: the flags are described in scripts/start.mjs, which has run setup.sh --run. */
export async function main({ values }) {
  const { secrets, created } = ensureDevVars();
  if (created.length > 0) console.log(`start: wrote new local secrets to .dev.vars (${created.join(', ')})`);

  build();

  const gatewayPort = await pickPort(Number(values.port));
  const originPort = await pickPort(Number(process.env.ORIGIN_PORT ?? 8788));
  const mcpPort = await pickPort(Number(process.env.MCP_ORIGIN_PORT ?? 8789));
  const idpPort = await pickPort(Number(process.env.IDP_PORT ?? 8790));
  const idpUrl = `http://127.0.0.1:${idpPort}`;
  const stripePort = await pickPort(Number(process.env.STRIPE_PORT ?? 8791));
  const stripeUrl = `http://127.0.0.1:${stripePort}`;
  const baseUrl = `http://127.0.0.1:${gatewayPort}`;
  const originUrl = `http://127.0.0.1:${originPort}`;
  // The MCP server is the same gateway on another host name: the Host header picks the plugin.
  const mcpBaseUrl = `http://localhost:${gatewayPort}`;
  const mcpUrl = `${mcpBaseUrl}/mcp`;
  const mcpOriginUrl = `http://127.0.0.1:${mcpPort}`;
  // Token exchange, the enterprise provider (ID-JAG), DPoP and the signed agent (demoFeatures).
  const features = demoFeatures({
    baseUrl,
    mcpBaseUrl,
    secrets,
    stateDir: join(root, '.wrangler'),
    enterprisePort: await pickPort(Number(process.env.ENTERPRISE_IDP_PORT ?? DEMO_FEATURES.ports.enterpriseIdp)),
    agentPort: await pickPort(Number(process.env.AGENT_PORT ?? DEMO_FEATURES.ports.agent)),
  });

  console.log('start: applying D1 migrations to the local database');
  wrangler(['d1', 'migrations', 'apply', 'DB', '--local']);
  console.log('start: seeding the demo (demo/seed.json, demo/mcp-seed.json)');
  applySeed({ baseUrl, secrets });
  applySeed({ file: join(root, 'demo', 'mcp-seed.json'), baseUrl, secrets, placeholders: { MCP_RESOURCE: mcpUrl } });

  const origin = startProcess(process.execPath, [join(root, 'demo', 'origin.mjs')], {
    env: { ...process.env, PORT: String(originPort), DATA_FILE: join(root, '.wrangler', 'demo-origin.json') },
    name: 'origin',
    log: 'tee',
  });
  const mcpOrigin = startProcess(process.execPath, [join(root, 'demo', 'mcp-origin.mjs')], {
    env: { ...process.env, PORT: String(mcpPort) },
    name: 'mcp-origin',
    log: 'tee',
  });
  // A real OpenID provider, so "Continue with Demo ID" works with no account anywhere. Its keys
  // stay in .wrangler/ so the gateway's cached keys stay valid across restarts.
  const idp = startProcess(node22() ?? process.execPath, [join(root, 'demo', 'oidc-provider.mjs')], {
    env: {
      ...process.env,
      PORT: String(idpPort),
      CLIENT_ID: DEMO_IDP.clientId,
      CLIENT_SECRET: secrets.DEMO_IDP_CLIENT_SECRET,
      REDIRECT_URIS: demoIdpRedirectUris([baseUrl, mcpBaseUrl]).join(' '),
      JWKS_FILE: join(root, '.wrangler', 'demo-idp-jwks.json'),
    },
    name: 'demo-idp',
    log: 'tee',
  });
  // A local stand-in for Stripe: the Pro plan's checkout takes a test payment and sends the signed
  // webhook back, so the demo user can upgrade end to end (its keys are in .dev.vars).
  const stripe = startProcess(process.execPath, [join(root, 'demo', 'stripe-stand-in.mjs')], {
    env: {
      ...process.env,
      PORT: String(stripePort),
      WEBHOOK_URL: `${baseUrl}/billing/stripe/webhook`,
      WEBHOOK_SECRET: secrets.STRIPE_WEBHOOK_SECRET,
      API_KEY: secrets.STRIPE_SECRET_KEY,
      PRICES: DEMO_STRIPE.price,
    },
    name: 'stripe',
    log: 'tee',
  });
  const featureProcesses = features.processes.map((p) => startProcess(process.execPath, [p.script], { env: { ...process.env, ...p.env }, name: p.name, log: 'tee' }));
  // wrangler.toml with the send_email binding (which a deployment adds once its domain sends
  // mail), beside it so its paths resolve; wrangler dev keeps the mail in its local explorer.
  const localConfig = join(root, 'wrangler.local.toml');
  writeFileSync(localConfig, withMailBinding(readFileSync(join(root, 'wrangler.toml'), 'utf8')));
  const gateway = startProcess(
    wranglerBin,
    [
      'dev',
      '--config', localConfig,
      '--ip', '127.0.0.1',
      '--port', String(gatewayPort),
      '--show-interactive-dev-session=false',
      '--var', `PUBLIC_BASE_URL:${baseUrl}`,
      '--var', `ORIGIN_URL:${originUrl}`,
      '--var', 'PLUGIN:',
      '--var', `PLUGINS:${JSON.stringify(demoPlugins({ baseUrl, mcpBaseUrl, mcpOriginUrl, ...features.plugins }))}`,
      ...Object.entries(features.vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
      '--var', `IDENTITY_PROVIDERS:${JSON.stringify(demoIdentityProviders({ issuer: idpUrl }))}`,
      '--var', `STRIPE_API_BASE:${stripeUrl}`,
      '--var', 'MAIL_FROM:Todo Demo <no-reply@todo.example>',
    ],
    { env: wranglerEnv(), name: 'gateway', log: 'tee' },
  );

  const stop = stopTogether('start', gateway, [origin, mcpOrigin, idp, stripe, ...featureProcesses]);

  try {
    await waitFor(`${baseUrl}/healthz`, { timeoutMs: 120000, process: gateway });
    await Promise.all(features.processes.map((p, i) => waitFor(p.ready, { timeoutMs: 30000, process: featureProcesses[i] })));
  } catch (e) {
    console.error(`start: the gateway did not come up: ${e.message}`);
    await stop(1);
  }

  console.log(`
Portcullis is running.

  Gateway          ${baseUrl}
  Plugin manifest  ${baseUrl}/.well-known/ai-plugin.json
  Health           ${baseUrl}/healthz
  Demo origin      ${originUrl}  (only the gateway should call it)

  Admin console    ${baseUrl}/admin/  (token: ADMIN_TOKEN in .dev.vars)
  Your account     ${baseUrl}/account
  Sign up          ${baseUrl}/signup  (anyone may; the code to confirm the address is mailed)
  Mail sent        ${localInboxUrl(baseUrl)}
                   (wrangler's local explorer: every mail the demo sends stays here, none leaves the machine)

  Demo user        demo@example.com
  Demo password    ${secrets.DEMO_PASSWORD}
  Demo ID          ${idpUrl}  (a local OpenID provider: "Continue with Demo ID" on the sign-in
                   page, then sign in as "${DEMO_IDP.account}" with any password; the first time makes
                   federated@example.com an account with the member role)
  Plans            Free (100 calls a day) and Pro (10,000, and GET /todos/export): ${baseUrl}/billing/upgrade
                   checks out at a local Stripe stand-in (${stripeUrl}); "Pay with a test card" upgrades at once
  OAuth clients    chatgpt (confidential; secret: DEMO_CLIENT_SECRET in .dev.vars)
                   portcullis-cli (public, PKCE, loopback redirect)

Try it:
  curl -i ${baseUrl}/todos                                   # 401 with a Bearer challenge
  node scripts/oauth-demo.mjs --base-url ${baseUrl}          # sign in, get tokens, call /todos, refresh, revoke

The demo MCP server, behind the same gateway on another host name:

  MCP server URL   ${mcpUrl}  (Streamable HTTP; resource and issuer ${mcpBaseUrl})
  MCP origin       ${mcpOriginUrl}  (only the gateway should call it)

  curl -i -X POST ${mcpUrl}                    # 401 naming ${mcpBaseUrl}/.well-known/oauth-protected-resource/mcp
  MCP Inspector:  npx @modelcontextprotocol/inspector, transport "Streamable HTTP", URL ${mcpUrl},
                  then "Open Auth Settings" → "Quick OAuth Flow" (it registers itself, you sign in as the demo user)
  MCP SDK:        new StreamableHTTPClientTransport(new URL('${mcpUrl}'), { authProvider })
  ChatGPT:        needs a public https URL. On a real domain, give this plugin hosts = ["mcp.example.com"],
                  resource = "https://mcp.example.com/mcp", register that resource, and add
                  https://mcp.example.com/mcp in ChatGPT → Settings → Connectors (see docs/configuration.md).

The demo's other features: token exchange, an enterprise identity provider, DPoP, a signed agent.
${features.lines.map((line) => (line ? `  ${line}` : '')).join('\n')}

Ctrl-C stops everything.
`);
}
