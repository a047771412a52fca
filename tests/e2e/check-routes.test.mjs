// `npm run check-routes`: the demo's rules agree with its document; a plugin whose explicit rule
// contradicts the document is listed and fails the check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { root } from '../../scripts/lib.mjs';

function check(plugin) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'check-routes.mjs')], {
    encoding: 'utf8',
    env: { ...process.env, ...(plugin ? { PORTCULLIS_PLUGIN_JSON: JSON.stringify(plugin) } : {}) },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('the demo agrees with its document', () => {
  const { status, out } = check();
  assert.equal(status, 0, out);
  assert.match(out, /5 operations, 0 where the gateway does otherwise/);
});

test('an explicit rule that contradicts the document is listed, and the check fails', () => {
  const todo = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8')).vars.PLUGIN;
  const { status, out } = check({ ...todo, routes: [{ path: '/todos', methods: ['GET'], access: 'public' }, ...todo.routes] });
  assert.equal(status, 1, out);
  assert.match(out, /DIFFERS\s+GET \/todos\s+document: token todos:read\s+gateway: public/);
  assert.match(out, /5 operations, 1 where the gateway does otherwise/);
});
