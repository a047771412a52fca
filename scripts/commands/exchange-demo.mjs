// Token exchange (RFC 8693) against the running demo: a user's token for the demo MCP server,
// traded by the MCP server's own client, at the todo plugin, for one to the todo API (the todo
// plugin's `token_exchange` policy, scripts/demo-plugins.mjs), which then opens GET /todos.
// Each step prints what the gateway answered.
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { CommandError } from '../cli.mjs';
import { DEMO_FEATURES } from '../demo-plugins.mjs';
import { answered, authorizeInBrowser, claimsOf, devVars, discoverFromResource, insecureFor, mcpWhoami, say, step, urlFlag } from '../demo-client.mjs';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';

/** `node scripts/exchange-demo.mjs`: the flags are described in that entry. */
export async function main({ values }) {
  const mcpUrl = urlFlag('mcp-url', values['mcp-url']);
  const todoResource = urlFlag('todo-url', values['todo-url']).origin;
  const { DEMO_MCP_CLIENT_SECRET: secret } = devVars(values['dev-vars'], ['DEMO_MCP_CLIENT_SECRET']);
  const insecure = insecureFor(mcpUrl);

  step('An MCP client finds the MCP server\'s authorization server');
  const { resource, as } = await discoverFromResource(mcpUrl);
  say(`${as.issuer}, for ${resource.resource}`);

  step('You authorize the MCP client portcullis-cli (public, PKCE) for the MCP server, as the demo user');
  const client = { client_id: 'portcullis-cli' };
  const back = await authorizeInBrowser(as, client, { scope: 'todos:read', resource: resource.resource });
  const user = await oauth.processAuthorizationCodeResponse(as, client,
    await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), back.params, back.redirectUri, back.verifier, { additionalParameters: { resource: resource.resource }, ...insecure }));
  const subject = claimsOf(user.access_token).claims;
  say(`POST ${as.token_endpoint} (authorization_code) → 200: a token for ${subject.aud}, user ${subject.sub}, scope "${user.scope}"`);

  step('The MCP client calls the MCP server\'s whoami tool with it');
  const who = await mcpWhoami(mcpUrl, user.access_token);
  say(`the gateway told the MCP server: user ${who.user}, client ${who.client}, scopes "${who.scopes}"`);

  step('The MCP server finds the todo API\'s authorization server, the one that issues tokens for it');
  const todoIssuer = new URL(todoResource);
  const todoAs = await oauth.processDiscoveryResponse(todoIssuer, await oauth.discoveryRequest(todoIssuer, { algorithm: 'oauth2', ...insecure }));
  const offered = (todoAs.grant_types_supported ?? []).includes(EXCHANGE);
  say(`${todoAs.issuer}: its metadata lists the token-exchange grant: ${offered ? 'yes' : 'no'}`);
  if (!offered) throw new CommandError(`${todoAs.issuer} offers no token exchange: is this the demo's todo plugin (npm start)?`);

  step(`The MCP server, as its own confidential client ${DEMO_FEATURES.mcpServerClient}, trades that token there for one to the todo API`);
  const mcpServer = { client_id: DEMO_FEATURES.mcpServerClient };
  const auth = oauth.ClientSecretBasic(secret);
  const exchange = (extra = {}) => oauth.genericTokenEndpointRequest(todoAs, mcpServer, auth, EXCHANGE, {
    subject_token: user.access_token,
    subject_token_type: ACCESS,
    resource: todoResource,
    ...extra,
  }, insecure);
  say(`POST ${todoAs.token_endpoint} grant_type=${EXCHANGE}`);
  say(`     subject_token=<the user's MCP token> resource=${todoResource}`);
  const response = await exchange();
  if (!response.ok) {
    const { body } = await answered('the gateway answered', response);
    throw new CommandError(`the exchange was refused (${body?.error ?? response.status})`);
  }
  const exchanged = await oauth.processGenericTokenEndpointResponse(todoAs, mcpServer, response);
  say(`→ 200: issued_token_type ${exchanged.issued_token_type}, token_type ${exchanged.token_type}, scope "${exchanged.scope}", expires in ${exchanged.expires_in} s, refresh token: ${exchanged.refresh_token ? 'yes' : 'none'}`);

  step('What a resource server checks: the signature (the gateway\'s JWKS), issuer, audience, type');
  const { payload } = await jwtVerify(exchanged.access_token, createRemoteJWKSet(new URL(todoAs.jwks_uri), {}), { issuer: todoAs.issuer, audience: todoResource, typ: 'at+jwt' });
  say(`signature good; iss ${payload.iss}, aud ${payload.aud}, sub ${payload.sub} (the same user), client_id ${payload.client_id}`);
  say(`act ${JSON.stringify(payload.act)}: the MCP server acts for the user`);
  say(`it expires no later than the token traded: ${payload.exp <= subject.exp ? 'yes' : 'no'}`);

  step('The MCP server calls the todo API through the gateway with it');
  const todos = await fetch(new URL('/todos', todoResource), { headers: { authorization: `Bearer ${exchanged.access_token}` } });
  say(`GET ${todoResource}/todos → ${todos.status}${todos.ok ? `: ${(await todos.text()).slice(0, 120)}` : ''}`);
  if (!todos.ok) throw new CommandError(`the todo API refused the exchanged token (${todos.status})`);
  const write = await fetch(new URL('/todos', todoResource), { method: 'POST', headers: { authorization: `Bearer ${exchanged.access_token}`, 'content-type': 'application/json' }, body: '{"title":"from the MCP server"}' });
  say(`POST ${todoResource}/todos → ${write.status} (read-only by policy: todos:write is not in the token)`);

  step(`The MCP server introspects it (RFC 7662)`);
  const introspected = await oauth.processIntrospectionResponse(todoAs, mcpServer,
    await oauth.introspectionRequest(todoAs, mcpServer, auth, exchanged.access_token, insecure));
  say(`POST ${todoAs.introspection_endpoint} → active ${introspected.active}, aud ${introspected.aud}, scope "${introspected.scope}"${introspected.act ? `, act ${JSON.stringify(introspected.act)}` : ''}`);

  step('Asking for todos:write, which the policy does not allow');
  await answered(`POST ${todoAs.token_endpoint} (token exchange, scope=todos:write)`, await exchange({ scope: 'todos:write' }));
}
