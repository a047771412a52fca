// The plugins `npm start` runs on one gateway, picked by host (PLUGINS): wrangler.toml's todo
// plugin on `baseUrl`'s host, and the demo MCP server as an MCP server owner configures it, on
// `mcpBaseUrl`'s host, with the server's URL as its resource (RFC 8707).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { root } from './lib.mjs';

export function demoPlugins({ baseUrl, mcpBaseUrl, mcpOriginUrl }) {
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
  };
  // The todo plugin sells a Pro plan (through the local Stripe stand-in): the export route and a
  // larger quota. Everyone else is on the free plan, the table's own quota.
  const withPlans = {
    ...todo,
    hosts: [new URL(baseUrl).hostname],
    public_base_url: baseUrl,
    quota: { limit: 100, period_secs: 86400 },
    plans: [{ id: 'pro', name: 'Pro', stripe_price: DEMO_STRIPE.price, roles: ['member'], quota: { limit: 10000, period_secs: 86400 } }],
    routes: [{ path: '/todos/export', methods: ['GET'], scopes: ['todos:read'], plan: 'pro' }, ...todo.routes],
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
