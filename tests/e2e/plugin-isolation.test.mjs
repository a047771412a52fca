// Two plugins on one deployment, as the local default runs them: the todo plugin on 127.0.0.1 and
// an MCP plugin on localhost, each its own issuer with its own resource, sharing one directory
// (users, clients, resources, consents). Neither issues for the other's resource, consent given
// at one skips no consent page at the other, and a session made at one opens nothing at the
// other (issue 29, findings 3 and 4).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { seedAlso, startGateway } from './harness.mjs';
import { FormBrowser, decide, formFields, signIn } from './browser.mjs';
import { root } from '../../scripts/lib.mjs';

const CALLBACK = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
/** An API in the directory that is neither plugin's own: both may issue for it. */
const NOTES = 'https://notes.example.com/api';

let gw;
let todoBase;
let mcpBase;
let mcpResource;

before(async () => {
  const todo = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8')).vars.PLUGIN;
  gw = await startGateway({
    plugins: ({ port, baseUrl }) => [
      { ...todo, hosts: [`127.0.0.1:${port}`], public_base_url: baseUrl },
      {
        ...todo,
        name_for_human: 'Todo MCP',
        name_for_model: 'todo_mcp',
        hosts: [`localhost:${port}`],
        public_base_url: `http://localhost:${port}`,
        resource: `http://localhost:${port}/mcp`,
      },
    ],
    // The MCP plugin's resource and the notes API, the demo user's role on each, and ChatGPT's
    // own role on the MCP resource (for client_credentials).
    beforeStart: (context) => {
      const mcp = `http://localhost:${new URL(context.baseUrl).port}/mcp`;
      return seedAlso({
        resources: [
          { id: 'res_mcp', indicator: mcp, name: 'Todo MCP server', access_token_ttl_secs: 900, permissions: [{ name: 'todos:read' }] },
          { id: 'res_notes', indicator: NOTES, name: 'Notes API', access_token_ttl_secs: 900, permissions: [{ name: 'todos:read' }] },
        ],
        roles: [{ id: 'rol_elsewhere', name: 'elsewhere', permissions: [{ resource: 'res_mcp', name: 'todos:read' }, { resource: 'res_notes', name: 'todos:read' }] }],
        users: [{ id: 'usr_demo', email: 'demo@example.com', name: 'Demo User', password_env: 'DEMO_PASSWORD', roles: ['rol_member', 'rol_elsewhere'] }],
      })(context);
    },
  });
  todoBase = gw.baseUrl;
  mcpBase = `http://localhost:${gw.port}`;
  mcpResource = `${mcpBase}/mcp`;
});

after(async () => {
  await gw?.stop();
});

function authorizeUrl(extra = {}) {
  return `/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: CALLBACK, state: 's', scope: 'todos:read', ...extra })}`;
}

/** A browser signed in at `base` (through an authorization request), and the page it landed on. */
async function signedIn(base, extra = {}) {
  const browser = new FormBrowser(base);
  const login = await browser.get(authorizeUrl(extra));
  assert.equal(login.status, 200, login.text_);
  const done = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  assert.equal(done.status, 303, done.text_);
  return { browser, page: await browser.get(done.headers.get('location')) };
}

const redirectParams = (res) => new URL(res.headers.get('location')).searchParams;

describe('two plugins, one directory', () => {
  test("the todo plugin refuses the MCP plugin's resource: no consent page, no code, no consent", async () => {
    const { page } = await signedIn(todoBase, { resource: mcpResource });
    assert.equal(page.status, 302, page.text_);
    const params = redirectParams(page);
    assert.equal(params.get('error'), 'invalid_target');
    assert.equal(params.get('iss'), todoBase);
    assert.equal(params.get('code'), null);

    // Nor does the MCP plugin take the todo plugin's.
    const back = await signedIn(mcpBase, { resource: todoBase });
    assert.equal(back.page.status, 302, back.page.text_);
    assert.equal(redirectParams(back.page).get('error'), 'invalid_target');
    assert.equal(redirectParams(back.page).get('iss'), mcpBase);

    // client_credentials, the same.
    const machine = await fetch(`${todoBase}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`chatgpt:${gw.secrets.DEMO_CLIENT_SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: mcpResource }),
    });
    assert.equal(machine.status, 400);
    assert.equal((await machine.json()).error, 'invalid_target');
  });

  test("the consent page names the API, and consent given at one plugin skips nothing at the other", async () => {
    const atTodo = await signedIn(todoBase, { resource: NOTES });
    assert.equal(atTodo.page.status, 200, atTodo.page.text_);
    assert.match(atTodo.page.text_, /Notes API/);
    assert.ok(atTodo.page.text_.includes(NOTES), 'the indicator is named');
    const allowed = await decide(atTodo.browser, atTodo.page);
    assert.equal(redirectParams(allowed).get('iss'), todoBase);
    assert.ok(redirectParams(allowed).get('code'));
    // Remembered at the todo plugin.
    const again = await atTodo.browser.get(authorizeUrl({ resource: NOTES }));
    assert.equal(again.status, 302);
    assert.ok(redirectParams(again).get('code'));

    // At the MCP plugin, its own consent page, naming its own API.
    const atMcp = await signedIn(mcpBase);
    assert.equal(atMcp.page.status, 200, atMcp.page.text_);
    assert.match(atMcp.page.text_, /Todo MCP server/);
    assert.ok(atMcp.page.text_.includes(mcpResource));
    // And for the notes API allowed at the todo plugin: asked again, and prompt=none fails.
    const silent = await atMcp.browser.get(authorizeUrl({ resource: NOTES, prompt: 'none' }));
    assert.equal(silent.status, 302, silent.text_);
    assert.equal(redirectParams(silent).get('error'), 'consent_required');
    assert.equal(redirectParams(silent).get('iss'), mcpBase);
    const asked = await atMcp.browser.get(authorizeUrl({ resource: NOTES }));
    assert.equal(asked.status, 200, asked.text_);
    assert.ok(formFields(asked.text_, '/authorize').csrf_token);
  });

  test('a session cookie carried by hand from one plugin to the other opens nothing there', async () => {
    const atTodo = await signedIn(todoBase);
    const account = await atTodo.browser.get('/account');
    assert.match(account.text_, /Signed in as demo@example\.com/);
    // The same cookie names at both hosts (plain http): copy the jar to the MCP plugin's host.
    const carried = new FormBrowser(mcpBase);
    carried.cookies = new Map(atTodo.browser.cookies);
    const there = await carried.get('/account');
    assert.equal(there.status, 200);
    assert.doesNotMatch(there.text_, /Signed in as/);
    assert.match(there.text_, /action="\/login"/);
    const silent = await carried.get(authorizeUrl({ prompt: 'none' }));
    assert.equal(silent.status, 302, silent.text_);
    assert.equal(redirectParams(silent).get('error'), 'login_required');
    // The todo plugin's login form (its CSRF token), posted at the MCP plugin: refused.
    const fresh = new FormBrowser(todoBase);
    const login = await fresh.get('/login');
    const elsewhere = new FormBrowser(mcpBase);
    elsewhere.cookies = new Map(fresh.cookies);
    const refused = await signIn(elsewhere, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
    assert.equal(refused.status, 403, refused.text_);
  });
});
