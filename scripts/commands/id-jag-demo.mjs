// Enterprise-managed authorization against the running demo: the demo enterprise's identity
// provider (demo/enterprise-idp.mjs) issues an identity assertion (ID-JAG) for an employee, and the
// agent app presents it at the MCP plugin's token endpoint as a JWT-bearer grant (the plugin's
// `enterprise_idps`, scripts/demo-plugins.mjs). No browser. Each step prints what was answered.
import * as oauth from 'oauth4webapi';
import { CommandError } from '../cli.mjs';
import { DEMO_FEATURES } from '../demo-plugins.mjs';
import { answered, claimsOf, devVars, discoverFromResource, insecureFor, mcpWhoami, reach, say, step, urlFlag } from '../demo-client.mjs';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ID_JAG_PROFILE = 'urn:ietf:params:oauth:grant-profile:id-jag';
const ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** `node scripts/id-jag-demo.mjs`: the flags are described in that entry. */
export async function main({ values }) {
  const idp = urlFlag('idp', values.idp).origin;
  const mcpUrl = urlFlag('mcp-url', values['mcp-url']);
  const secrets = devVars(values['dev-vars'], ['DEMO_PASSWORD', 'DEMO_ENTERPRISE_CLIENT_SECRET', 'DEMO_AGENT_CLIENT_SECRET']);
  const app = DEMO_FEATURES.agentAppClient;
  const atIdp = `Basic ${Buffer.from(`${encodeURIComponent(app)}:${encodeURIComponent(secrets.DEMO_ENTERPRISE_CLIENT_SECRET)}`).toString('base64')}`;
  const idpToken = (fields) => reach('enterprise identity provider', idp, () => fetch(`${idp}/token`, {
    method: 'POST',
    headers: { authorization: atIdp, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  }));

  step('The agent app finds the MCP server\'s authorization server');
  const { resource, as } = await discoverFromResource(mcpUrl);
  const grant = (as.grant_types_supported ?? []).includes(JWT_BEARER);
  const profile = (as.authorization_grant_profiles_supported ?? []).includes(ID_JAG_PROFILE);
  say(`its metadata lists the JWT-bearer grant: ${grant ? 'yes' : 'no'}; the ID-JAG profile: ${profile ? 'yes' : 'no'}`);
  if (!grant || !profile) throw new CommandError(`${as.issuer} takes no identity assertions: is this the demo's MCP plugin (npm start)?`);

  step(`${values.employee} signs in to the agent app at the enterprise's identity provider`);
  const signIn = await answered(`POST ${idp}/token grant_type=password username=${values.employee}`,
    await idpToken({ grant_type: 'password', username: values.employee, password: secrets.DEMO_PASSWORD, scope: 'openid email profile' }));
  if (signIn.status !== 200) throw new CommandError('the enterprise provider refused the sign-in');
  const employee = claimsOf(signIn.body.id_token).claims;
  say(`an ID token for the app: sub ${employee.sub}, email ${employee.email}`);

  step('The app trades the ID token at the provider for an identity assertion for the MCP server');
  say(`POST ${idp}/token grant_type=${EXCHANGE}`);
  say(`     requested_token_type=${ID_JAG} audience=${as.issuer} resource=${resource.resource} scope=todos:read`);
  const issued = await answered('the provider answered', await idpToken({
    grant_type: EXCHANGE,
    requested_token_type: ID_JAG,
    subject_token: signIn.body.id_token,
    subject_token_type: ID_TOKEN,
    audience: as.issuer,
    resource: resource.resource,
    scope: 'todos:read',
  }));
  if (issued.status !== 200) throw new CommandError('the enterprise provider issued no assertion');
  const assertion = issued.body.access_token;
  const { header, claims } = claimsOf(assertion);
  say(`the ID-JAG: typ ${header.typ}, alg ${header.alg}, kid ${header.kid}`);
  say(`  iss ${claims.iss}, sub ${claims.sub}, aud ${claims.aud}, client_id ${claims.client_id}, resource ${claims.resource}, scope "${claims.scope}", ${claims.exp - claims.iat} s`);

  step(`The app presents it at the gateway's token endpoint as ${app} (JWT-bearer grant, RFC 7523)`);
  const client = { client_id: app };
  const auth = oauth.ClientSecretBasic(secrets.DEMO_AGENT_CLIENT_SECRET);
  const present = () => oauth.genericTokenEndpointRequest(as, client, auth, JWT_BEARER, { assertion }, insecureFor(as.issuer));
  say(`POST ${as.token_endpoint} grant_type=${JWT_BEARER} assertion=<the ID-JAG>`);
  const response = await present();
  if (!response.ok) {
    const { body } = await answered('the gateway answered', response);
    throw new CommandError(`the gateway refused the assertion (${body?.error ?? response.status})`);
  }
  const tokens = await oauth.processGenericTokenEndpointResponse(as, client, response);
  const access = claimsOf(tokens.access_token).claims;
  say(`→ 200: token_type ${tokens.token_type}, scope "${tokens.scope}", expires in ${tokens.expires_in} s, refresh token: ${tokens.refresh_token ? 'yes' : 'none'}`);
  say(`  for ${access.aud}, user ${access.sub} (the employee, provisioned at the first assertion)`);

  step('The app calls the MCP server\'s whoami tool with it');
  const who = await mcpWhoami(mcpUrl, tokens.access_token);
  say(`the gateway told the MCP server: user ${who.user}, client ${who.client}, scopes "${who.scopes}"`);

  step('The same assertion again (its jti is spent)');
  await answered(`POST ${as.token_endpoint} (the same assertion)`, await present());
}
