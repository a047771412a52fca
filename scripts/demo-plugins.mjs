// The plugins `npm start` runs on one gateway, picked by host (PLUGINS): wrangler.toml's todo
// plugin on `baseUrl`'s host, and the demo MCP server as an MCP server owner configures it, on
// `mcpBaseUrl`'s host, with the server's URL as its resource (RFC 8707). Beside sign-in and plans,
// the demo configures the features a newcomer would otherwise have to set up to try: token
// exchange of the MCP server's tokens at the todo plugin, enterprise identity assertions (ID-JAG)
// on the MCP plugin, a DPoP-bound client and a signed-agent route on the todo plugin (`demoFeatures`, each with a script under scripts/).
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { root } from './lib.mjs';

/**
 * The demo's PLUGINS. With `enterpriseIssuer` (the demo enterprise provider, demo/enterprise-idp.mjs)
 * the MCP plugin takes its identity assertions; with `agentOrigin` (demo/signed-agent.mjs) the
 * todo plugin trusts that agent and has a route only its signed calls reach. `demoFeatures` gives
 * both.
 */
export function demoPlugins({ baseUrl, mcpBaseUrl, mcpOriginUrl, enterpriseIssuer, agentOrigin }) {
  const todo = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8')).vars.PLUGIN;
  const mcp = {
    name_for_human: 'Demo MCP server',
    name_for_model: 'demo_mcp',
    description_for_human: 'Tools that say who is calling and count.',
    description_for_model: 'A demo MCP server behind Portcullis.',
    logo_url: '/logo.svg',
    contact_email: todo.contact_email,
    legal_info_url: todo.legal_info_url,
    hosts: [new URL(mcpBaseUrl).hostname],
    public_base_url: mcpBaseUrl,
    origin_url: mcpOriginUrl,
    resource: `${mcpBaseUrl}/mcp`,
    auth: { type: 'oauth', scope: 'todos:read' },
    routes: [{ path: '/mcp', methods: ['GET', 'POST', 'DELETE'], scopes: ['todos:read'] }],
    // Enterprise-managed authorization: the demo enterprise's assertions give its agent app a
    // token for an employee, provisioned at the first one with the member role
    // (scripts/id-jag-demo.mjs).
    ...(enterpriseIssuer
      ? {
          enterprise_idps: [{
            id: DEMO_FEATURES.enterprise.id,
            issuer: enterpriseIssuer,
            jwks_uri: `${enterpriseIssuer}/jwks.json`,
            clients: [DEMO_FEATURES.agentAppClient],
            provision: true,
            default_roles: ['member'],
            allowed_domains: [DEMO_FEATURES.enterprise.domain],
          }],
        }
      : {}),
  };
  // The todo plugin sells a Pro plan (through the local Stripe stand-in): the export route and a
  // larger quota. Everyone else is on the free plan, the table's own quota.
  const withPlans = {
    ...todo,
    // Strangers make their own accounts (the member role), prove the address with a mailed code,
    // and may sign in by code too; the mail stays in wrangler dev's local explorer.
    sign_in: { sign_up: 'open', sign_up_roles: ['member'], email_codes: true },
    hosts: [new URL(baseUrl).hostname],
    public_base_url: baseUrl,
    quota: { limit: 100, period_secs: 86400 },
    plans: [{ id: 'pro', name: 'Pro', stripe_price: DEMO_STRIPE.price, roles: ['member'], quota: { limit: 10000, period_secs: 86400 } }],
    routes: [
      { path: '/todos/export', methods: ['GET'], scopes: ['todos:read'], plan: 'pro' },
      // RFC 9449: deleting a todo takes DPoP-bound tokens only, with a proof on every call
      // (scripts/dpop-demo.mjs); the plugin's other routes still take bearer tokens.
      { path: '/todos/{id}', methods: ['DELETE'], scopes: ['todos:write'], dpop: true },
      // Web Bot Auth: only calls the demo agent signed reach this route (scripts/agent-demo.mjs).
      ...(agentOrigin ? [{ path: DEMO_FEATURES.agentRoute, methods: ['GET'], access: 'public', agents: [agentOrigin] }] : []),
      ...todo.routes,
    ],
    ...(agentOrigin ? { agents: { trusted: [agentOrigin] } } : {}),
    // RFC 8693: the MCP server's own client may trade a user's token for the MCP server for one
    // to this API, for the same user, read-only (scripts/exchange-demo.mjs). The policy is this
    // plugin's: the exchange is at the issuer of the token it gives, which takes the MCP
    // plugin's tokens as subject tokens because this policy names its resource.
    token_exchange: [{ client: DEMO_FEATURES.mcpServerClient, from: [`${mcpBaseUrl}/mcp`], to: baseUrl, scopes: ['todos:read'] }],
  };
  return [withPlans, mcp];
}

/** The demo's Stripe stand-in: the price it sells, and its keys' names in .dev.vars. */
export const DEMO_STRIPE = { price: 'price_demo_pro' };

/** The vars that point the gateway at the stand-in (its keys are secrets in .dev.vars). */
export function demoStripeVars({ apiBase, secrets }) {
  return {
    STRIPE_API_BASE: apiBase,
    STRIPE_SECRET_KEY: secrets.STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET: secrets.STRIPE_WEBHOOK_SECRET,
  };
}

/** The demo's OpenID provider, as the gateway knows it (its secret is DEMO_IDP_CLIENT_SECRET). */
export const DEMO_IDP = { id: 'demo-idp', clientId: 'portcullis-demo', account: 'demo' };

/**
 * `IDENTITY_PROVIDERS` for the demo: the local OpenID provider at `issuer`. Its one user has a
 * verified example.com address, so a first sign-in provisions them with the member role.
 */
