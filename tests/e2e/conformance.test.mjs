// The official MCP conformance suite (@modelcontextprotocol/conformance) against the gateway as an
// authorization server, in front of an MCP server. Its `authorization` command is the only part of
// the suite that tests an authorization server: `authorization-server-metadata-endpoint` (RFC 8414
// metadata: status, JSON, issuer equal to the URL it was fetched for, code + S256, CIMD advertised)
// and `authorization-code-grant` (authorization request with PKCE and the RFC 8707 resource, the
// redirect back with code, state and iss, the token response: 200, JSON, no-store). The suite's
// `auth/*` scenarios test an MCP client against the suite's own mock authorization server, and its
// `server` scenarios test an MCP server's tools without authorization, so neither applies here.
//
// The suite's CLI needs Node 22 (fs.globSync); under an older node it runs on the one
// scripts/setup.sh installs into scripts/node. It is a user's browser the suite waits for; here
// the test plays the user (sign in, allow) and follows the redirect to the suite's callback server.
// Everything binds 127.0.0.1; nothing leaves the machine.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMcpGateway } from './mcp-gateway.mjs';
import { FormBrowser, decide, signIn } from './browser.mjs';
import { freePort, node22, root } from '../../scripts/lib.mjs';

const CLI = join(root, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');

/** A node the suite runs on: this one if it is 22 or newer, else the one setup.sh installed. */
function suiteNode() {
  const node = node22();
  assert.ok(node, 'the conformance suite needs Node 22: run scripts/setup.sh (installs it under scripts/node)');
  return node;
}

/**
 * Runs the suite's CLI to the end; `onLine(line, stop)` sees each line of its output as it comes,
 * and `stop()` ends the suite early (its process, by id).
 */
function conformance(args, { onLine = () => {}, timeoutMs = 60000 } = {}) {
  const child = spawn(suiteNode(), [CLI, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = () => child.exitCode === null && child.signalCode === null && process.kill(child.pid, 'SIGKILL');
  let output = '';
  let pending = '';
  const take = (chunk) => {
    output += chunk;
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) onLine(line, stop);
  };
  child.stdout.setEncoding('utf8').on('data', take);
  child.stderr.setEncoding('utf8').on('data', take);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`conformance did not finish within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** GETs the suite's callback URL, waiting for its callback server to listen. */
async function deliver(url) {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return res;
    } catch (e) {
      if (attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

let server;
let out;
before(async () => {
  server = await startMcpGateway();
  out = mkdtempSync(join(tmpdir(), 'portcullis-conformance-'));
});
after(async () => {
  await server?.stop();
  if (out) rmSync(out, { recursive: true, force: true });
});

describe('the official MCP conformance suite, authorization server scenarios', () => {
  test('every authorization server scenario passes, the authorization code grant included', async () => {
    const { gw, mcpUrl } = server;
    const listed = await conformance(['list', '--authorization']);
    assert.equal(listed.code, 0, listed.output);
    const scenarios = [...listed.output.matchAll(/^\s+- (\S+)/gm)].map((m) => m[1]).sort();
    assert.deepEqual(scenarios, ['authorization-code-grant', 'authorization-server-metadata-endpoint']);

    // The suite's client: public, PKCE, redirected to the suite's loopback callback server.
    const port = await freePort();
    const reg = await fetch(`${gw.baseUrl}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'MCP conformance suite',
        redirect_uris: [`http://127.0.0.1:${port}/callback`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }),
    });
    assert.equal(reg.status, 201);
    const { client_id } = await reg.json();

    let user;
    const run = await conformance(
      ['authorization', '--url', gw.baseUrl, '--client-id', client_id, '--port', String(port), '--resource', mcpUrl.href, '--output-dir', out],
      {
        onLine: (line, stop) => {
          if (user || !line.startsWith(`${gw.baseUrl}/authorize?`)) return;
          // The user, in the browser the suite asks for: signs in, allows, is sent back.
          user = (async () => {
            const browser = new FormBrowser(gw.baseUrl);
            const login = await browser.get(line.trim());
            assert.equal(login.status, 200, login.text_);
            const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
            assert.equal(signedIn.status, 303, signedIn.text_);
            const consent = await browser.get(signedIn.headers.get('location'));
            assert.equal(consent.status, 200, consent.text_);
            assert.match(consent.text_, /MCP conformance suite/);
            const back = await decide(browser, consent);
            assert.equal(back.status, 303, back.text_);
            const callback = back.headers.get('location');
            assert.ok(callback.startsWith(`http://127.0.0.1:${port}/callback?`), callback);
            assert.equal((await deliver(callback)).status, 200);
          })();
          // Awaited below; when the user cannot get through, the suite would wait minutes for them.
          user.catch(stop);
        },
      },
    );
    assert.ok(user, `the suite never asked for the authorization endpoint:\n${run.output}`);
    await user;

    // Every check the suite made, per scenario: all of them pass (no failure, warning or skip).
    const ran = readdirSync(out).sort();
    const checks = ran.flatMap((dir) => JSON.parse(readFileSync(join(out, dir, 'checks.json'), 'utf8')));
    const failures = checks.filter((c) => c.status !== 'SUCCESS').map((c) => `${c.id}: ${c.status} ${c.errorMessage ?? ''}`);
    assert.equal(run.code, 0, `${run.output}\n${failures.join('\n')}`);
    assert.equal(ran.length, scenarios.length, ran.join(', '));
    assert.deepEqual(
      checks.map((c) => [c.id, c.status, c.errorMessage]).sort(),
      [
        ['authorization-code-grant', 'SUCCESS', undefined],
        ['authorization-server-metadata', 'SUCCESS', undefined],
        ['authorization-server-metadata-cimd', 'SUCCESS', undefined],
      ],
      run.output,
    );
  });
});
