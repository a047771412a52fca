// `npm run init` end to end, against temporary directories and local D1. The calls that need a
// Cloudflare account (creating the database, storing secrets) go to a stand-in
// (scripts/commands/local-account.mjs); migrations and the seed run for real, on local D1. Answers are flags. Run
// once, then again (nothing changes), then interrupted midway and resumed; a dry run writes
// nothing; an MCP origin; an environment added to an existing wrangler.toml; and the written
// configuration passes wrangler's own `deploy --dry-run`.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { root, wranglerBin, wranglerEnv } from '../../scripts/lib.mjs';

const made = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function workspace() {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-init-'));
  made.push(dir);
  return dir;
}

const FLAGS = ['--name', 'Acme Notes', '--domain', 'notes.acme.example', '--origin', 'https://api.acme.example', '--auth', 'oauth', '--admin-email', 'owner@acme.example', '--yes'];

/** Runs the init command in `dir` with the stand-in; returns its status and output. */
function init(dir, extra = [], { failAt } = {}) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'init.mjs'), ...FLAGS, '--dir', dir, ...extra], {
    cwd: existsSync(dir) ? dir : dirname(dir),
    encoding: 'utf8',
    env: {
      ...process.env,
      PORTCULLIS_WRANGLER: join(root, 'scripts', 'commands', 'local-account.mjs'),
      LOCAL_ACCOUNT_FILE: join(dir, 'account.json'),
      LOCAL_ACCOUNT_D1: join(dir, 'd1'),
      ...(failAt ? { LOCAL_ACCOUNT_FAIL_AT: failAt } : {}),
    },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** TOML tables come without a prototype; compare them as plain data. */
const plain = (v) => JSON.parse(JSON.stringify(v));

const account = (dir) => JSON.parse(readFileSync(join(dir, 'account.json'), 'utf8'));

function query(dir, sql, env) {
  const r = spawnSync(wranglerBin, ['d1', 'execute', 'DB', '--local', `--persist-to=${join(dir, 'd1')}`, '--json', ...(env ? ['--env', env] : []), `--command=${sql}`], { cwd: dir, env: wranglerEnv(), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0].results;
}

function secretValues(dir, env = 'default') {
  return readFileSync(join(dir, '.portcullis', `${env}.secrets`), 'utf8').split('\n').filter(Boolean).map((l) => l.slice(l.indexOf('=') + 1));
}

describe('npm run init', () => {
  const dir = workspace();
  const openapi = join(root, 'static', 'openapi.json');

  test('writes the configuration, creates the database, stores the secrets, migrates and seeds', () => {
    const { status, out } = init(dir, ['--openapi', openapi]);
    assert.equal(status, 0, out);
    const config = parseToml(readFileSync(join(dir, 'wrangler.toml'), 'utf8'));
    const db = account(dir).databases;
    assert.equal(db.length, 1);
    assert.equal(config.d1_databases[0].database_id, db[0].uuid);
    assert.equal(config.vars.PUBLIC_BASE_URL, 'https://notes.acme.example');
    assert.equal(config.vars.PLUGIN.name_for_model, 'acme_notes');
    assert.equal(config.vars.PLUGIN.routes_from_openapi, true);
    assert.deepEqual(config.vars.PLUGIN.forward_headers, [], 'a new plugin forwards only the common headers');
    assert.equal(config.vars.PLUGIN.openapi_file, '/openapi.json');
    // No --scope: the manifest asks for every scope the document names, and says so.
    assert.equal(config.vars.PLUGIN.auth.scope, 'todos:read todos:write');
    assert.match(out, /scope: the manifest and clients ask for every scope the document names: todos:read todos:write \(--scope chooses fewer\)/);
    // Not this checkout: its Worker is this checkout's build, handed the directory's static/.
    assert.equal(config.main, 'portcullis-worker.mjs');
    const entry = readFileSync(join(dir, 'portcullis-worker.mjs'), 'utf8');
    assert.match(entry, /import file1 from "\.\/static\/openapi\.json";/);
    assert.ok(entry.includes(`export * from "${relative(dir, join(root, 'build', 'index.js'))}";`), entry);
    assert.deepEqual(plain(config.routes), [{ pattern: 'notes.acme.example', custom_domain: true }]);
    assert.ok(existsSync(join(dir, 'static', 'openapi.json')));
    assert.deepEqual(Object.keys(account(dir).secrets.default).sort(), ['ADMIN_TOKEN', 'ORIGIN_SECRET', 'RSA_SIGNING_KEY', 'SESSION_SECRET', 'SIGNING_KEY']);
    // Secrets: in the git-ignored file (mode 600), never printed, never in wrangler.toml.
    assert.equal(statSync(join(dir, '.portcullis', 'default.secrets')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(dir, '.gitignore'), 'utf8'), /^\/\.portcullis$/m);
    const toml = readFileSync(join(dir, 'wrangler.toml'), 'utf8');
    const calls = JSON.stringify(account(dir).calls);
    for (const value of secretValues(dir)) {
      assert.ok(!out.includes(value), 'a secret was printed');
      assert.ok(!toml.includes(value), 'a secret is in wrangler.toml');
      assert.ok(!calls.includes(value), 'a secret was on a command line');
    }
    // The first admin, and the API resource with the document's scopes as permissions.
    assert.deepEqual(query(dir, "SELECT email FROM users"), [{ email: 'owner@acme.example' }]);
    assert.deepEqual(query(dir, 'SELECT name FROM permissions ORDER BY name').map((p) => p.name), ['todos:read', 'todos:write']);
    assert.equal(query(dir, "SELECT COUNT(*) AS n FROM role_permissions WHERE role_id = 'rol_admin'")[0].n, 2);
    assert.match(out, /Left for you/);
    assert.match(out, /npx wrangler deploy/);
  });

  test('run again, it changes nothing', () => {
    const toml = readFileSync(join(dir, 'wrangler.toml'), 'utf8');
    const users = query(dir, 'SELECT id, password_hash, session_epoch FROM users');
    const calls = account(dir).calls.length;
    const { status, out } = init(dir, ['--openapi', openapi]);
    assert.equal(status, 0, out);
    assert.equal(readFileSync(join(dir, 'wrangler.toml'), 'utf8'), toml);
    assert.deepEqual(query(dir, 'SELECT id, password_hash, session_epoch FROM users'), users);
    const again = account(dir).calls.slice(calls);
    assert.ok(!again.some((c) => c.startsWith('d1 create') || c.startsWith('secret put')), again.join('\n'));
    assert.equal(account(dir).databases.length, 1);
  });

  test('interrupted midway, the next run finishes the job', () => {
    const fresh = workspace();
    const first = init(fresh, ['--openapi', openapi], { failAt: 'secret put ADMIN_TOKEN' });
    assert.notEqual(first.status, 0);
    assert.match(first.out, /secret put ADMIN_TOKEN failed/);
    const second = init(fresh, ['--openapi', openapi]);
    assert.equal(second.status, 0, second.out);
    const acct = account(fresh);
    assert.equal(acct.databases.length, 1, 'the database is created once');
    assert.deepEqual(Object.keys(acct.secrets.default).sort(), ['ADMIN_TOKEN', 'ORIGIN_SECRET', 'RSA_SIGNING_KEY', 'SESSION_SECRET', 'SIGNING_KEY']);
    assert.equal(acct.calls.filter((c) => c.startsWith('secret put SIGNING_KEY')).length, 1, 'a stored secret is not stored again');
    assert.deepEqual(query(fresh, 'SELECT email FROM users'), [{ email: 'owner@acme.example' }]);
  });

  test('a dry run shows the plan and every file it would write as a diff, and writes nothing', () => {
    const fresh = workspace();
    const { status, out } = init(fresh, ['--openapi', openapi, '--dry-run']);
    assert.equal(status, 0, out);
    assert.match(out, /\[dry run\] database: would create portcullis-acme-notes/);
    assert.match(out, /\[dry run\] config: writing wrangler\.toml/);
    assert.match(out, /^--- \/dev\/null\n\+\+\+ b\/wrangler\.toml\n@@ -0,0 \+1,\d+ @@\n/m);
    assert.match(out, /^\+PUBLIC_BASE_URL = "https:\/\/notes\.acme\.example"$/m);
    assert.match(out, /^\+\+\+ b\/portcullis-worker\.mjs$/m);
    assert.match(out, /^\+\+\+ b\/static\/openapi\.json$/m);
    assert.match(out, /^\+\/\.portcullis$/m, 'the .gitignore lines');
    assert.match(out, /^\.portcullis\/default\.secrets: new, the generated secrets \(never shown\)$/m);
    assert.ok(!existsSync(join(fresh, 'wrangler.toml')));
    assert.ok(!existsSync(join(fresh, 'static')));
    assert.ok(!existsSync(join(fresh, '.gitignore')));
    assert.ok(!existsSync(join(fresh, 'account.json')), 'no account call');
    // Of a directory init set up: only what would change, as lines removed and added.
    const toml = readFileSync(join(dir, 'wrangler.toml'), 'utf8');
    const changed = init(dir, ['--openapi', openapi, '--dry-run', '--description', 'Notes, kept.']);
    assert.equal(changed.status, 0, changed.out);
    assert.match(changed.out, /^--- a\/wrangler\.toml\n\+\+\+ b\/wrangler\.toml$/m);
    assert.match(changed.out, /^-description_for_human = "Acme Notes, through Portcullis\."\n\+description_for_human = "Notes, kept\."$/m);
    assert.doesNotMatch(changed.out, /portcullis-worker\.mjs\n@@/, 'an unchanged file shows no diff');
    assert.equal(readFileSync(join(dir, 'wrangler.toml'), 'utf8'), toml);
  });

  test('--local needs no account, and a later run with one replaces the local database id', () => {
    const fresh = workspace();
    const local = spawnSync(process.execPath, [join(root, 'scripts', 'init.mjs'), ...FLAGS, '--dir', fresh, '--openapi', openapi, '--local'], { cwd: fresh, encoding: 'utf8', env: { ...process.env, PORTCULLIS_WRANGLER: '/nonexistent/wrangler' } });
    assert.equal(local.status, 0, `${local.stdout}${local.stderr}`);
    const kept = JSON.parse(readFileSync(join(fresh, '.portcullis', 'local-account.json'), 'utf8'));
    assert.equal(kept.databases.length, 1);
    assert.deepEqual(Object.keys(kept.secrets.default).sort(), ['ADMIN_TOKEN', 'ORIGIN_SECRET', 'RSA_SIGNING_KEY', 'SESSION_SECRET', 'SIGNING_KEY']);
    assert.equal(parseToml(readFileSync(join(fresh, 'wrangler.toml'), 'utf8')).d1_databases[0].database_id, kept.databases[0].uuid);
    // The database is where wrangler dev keeps its own, seeded.
    const r = spawnSync(wranglerBin, ['d1', 'execute', 'DB', '--local', '--json', '--command=SELECT email FROM users'], { cwd: fresh, env: wranglerEnv(), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0].results, [{ email: 'owner@acme.example' }]);
    assert.match(local.stdout, /Deploy: this run used a local account \(--local\), so nothing reached Cloudflare/);
    assert.doesNotMatch(local.stdout, /npx wrangler deploy/);
    // With an account (the stand-in here), the database is the account's, not the local one,
    // even where .portcullis/ (git-ignored) did not come along: the local id has its own shape.
    assert.match(kept.databases[0].uuid, /^00000000-10ca-4000-8000-[0-9a-f]{12}$/);
    rmSync(join(fresh, '.portcullis', 'local-account.json'));
    const real = init(fresh, ['--openapi', openapi]);
    assert.equal(real.status, 0, real.out);
    assert.match(real.out, /database: the id recorded \([0-9a-f-]{36}\) is the local account's \(--local\): the account's own database replaces it/);
    const id = parseToml(readFileSync(join(fresh, 'wrangler.toml'), 'utf8')).d1_databases[0].database_id;
    assert.equal(id, account(fresh).databases[0].uuid);
    assert.notEqual(id, kept.databases[0].uuid);
  });

  test('--scope may name only scopes the document has', () => {
    const fresh = workspace();
    const wider = init(fresh, ['--openapi', openapi, '--scope', 'todos:read todos:admin']);
    assert.equal(wider.status, 1, wider.out);
    assert.match(wider.out, /--scope names todos:admin, which the document does not; it names todos:read todos:write/);
    assert.ok(!existsSync(join(fresh, 'wrangler.toml')), 'nothing written');
    assert.ok(!existsSync(join(fresh, 'account.json')), 'no account call');
    const fewer = init(fresh, ['--openapi', openapi, '--scope', 'todos:read', '--dry-run']);
    assert.equal(fewer.status, 0, fewer.out);
    assert.match(fewer.out, /^\+auth = \{ type = "oauth", scope = "todos:read" \}$/m);
    // A document that names no scope: its operations check none, and the manifest must ask for one.
    const bare = join(fresh, 'bare.json');
    writeFileSync(bare, JSON.stringify({ openapi: '3.1.0', info: { title: 'Bare', version: '1' }, components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } }, paths: { '/ping': { get: { security: [{ bearer: [] }], responses: { 200: { description: 'ok' } } } } } }));
    const none = init(fresh, ['--openapi', bare, '--dry-run']);
    assert.equal(none.status, 0, none.out);
    assert.match(none.out, /scope: the document names no OAuth scope, so its operations need a token and no scope in it; the manifest asks for "read"/);
    assert.equal(init(fresh, ['--openapi', bare, '--scope', 'ping', '--dry-run']).status, 0);
    // A document scope the manifest could not carry is named, and nothing is written.
    const odd = join(fresh, 'odd.json');
    writeFileSync(odd, JSON.stringify({ openapi: '3.1.0', info: { title: 'Odd', version: '1' }, paths: { '/n': { get: { security: [{ o: ['notes:écrire'] }], responses: { 200: { description: 'ok' } } } } } }));
    const refused = init(fresh, ['--openapi', odd]);
    assert.equal(refused.status, 1, refused.out);
    assert.match(refused.out, /the document names the scope "notes:écrire", which is not a scope token/);
    assert.ok(!existsSync(join(fresh, 'wrangler.toml')));
  });

  test('a run again without --scope keeps the scope the configuration asks for', () => {
    const fresh = workspace();
    assert.equal(init(fresh, ['--openapi', openapi, '--scope', 'todos:read']).status, 0);
    const again = init(fresh, ['--openapi', openapi]);
    assert.equal(again.status, 0, again.out);
    assert.match(again.out, /scope: kept the scope wrangler\.toml asks for: todos:read \(the document also names todos:write: --scope "todos:read todos:write" asks for them\)/);
    assert.equal(parseToml(readFileSync(join(fresh, 'wrangler.toml'), 'utf8')).vars.PLUGIN.auth.scope, 'todos:read');
    const wider = init(fresh, ['--openapi', openapi, '--scope', 'todos:read todos:write']);
    assert.equal(wider.status, 0, wider.out);
    assert.equal(parseToml(readFileSync(join(fresh, 'wrangler.toml'), 'utf8')).vars.PLUGIN.auth.scope, 'todos:read todos:write');
  });

  test('a fresh configuration deploys what this checkout\'s wrangler.toml deploys: classes, migrations, limits, crons', () => {
    // init writes its own copy of these for a directory without this checkout: they must not drift.
    const ours = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8'));
    const written = parseToml(readFileSync(join(dir, 'wrangler.toml'), 'utf8'));
    const byName = (list) => plain(list).sort((a, b) => a.name.localeCompare(b.name));
    for (const key of ['compatibility_date', 'compatibility_flags', 'migrations', 'triggers', 'durable_objects', 'observability']) {
      assert.deepEqual(plain(written[key]), plain(ours[key]), key);
    }
    assert.deepEqual(byName(written.ratelimits), byName(ours.ratelimits));
  });

  test('the written configuration passes wrangler deploy --dry-run', () => {
    const r = spawnSync(wranglerBin, ['deploy', '--dry-run', `--outdir=${join(dir, 'dry')}`], { cwd: dir, env: wranglerEnv(), encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const printed = `${r.stdout}${r.stderr}`;
    for (const binding of ['env.DB', 'env.QUOTA', 'env.GRANTS', 'env.RATE_LIMIT_TOKEN', 'env.PLUGIN']) assert.ok(printed.includes(binding), `${binding} in:\n${printed}`);
  });

  test('an MCP origin: the resource is the endpoint, its methods need a token, and the connectors are explained', () => {
    const fresh = workspace();
    const { status, out } = init(fresh, ['--mcp', '/mcp', '--scope', 'notes:read']);
    assert.equal(status, 0, out);
    const plugin = parseToml(readFileSync(join(fresh, 'wrangler.toml'), 'utf8')).vars.PLUGIN;
    assert.equal(plugin.resource, 'https://notes.acme.example/mcp');
    assert.deepEqual(plain(plugin.routes), [{ path: '/mcp', methods: ['GET', 'POST', 'DELETE'], scopes: ['notes:read'] }]);
    assert.match(out, /ChatGPT: Settings → Connectors .* https:\/\/notes\.acme\.example\/mcp/);
    assert.match(out, /Claude: .* https:\/\/notes\.acme\.example\/mcp/);
    assert.deepEqual(query(fresh, 'SELECT indicator FROM api_resources'), [{ indicator: 'https://notes.acme.example/mcp' }]);
  });

  test('an environment is added to an existing wrangler.toml, and only with --env', () => {
    const fresh = workspace();
    copyFileSync(join(root, 'wrangler.toml'), join(fresh, 'wrangler.toml'));
    const refused = init(fresh, ['--openapi', openapi]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.out, /--env/);
    const before = readFileSync(join(fresh, 'wrangler.toml'), 'utf8');
    const { status, out } = init(fresh, ['--openapi', openapi, '--env', 'production']);
    assert.equal(status, 0, out);
    const text = readFileSync(join(fresh, 'wrangler.toml'), 'utf8');
    assert.ok(text.startsWith(before.replace(/\n*$/, '\n')), 'the file is kept, the block added');
    const config = parseToml(text);
    assert.equal(config.vars.PUBLIC_BASE_URL, 'http://127.0.0.1:8787', 'the default environment is untouched');
    assert.equal(config.env.production.vars.PUBLIC_BASE_URL, 'https://notes.acme.example');
    assert.equal(config.env.production.d1_databases[0].database_name, 'portcullis-acme-notes-production');
    assert.equal(config.env.production.main, 'portcullis-worker.mjs', 'the environment names its own entry');
    assert.deepEqual(Object.keys(account(fresh).secrets.production).sort(), ['ADMIN_TOKEN', 'ORIGIN_SECRET', 'RSA_SIGNING_KEY', 'SESSION_SECRET', 'SIGNING_KEY']);
    assert.equal(init(fresh, ['--openapi', openapi, '--env', 'production']).status, 0);
    assert.equal(readFileSync(join(fresh, 'wrangler.toml'), 'utf8'), text, 'again: the same file');
  });
});

describe('npm run init --openapi <URL>', () => {
  const YAML_DOC = "openapi: 3.1.0\ninfo: {title: Notes, version: '1'}\ncomponents:\n  securitySchemes:\n    o: {type: oauth2, flows: {clientCredentials: {tokenUrl: /token, scopes: {'notes:read': Read notes}}}}\nsecurity: [{o: ['notes:read']}]\npaths:\n  /notes:\n    get: {responses: {'200': {description: ok}}}\n";
  let server;
  let base;
  let current = YAML_DOC;
  const served = [];
  after(() => server?.close());

  /** init without blocking this process, which serves the document (`yes: false`: without --yes). */
  function initAsync(dir, extra, { yes = true } = {}) {
    return new Promise((resolve) => {
      execFile(process.execPath, [join(root, 'scripts', 'init.mjs'), ...FLAGS.filter((f) => yes || f !== '--yes'), '--dir', dir, ...extra], {
        cwd: dir,
        env: { ...process.env, PORTCULLIS_WRANGLER: join(root, 'scripts', 'commands', 'local-account.mjs'), LOCAL_ACCOUNT_FILE: join(dir, 'account.json'), LOCAL_ACCOUNT_D1: join(dir, 'd1') },
      }, (error, stdout, stderr) => resolve({ status: error ? error.code : 0, out: `${stdout}${stderr}` }));
    });
  }

  test('the origin\'s document is downloaded, named by its content, and its scopes seeded', async () => {
    server = createServer((req, res) => {
      served.push(req.url);
      if (req.url === '/spec') res.writeHead(200, { 'content-type': 'application/yaml' }).end(current);
      else if (req.url === '/readme.json') res.writeHead(200).end('{"hello": "world"}');
      else if (req.url === '/elsewhere') res.writeHead(302, { location: 'http://example.invalid/spec' }).end();
      else res.writeHead(404).end();
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${server.address().port}`;
    const dir = workspace();
    const { status, out } = await initAsync(dir, ['--openapi', `${base}/spec`]);
    assert.equal(status, 0, out);
    assert.match(out, /openapi: downloading http:\/\/127\.0\.0\.1:\d+\/spec to static\/openapi\.yaml/);
    assert.equal(readFileSync(join(dir, 'static', 'openapi.yaml'), 'utf8'), YAML_DOC);
    assert.equal(parseToml(readFileSync(join(dir, 'wrangler.toml'), 'utf8')).vars.PLUGIN.openapi_file, '/openapi.yaml');
    assert.deepEqual(query(dir, 'SELECT name FROM permissions'), [{ name: 'notes:read' }]);
    const again = await initAsync(dir, ['--openapi', `${base}/spec`]);
    assert.equal(again.status, 0, again.out);
    assert.match(again.out, /openapi: static\/openapi\.yaml is up to date/);
    assert.equal(served.filter((u) => u === '/spec').length, 2, 'downloaded on every run');
    assert.match(again.out, /seed: the document names no new scope/);
    // An administrator takes notes:read from the admin role; then the document grows a scope:
    // the next run makes the new one a permission the role holds, and gives nothing back.
    query(dir, "DELETE FROM role_permissions WHERE role_id = 'rol_admin'");
    current = YAML_DOC.replace("{'notes:read': Read notes}", "{'notes:read': Read notes, 'notes:write': Write notes}");
    const grown = await initAsync(dir, ['--openapi', `${base}/spec`]);
    assert.equal(grown.status, 0, grown.out);
    assert.match(grown.out, /seed: the document's new scopes as permissions of the API resource: notes:write/);
    assert.deepEqual(query(dir, 'SELECT name, description FROM permissions ORDER BY name'), [{ name: 'notes:read', description: 'Read notes' }, { name: 'notes:write', description: 'Write notes' }]);
    assert.deepEqual(query(dir, "SELECT permission_id FROM role_permissions WHERE role_id = 'rol_admin'"), [{ permission_id: 'res_api:notes:write' }]);
  });

  test('a run again prints how the rules change, and writes one that widens access only with --yes', async () => {
    const NOTES = YAML_DOC.replace("{'notes:read': Read notes}", "{'notes:read': Read notes, 'notes:write': Write notes}")
      .replace('    get: {responses:', "    post: {security: [{o: ['notes:write']}], responses: {'201': {description: made}}}\n    get: {responses:");
    const dir = workspace();
    current = NOTES;
    assert.equal((await initAsync(dir, ['--openapi', `${base}/spec`])).status, 0);
    const written = () => [readFileSync(join(dir, 'static', 'openapi.yaml'), 'utf8'), readFileSync(join(dir, 'wrangler.toml'), 'utf8')];
    const first = written();
    // Each way of widening: a rule removed, a scope dropped, token to public, a new public route.
    for (const [doc, shows] of [
      [NOTES.replace(/\n    post: .*\n/, '\n'), /- POST \/notes\s+token notes:write\s+\(widens access: the rule is removed\)/],
      [NOTES.replace("security: [{o: ['notes:write']}]", "security: [{o: []}]"), /~ POST \/notes\s+token notes:write → token\s+\(widens access: no longer needs notes:write\)/],
      [NOTES.replace('    get: {responses:', '    get: {security: [], responses:'), /~ GET \/notes\s+token notes:read → public\s+\(widens access: public where it needed a token\)/],
      [`${NOTES}  /health:\n    get: {security: [], responses: {'200': {description: ok}}}\n`, /\+ GET \/health\s+public\s+\(widens access: a new public route\)/],
    ]) {
      current = doc;
      const refused = await initAsync(dir, ['--openapi', `${base}/spec`], { yes: false });
      assert.equal(refused.status, 1, refused.out);
      assert.match(refused.out, /routes: the rules the gateway enforces change/);
      assert.match(refused.out, shows);
      assert.match(refused.out, /widens access \(listed above\); nothing was written: run again with --yes/);
      assert.deepEqual(written(), first, 'nothing written');
      const dry = await initAsync(dir, ['--openapi', `${base}/spec`, '--dry-run'], { yes: false });
      assert.equal(dry.status, 0, dry.out);
      assert.match(dry.out, shows, 'a dry run shows the changes too');
    }
    // A change that only narrows (a scope added) is shown and written without asking.
    current = NOTES.replace("get: {responses:", "get: {security: [{o: ['notes:read', 'notes:write']}], responses:");
    const narrower = await initAsync(dir, ['--openapi', `${base}/spec`], { yes: false });
    assert.equal(narrower.status, 0, narrower.out);
    assert.match(narrower.out, /~ GET \/notes\s+token notes:read → token notes:read notes:write\n/);
    assert.equal(written()[0], current);
    // With --yes a widening change is written, and said so.
    current = NOTES.replace('    get: {responses:', '    get: {security: [], responses:');
    const yes = await initAsync(dir, ['--openapi', `${base}/spec`]);
    assert.equal(yes.status, 0, yes.out);
    assert.match(yes.out, /routes: 1 change widens access: written, as --yes says/);
    assert.equal(written()[0], current);
    const same = await initAsync(dir, ['--openapi', `${base}/spec`], { yes: false });
    assert.equal(same.status, 0, same.out);
    assert.match(same.out, /routes: the 2 rules are those in force/);
  });

  test('plain http is refused but from this machine, before anything is fetched or written', async () => {
    for (const url of ['http://api.acme.example/openapi.json', 'http://10.0.0.7:8080/spec', 'HTTP://notes.acme.example/spec']) {
      const dir = workspace();
      const { status, out } = await initAsync(dir, ['--openapi', url]);
      assert.equal(status, 1, `${url}: ${out}`);
      assert.match(out, /--openapi http:\/\/[^ ]+: plain http is refused, as the document decides who may call what; use https/);
      assert.equal(out.trim().split('\n').length, 1, 'one line');
      assert.ok(!existsSync(join(dir, 'wrangler.toml')) && !existsSync(join(dir, 'account.json')), `${url}: nothing written`);
    }
    // A loopback document that redirects to another host over http is refused too.
    const dir = workspace();
    const { status, out } = await initAsync(dir, ['--openapi', `${base}/elsewhere`]);
    assert.equal(status, 1, out);
    assert.match(out, /redirected to plain http/);
    assert.ok(!existsSync(join(dir, 'wrangler.toml')));
  });

  test('a document that is not there, or not OpenAPI, stops init before it writes anything', async () => {
    for (const [url, why] of [[`${base}/gone.json`, /HTTP 404/], [`${base}/readme.json`, /not an OpenAPI document/], ['http://127.0.0.1:9/x.json', /--openapi http:\/\/127\.0\.0\.1:9\/x\.json: /]]) {
      const dir = workspace();
      const { status, out } = await initAsync(dir, ['--openapi', url]);
      assert.equal(status, 1, out);
      assert.match(out, why);
      assert.ok(!existsSync(join(dir, 'wrangler.toml')), url);
      assert.ok(!existsSync(join(dir, 'account.json')), `${url}: no account call`);
    }
  });
});

describe('npm run init refuses what the gateway or wrangler would not take, before it writes', () => {
  test('flags with control characters or broken Unicode, bad environment names, an MCP path without /', () => {
    for (const [extra, why] of [
      [['--name', 'Todo\x7f'], /--name holds a control character/],
      [['--description', 'a\u0085b'], /--description holds a control character/],
      [['--scope', 'read\u001b[0m'], /--scope holds a control character or broken Unicode/],
      [['--env', 'prod staging'], /--env: a name of letters/],
      [['--env', '../x'], /--env: a name of letters/],
      [['--env', 'default'], /--env: a name of letters/],
      [['--mcp', 'mcp'], /--mcp: the endpoint's path/],
      [['--mcp', '/mcp/'], /--mcp: the endpoint's path/],
      [['--mcp', '/a/../mcp'], /--mcp: the endpoint's path/],
      [['--mcp', '/mcp*'], /--mcp: the endpoint's path/],
      [['--scope', 'read  write'], /--scope: scope tokens separated by single spaces/],
      [['--scope', ' read'], /--scope: scope tokens/],
      [['--description', 'd'.repeat(121)], /--description: at most 120 characters/],
      [['--origin', 'https://user:token@api.acme.example'], /--origin is required: an http\(s\) URL without credentials/],
    ]) {
      const dir = workspace();
      const { status, out } = init(dir, extra);
      assert.equal(status, 1, `${extra}: ${out}`);
      assert.match(out, why);
      assert.ok(!existsSync(join(dir, 'wrangler.toml')) && !existsSync(join(dir, 'account.json')), `${extra}: nothing written`);
    }
  });

  test('documents the gateway cannot read: YAML named .json, not UTF-8, too large; an odd name is replaced', () => {
    const docs = workspace();
    const yaml = readFileSync(join(root, 'tests', 'e2e', 'fixtures', 'notes.yaml'), 'utf8');
    writeFileSync(join(docs, 'spec.json'), yaml);
    writeFileSync(join(docs, 'latin1.yaml'), Buffer.concat([Buffer.from(yaml), Buffer.from([0x23, 0x20, 0xe9, 0x0a])]));
    writeFileSync(join(docs, 'huge.yaml'), `${yaml}#${'x'.repeat(2 * 1024 * 1024)}\n`);
    writeFileSync(join(docs, 'deep.json'), `{"openapi":"3.1.0","paths":{},"x":${'['.repeat(130)}${']'.repeat(130)}}`);
    for (const [file, why] of [['spec.json', /--openapi .*spec\.json: .*JSON/], ['latin1.yaml', /not UTF-8/], ['huge.yaml', /larger than the gateway reads/], ['missing.yaml', /no such file/], ['deep.json', /nested more than 128 deep/]]) {
      const dir = workspace();
      const { status, out } = init(dir, ['--openapi', join(docs, file)]);
      assert.equal(status, 1, `${file}: ${out}`);
      assert.match(out, why);
      assert.ok(!existsSync(join(dir, 'wrangler.toml')), file);
    }
    writeFileSync(join(docs, 'My API.yaml'), yaml);
    const dir = workspace();
    const { status, out } = init(dir, ['--openapi', join(docs, 'My API.yaml'), '--dry-run']);
    assert.equal(status, 0, out);
    assert.match(out, /copying .*My API\.yaml to static\/openapi\.yaml/);
    assert.doesNotMatch(out, /note:/);
    // A version the gateway reads as written, unquoted.
    writeFileSync(join(docs, 'v30.yaml'), yaml.replace('openapi: 3.1.0', 'openapi: 3.0'));
    assert.equal(init(workspace(), ['--openapi', join(docs, 'v30.yaml'), '--dry-run']).status, 0);
    // A server base path the origin URL lacks is pointed out (the gateway forwards /notes to
    // ORIGIN_URL/notes).
    writeFileSync(join(docs, 'v1.yaml'), yaml.replace('servers: [{url: https://notes.acme.example}]', 'servers: [{url: https://api.acme.example/v1}]'));
    const v1 = init(workspace(), ['--openapi', join(docs, 'v1.yaml'), '--dry-run']);
    assert.match(v1.out, /note: the document's operations are under \/v1 on its server; if that is the origin, --origin should end with \/v1/);
    const fine = init(workspace(), ['--openapi', join(docs, 'v1.yaml'), '--dry-run', '--origin', 'https://api.acme.example/v1/']);
    assert.doesNotMatch(fine.out, /note:/);
  });

  test('in this checkout, the demo\'s document is never written over', async () => {
    const { documentName } = await import('../../scripts/commands/init.mjs');
    assert.equal(documentName('/home/me/openapi.json', '{}', { checkout: true, model: 'acme_notes' }), 'acme_notes-openapi.json');
    assert.equal(documentName('https://api.acme.example/docs', '{}', { checkout: true, model: 'acme_notes' }), 'acme_notes-openapi.json');
    assert.equal(documentName('https://api.acme.example/docs', 'openapi: 3.1.0'), 'openapi.yaml');
    assert.equal(documentName('/home/me/openapi.json', '{}'), 'openapi.json');
  });

  test('a dry run for a directory that does not exist yet', () => {
    const dir = join(workspace(), 'not-yet');
    const { status, out } = init(dir, ['--mcp', '/mcp', '--dry-run']);
    assert.equal(status, 0, out);
    assert.ok(!existsSync(dir));
  });

  test('--env in a directory without wrangler.toml: the same file on the second run', () => {
    const dir = workspace();
    assert.equal(init(dir, ['--mcp', '/mcp', '--env', 'staging']).status, 0);
    const text = readFileSync(join(dir, 'wrangler.toml'), 'utf8');
    assert.equal(parseToml(text).env.staging.vars.PUBLIC_BASE_URL, 'https://notes.acme.example');
    const again = init(dir, ['--mcp', '/mcp', '--env', 'staging']);
    assert.equal(again.status, 0, again.out);
    assert.match(again.out, /config: wrangler\.toml is up to date/);
    assert.equal(readFileSync(join(dir, 'wrangler.toml'), 'utf8'), text);
  });

  test('a wrangler.toml whose own [env.NAME] sets what init writes is refused, in any spelling', () => {
    for (const own of ['[env.production.vars]\nA = "1"\n', '[env."production"]\nvars = { A = "1" }\n', 'env.production.routes = []\n']) {
      const dir = workspace();
      const text = `name = "mine"\nmain = "src/index.js"\ncompatibility_date = "2026-04-01"\n${own}`;
      writeFileSync(join(dir, 'wrangler.toml'), text);
      const { status, out } = init(dir, ['--mcp', '/mcp', '--env', 'production']);
      assert.equal(status, 1, `${own}: ${out}`);
      assert.match(out, /own \[env\.production\] sets (vars|routes), which init writes/);
      assert.equal(readFileSync(join(dir, 'wrangler.toml'), 'utf8'), text);
      assert.ok(!existsSync(join(dir, 'account.json')), 'no account call');
    }
  });

  test('a wrangler.toml with its own [env.NAME] table is told what to add to it', () => {
    const dir = workspace();
    const own = 'name = "mine"\nmain = "src/index.js"\ncompatibility_date = "2026-04-01"\n\n[env . "production"]  # the owner\'s\nname = "mine-production"\n';
    writeFileSync(join(dir, 'wrangler.toml'), own);
    const refused = init(dir, ['--mcp', '/mcp', '--env', 'production']);
    assert.equal(refused.status, 1, refused.out);
    assert.match(refused.out, /has its own \[env\.production\]: add main = "portcullis-worker\.mjs" and rules = \[\{ type = "Data", globs = \["\.\/static\/\*\*"\], fallthrough = false \}\] to it/);
    assert.equal(readFileSync(join(dir, 'wrangler.toml'), 'utf8'), own, 'unchanged');
    writeFileSync(join(dir, 'wrangler.toml'), own.replace('name = "mine-production"\n', 'name = "mine-production"\nmain = "portcullis-worker.mjs"\nrules = [{ type = "Data", globs = ["./static/**"], fallthrough = false }]\n'));
    const { status, out } = init(dir, ['--mcp', '/mcp', '--env', 'production']);
    assert.equal(status, 0, out);
    const config = parseToml(readFileSync(join(dir, 'wrangler.toml'), 'utf8'));
    assert.equal(config.env.production.main, 'portcullis-worker.mjs');
    assert.equal(config.env.production.vars.ORIGIN_URL, 'https://api.acme.example');
    const again = init(dir, ['--mcp', '/mcp', '--env', 'production']);
    assert.match(again.out, /config: wrangler\.toml is up to date/);
  });
});
