// The OpenAPI document: from static/ or fetched from the origin (cached), JSON or YAML either way,
// always with `servers` pointing at the gateway. One gateway plays several plugins by Host so each
// source and format is checked in one workerd.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { startGateway } from './harness.mjs';
import { benchPlugin } from '../../scripts/bench-plugin.mjs';

const site = (name, host, extra) => ({ ...benchPlugin, name_for_model: name, hosts: [host], ...extra });

let gw;
before(async () => {
  gw = await startGateway({
    plugins: ({ port }) => [
      { ...benchPlugin, hosts: [`127.0.0.1:${port}`], public_base_url: `http://127.0.0.1:${port}` },
      site('static_yaml', 'static-yaml.example', { openapi_path: '/openapi.yaml', openapi_file: '/openapi.json' }),
      site('origin_json', 'origin-json.example', { openapi_origin_path: '/openapi.yaml' }),
      site('origin_yaml', 'origin-yaml.example', { openapi_path: '/spec.yml', openapi_origin_path: '/openapi.yaml' }),
      site('broken', 'broken.example', { openapi_origin_path: '/no-such-spec.yaml' }),
    ],
  });
});
after(async () => {
  await gw?.stop();
});

function get(host, path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: gw.port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the OpenAPI document', () => {
  test('static JSON is served with servers pointing at the gateway', async () => {
    const res = await get(`127.0.0.1:${gw.port}`, '/openapi.json');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/json/);
    const doc = JSON.parse(res.body);
    assert.deepEqual(doc.servers, [{ url: gw.baseUrl }]);
    assert.equal(doc.paths['/todos'].get.operationId, 'listTodos');
  });

  test('the same static file can be published as YAML, and reads back equal with a YAML library', async () => {
    const json = JSON.parse((await get(`127.0.0.1:${gw.port}`, '/openapi.json')).body);
    const res = await get('static-yaml.example', '/openapi.yaml');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/yaml/);
    assert.ok(!res.body.trimStart().startsWith('{'), 'served as YAML, not JSON text');
    const doc = parseYaml(res.body);
    assert.deepEqual(doc.servers, [{ url: 'https://static-yaml.example' }]);
    assert.deepEqual({ ...doc, servers: null }, { ...json, servers: null });
    const manifest = JSON.parse((await get('static-yaml.example', '/.well-known/ai-plugin.json')).body);
    assert.equal(manifest.api.url, 'https://static-yaml.example/openapi.yaml');
    // Only the configured path is the document; /openapi.json is just an unrouted path here.
    assert.equal((await get('static-yaml.example', '/openapi.json')).status, 404);
  });

  test("a YAML document from the origin is published as JSON, fetched once while fresh, as the gateway", async () => {
    await gw.clearOriginRequests();
    const first = await get('origin-json.example', '/openapi.json');
    assert.equal(first.status, 200, first.body);
    const doc = JSON.parse(first.body);
    assert.deepEqual(doc.servers, [{ url: 'https://origin-json.example', description: 'the todo API' }]);
    assert.ok(!first.body.includes('127.0.0.1'), 'the origin address is not published');
    assert.equal(doc.info.version, '1.0');
    assert.deepEqual(Object.keys(doc.paths['/todos'].get.responses), ['200']);
    // The YAML alias is expanded.
    assert.deepEqual(
      doc.paths['/todos/{id}'].get.responses['200'].content['application/json'].schema,
      doc.paths['/todos'].get.responses['200'].content['application/json'].schema.items,
    );
    const again = await get('origin-json.example', '/openapi.json');
    assert.equal(again.body, first.body);
    const fetched = (await gw.originRequests()).filter((r) => r.path === '/openapi.yaml');
    assert.equal(fetched.length, 1, 'cached for the origin max-age');
    assert.equal(fetched[0].method, 'GET');
    assert.equal(fetched[0].headers['x-portcullis-auth'], 'gateway');
    assert.ok(fetched[0].headers['x-portcullis-assertion'], 'signed like every gateway request');
    assert.ok(fetched[0].headers['x-portcullis-signature'], 'and HMAC-signed with ORIGIN_SECRET');
  });

  test('an origin document can be published as YAML too', async () => {
    const res = await get('origin-yaml.example', '/spec.yml');
    assert.equal(res.status, 200);
    const doc = parseYaml(res.body);
    assert.equal(doc.servers[0].url, 'https://origin-yaml.example');
    assert.equal(doc.paths['/todos/{id}'].get.operationId, 'getTodo');
  });

  test('an origin that cannot give the document gets 502, without internal detail', async () => {
    const res = await get('broken.example', '/openapi.json');
    assert.equal(res.status, 502);
    const body = JSON.parse(res.body);
    assert.equal(body.error, 'bad_gateway');
    assert.ok(!res.body.includes('no-such-spec') && !res.body.includes('127.0.0.1'));
  });
});
