// The seed's `permissions_from_openapi`: the scopes an OpenAPI document names become the API
// resource's permissions, so an owner writes them once. Pure: no gateway is started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openapiScopes, seedSql } from '../../scripts/commands/seed.mjs';
import { root } from '../../scripts/lib.mjs';

test('the OAuth flows\' scopes keep their descriptions, and operations add the scopes they ask for', () => {
  const doc = JSON.stringify({
    openapi: '3.1.0',
    components: { securitySchemes: {
      oauth: { type: 'oauth2', flows: { authorizationCode: { authorizationUrl: '/a', tokenUrl: '/t', scopes: { 'notes:read': 'Read notes' } } } },
      key: { type: 'apiKey', in: 'header', name: 'X-Key' },
    } },
    security: [{ oauth: ['notes:read'] }],
    paths: {
      '/notes': { post: { security: [{ oauth: ['notes:write'] }] }, get: {} },
      '/admin': { delete: { security: [{ key: ['admin'] }, {}] } },
      '/open': { get: { security: [] } },
    },
  });
  assert.deepEqual(openapiScopes(doc), [
    { name: 'notes:read', description: 'Read notes' },
    { name: 'notes:write', description: '' },
    { name: 'admin', description: '' },
  ]);
});

test('Swagger 2.0 in YAML is read too, and junk is skipped', () => {
  const yaml = [
    'swagger: "2.0"',
    'securityDefinitions:',
    '  oauth:',
    '    type: oauth2',
    '    flow: accessCode',
    '    scopes:',
    '      things:read: Read things',
    'paths:',
    '  /things:',
    '    get:',
    '      security:',
    '        - oauth: ["things:read", "not a scope", 5]',
  ].join('\n');
  assert.deepEqual(openapiScopes(yaml), [{ name: 'things:read', description: 'Read things' }]);
});

test('the demo seed takes its resource\'s permissions from the demo document', () => {
  const seed = JSON.parse(readFileSync(join(root, 'demo', 'seed.json'), 'utf8'));
  assert.equal(seed.resources[0].permissions_from_openapi, 'static/openapi.json');
  const sql = seedSql(seed, { baseUrl: 'http://127.0.0.1:8787', secrets: { DEMO_PASSWORD: 'p', DEMO_CLIENT_SECRET: 's' } });
  assert.match(sql, /INSERT INTO permissions .*'res_todos:todos:read', 'res_todos', 'todos:read', 'Read your todos'/);
  assert.match(sql, /INSERT INTO permissions .*'res_todos:todos:write', 'res_todos', 'todos:write', 'Create, change and delete your todos'/);
  // A permission the seed lists keeps its own description.
  seed.resources[0].permissions = [{ name: 'todos:read', description: 'Mine' }];
  const listed = seedSql(seed, { baseUrl: 'http://x', secrets: { DEMO_PASSWORD: 'p', DEMO_CLIENT_SECRET: 's' } });
  assert.match(listed, /'todos:read', 'Mine'/);
  assert.equal(listed.split('\n').filter((l) => l.startsWith('INSERT INTO permissions') && l.includes("'res_todos:todos:read'")).length, 1);
});