export function demoIdentityProviders({ issuer }) {
  return [{
    id: DEMO_IDP.id,
    name: 'Demo ID (local OpenID provider)',
    kind: 'oidc',
    issuer,
    client_id: DEMO_IDP.clientId,
    default_roles: ['viewer'],
    domain_roles: [{ domain: 'example.com', roles: ['member'] }],
  }];
}

/** The gateway callbacks the demo provider accepts: one per plugin host. */
export function demoIdpRedirectUris(baseUrls) {
  return baseUrls.map((base) => `${base}/login/provider/${DEMO_IDP.id}/callback`);
}

/**
 * Who is who in the demo's further features. Secrets (in .dev.vars): DEMO_MCP_CLIENT_SECRET (the
 * MCP server's client), DEMO_AGENT_CLIENT_SECRET (the agent app at the gateway),
 * DEMO_ENTERPRISE_CLIENT_SECRET (the agent app at the enterprise provider); the employee signs in
 * there with DEMO_PASSWORD.
 */
export const DEMO_FEATURES = {
  mcpServerClient: 'demo-mcp-server',
  agentAppClient: 'demo-agent-app',
  enterprise: { id: 'acme', name: 'Acme', domain: 'acme.example.com', employee: 'ann@acme.example.com' },
  agentRoute: '/public/agent',
  ports: { enterpriseIdp: 8792, agent: 8793 },
};

/**
 * Everything the demo's further features need beside the two plugins, for `npm start` and the
 * demo's test alike:
 * - `plugins`: what `demoPlugins` takes besides the URLs (`{ enterpriseIssuer, agentOrigin }`);
 * - `vars`: further gateway vars (the enterprise provider's keys and the agent's directory are
 *   served over http on 127.0.0.1, which only CLIENT_METADATA_ALLOW_LOOPBACK lets it fetch);
 * - `processes`: `[{ name, script, env, ready }]`, the two local services to start with Node
 *   (`env` adds to the environment; `ready` answers once it listens), their keys kept in
 *   `stateDir`;
 * - `lines`: the start banner's lines about them.
 */
export function demoFeatures({ baseUrl, mcpBaseUrl, enterprisePort = DEMO_FEATURES.ports.enterpriseIdp, agentPort = DEMO_FEATURES.ports.agent, secrets, stateDir }) {
  const enterpriseIssuer = `http://127.0.0.1:${enterprisePort}`;
  const agentOrigin = `http://127.0.0.1:${agentPort}`;
  const agentKeyFile = join(stateDir, 'demo-agent-key.json');
  const processes = [
    {
      name: 'enterprise-idp',
      script: join(root, 'demo', 'enterprise-idp.mjs'),
      env: {
        PORT: String(enterprisePort),
        ISSUER: enterpriseIssuer,
        CLIENT_ID: DEMO_FEATURES.agentAppClient,
        CLIENT_SECRET: secrets.DEMO_ENTERPRISE_CLIENT_SECRET,
        EMPLOYEE_PASSWORD: secrets.DEMO_PASSWORD,
        AUDIENCES: mcpBaseUrl,
        KEY_FILE: join(stateDir, 'demo-enterprise-key.json'),
      },
      ready: `${enterpriseIssuer}/jwks.json`,
    },
    {
      name: 'signed-agent',
      script: join(root, 'demo', 'signed-agent.mjs'),
      env: { PORT: String(agentPort), KEY_FILE: agentKeyFile },
      ready: `${agentOrigin}/.well-known/http-message-signatures-directory`,
    },
  ];
  const mcpUrl = `${mcpBaseUrl}/mcp`;
  const lines = demoFeatureLines({ baseUrl, mcpUrl, enterpriseIssuer, agentOrigin, agentKeyFile });
  return { plugins: { enterpriseIssuer, agentOrigin }, vars: { CLIENT_METADATA_ALLOW_LOOPBACK: 'true' }, processes, agentKeyFile, lines };
}

/** The start banner's lines about token exchange, ID-JAG, DPoP and the signed agent. */
export function demoFeatureLines({ baseUrl, mcpUrl, enterpriseIssuer, agentOrigin, agentKeyFile }) {
  const { enterprise, mcpServerClient, agentAppClient, agentRoute } = DEMO_FEATURES;
  const key = relative(root, agentKeyFile);
  return [
    'Each of these prints every step and what the gateway answered:',
    '',
    `  Token exchange   node scripts/exchange-demo.mjs --mcp-url ${mcpUrl} --todo-url ${baseUrl}`,
    `                   sign in as the demo user; the MCP server's client (${mcpServerClient}) trades your token`,
    '                   for the MCP server for one to the todo API, acting for you (RFC 8693)',
    `  Enterprise IdP   ${enterpriseIssuer}  (${enterprise.name}; employee ${enterprise.employee}, the demo password)`,
    `                   node scripts/id-jag-demo.mjs --idp ${enterpriseIssuer} --mcp-url ${mcpUrl}`,
    `                   ${enterprise.name} signs an identity assertion (ID-JAG); its agent app (${agentAppClient}) gets`,
    '                   an MCP token for the employee with no browser, who is provisioned as a member',
    `  DPoP             node scripts/dpop-demo.mjs --base-url ${baseUrl}`,
    '                   a client registered as DPoP-bound: its tokens need a proof of its key on every call (RFC 9449);',
    '                   DELETE /todos/{id} takes only such tokens (the route\'s dpop = true)',
    `  Signed agent     ${agentOrigin}  (the demo agent's key directory; the todo plugin trusts it)`,
    `                   node scripts/agent-demo.mjs --base-url ${baseUrl} --agent ${agentOrigin} --key-file ${key}`,
    `                   GET ${agentRoute} takes only calls the agent signed (Web Bot Auth, RFC 9421)`,
  ];
}
