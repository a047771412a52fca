// The published package, as a plugin owner meets it: `npm pack`, installed into a fresh directory
// beside wrangler, then `npx portcullis init` there (the calls that need a Cloudflare account go
// to the stand-in, fake-wrangler.mjs, as in init.test.mjs; migrations and the seed run on local
// D1). The owner's OpenAPI document cannot be compiled into a prebuilt Worker: it must reach the
// Worker through the entry module init writes. So the directory's own Worker is run in workerd
// (wrangler dev, on the local D1 init seeded), and must serve that document and enforce its
// operations' security as its rule table.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { freePort, root, startProcess, stopProcess, waitFor, wranglerEnv } from '../../scripts/lib.mjs';

const NOTES = readFileSync(join(root, 'tests', 'e2e', 'fixtures', 'notes.yaml'), 'utf8');
const LOGO = '<svg xmlns="http://www.w3.org/2000/svg"><title>Acme</title></svg>\n';

const work = mkdtempSync(join(tmpdir(), 'portcullis-package-'));
const dir = join(work, 'acme-gateway');
after(() => rmSync(work, { recursive: true, force: true }));

function run(command, args, { env = {}, cwd = dir } = {}) {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...wranglerEnv(), ...env } });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

const standIn = { PORTCULLIS_WRANGLER: join(root, 'tests', 'e2e', 'fake-wrangler.mjs'), FAKE_ACCOUNT: join(work, 'account.json'), FAKE_D1: join(work, 'd1') };
const FLAGS = ['--name', 'Acme Notes', '--domain', 'notes.acme.example', '--origin', 'https://api.acme.example', '--auth', 'oauth', '--admin-email', 'owner@acme.example', '--openapi', 'api/notes.yaml', '--yes'];
const portcullis = (args) => run('npx', ['--no', 'portcullis', ...args], { env: standIn });
const account = () => JSON.parse(readFileSync(standIn.FAKE_ACCOUNT, 'utf8'));

describe('the published package', () => {
  before(() => {
    // The package as npm would publish it (prepack builds the Worker when it is stale).
    const packed = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root });
    assert.equal(packed.status, 0, packed.out);
    const tarball = join(work, JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[/m)))[0].filename);
    mkdirSync(join(dir, 'api'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'acme-gateway', private: true }));
    writeFileSync(join(dir, 'api', 'notes.yaml'), NOTES);
    // Its own dependencies from the registry (or npm's cache); wrangler, its peer, is this
    // checkout's, linked in as an owner's own install would be.
    const installed = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--legacy-peer-deps', tarball]);
    assert.equal(installed.status, 0, installed.out);
    symlinkSync(join(root, 'node_modules', 'wrangler'), join(dir, 'node_modules', 'wrangler'));
    symlinkSync(join('..', 'wrangler', 'bin', 'wrangler.js'), join(dir, 'node_modules', '.bin', 'wrangler'));
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
    assert.deepEqual(JSON.parse(JSON.stringify(config.rules)), [{ type: 'Data', globs: ['./static/**'] }]);
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
    const r = run(join(dir, 'node_modules', '.bin', 'wrangler'), ['d1', 'execute', 'DB', '--local', `--persist-to=${standIn.FAKE_D1}`, '--json', '--command=SELECT name, description FROM permissions ORDER BY name']);
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(JSON.parse(r.out.slice(r.out.indexOf('[')))[0].results, [
      { name: 'notes:read', description: 'Read notes' },
      { name: 'notes:write', description: 'Write notes' },
    ]);
    assert.match(out, /the OpenAPI document https:\/\/notes\.acme\.example\/notes\.yaml/);
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

  test('the directory\'s Worker serves the owner\'s document and enforces its security', async () => {
    const seen = [];
    const origin = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"up":true}');
    });
    await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const [port, inspector] = await Promise.all([freePort(), freePort()]);
    const base = `http://127.0.0.1:${port}`;
    const secrets = Object.fromEntries(readFileSync(join(dir, '.portcullis', 'default.secrets'), 'utf8').split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    // Secrets as an owner running it locally gives them: in .dev.vars, not on a command line.
    writeFileSync(join(dir, '.dev.vars'), Object.entries(secrets).map(([k, v]) => `${k}='${v}'`).join('\n'), { mode: 0o600 });
    const vars = { PUBLIC_BASE_URL: base, ORIGIN_URL: `http://127.0.0.1:${origin.address().port}` };
    const args = ['dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector), '--persist-to', standIn.FAKE_D1, '--show-interactive-dev-session=false'];
    for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);
    const gateway = startProcess(join(dir, 'node_modules', '.bin', 'wrangler'), args, { env: wranglerEnv(), name: 'gateway', cwd: dir });
    try {
      await waitFor(`${base}/.well-known/jwks.json`, { timeoutMs: 90000, process: gateway });
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
      // Its operations' security is the rule table: a token with notes:read for GET /notes, none
      // for /status, and nothing for what the document does not name.
      const notes = await fetch(`${base}/notes`);
      assert.equal(notes.status, 401);
      assert.match(notes.headers.get('www-authenticate'), /scope="notes:read"/);
      const post = await fetch(`${base}/notes`, { method: 'POST', body: '{}' });
      assert.match(post.headers.get('www-authenticate'), /scope="notes:write"/);
      assert.equal((await fetch(`${base}/status`)).status, 200);
      assert.equal((await fetch(`${base}/todos`)).status, 404, 'the demo document\'s operations are not the rules');
      assert.deepEqual(seen, ['GET /status']);
      // The console's table: every operation from the document, none differing.
      const routes = await (await fetch(`${base}/admin/api/routes`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } })).json();
      assert.deepEqual(routes.operations.map((o) => `${o.method} ${o.path} ${o.gateway}`), ['GET /notes token notes:read', 'POST /notes token notes:write', 'GET /status public']);
      assert.equal(routes.disagreements, 0);
      // The same check from the command line, with the admin token init kept.
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

  test('npx portcullis names its command', () => {
    const unknown = portcullis(['deploy']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.out, /usage: portcullis init/);
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
