#!/usr/bin/env node
// `npm run init` / `npx portcullis init`: from nothing to a deployable gateway (scripts/commands/init.mjs).
import { isMain, runCommand } from './cli.mjs';

export const spec = {
  name: 'init',
  usage: 'npx portcullis init [FLAGS]   (in a clone: npm run init -- [FLAGS])',
  summary:
    'From nothing to a deployable gateway, in the directory it is deployed from: writes the configuration (a new wrangler.toml, or an [env.NAME] block in an existing one), creates the D1 database and records its id, generates the secrets and stores them with wrangler secret put, applies the migrations, seeds the first administrator and the API resource with the OpenAPI document\'s scopes as permissions, and prints what is left. Asks on a terminal for whatever a flag does not give. Every step looks first at what exists: a second run changes nothing, and an interrupted one resumes. Secrets are never printed; they are kept in .portcullis/ENV.secrets (mode 600, git-ignored) for you to read.',
  options: {
    name: { type: 'string', value: 'NAME', description: 'the plugin\'s name, as people see it (at most 100 characters)' },
    domain: { type: 'string', value: 'HOST', description: 'its public domain, where the gateway answers, such as notes.example.com' },
    origin: { type: 'string', value: 'URL', description: 'the origin API the gateway protects, such as https://api.example.com' },
    auth: { type: 'string', value: 'TYPE', description: 'how callers authenticate: none, service_http, user_http or oauth' },
    'admin-email': { type: 'string', value: 'EMAIL', description: 'the first administrator\'s email (they sign in with ADMIN_PASSWORD from the secrets file)' },
    openapi: { type: 'string', value: 'FILE|URL', description: 'the origin\'s OpenAPI document (JSON or YAML); a URL (https, or http from 127.0.0.1, localhost or [::1] only) is downloaded into static/ on every run. Its security becomes the route rules: a run again prints how they change, and writes a change that widens access only with --yes or once confirmed' },
    mcp: { type: 'string', value: 'PATH', description: 'the path of an MCP server (Streamable HTTP) instead of a document, such as /mcp' },
    scope: { type: 'string', value: '"A B"', description: 'the scopes the manifest and the client ask for (default: every scope the OpenAPI document names; for --mcp, required)' },
    env: { type: 'string', value: 'NAME', description: 'write an [env.NAME] block instead of the top level (wrangler deploy --env NAME)' },
    dir: { type: 'string', value: 'DIR', default: '.', description: 'the directory to deploy from' },
    description: { type: 'string', value: 'TEXT', description: 'the manifest\'s description_for_human (at most 120 characters; default: "NAME, through Portcullis.")' },
    'description-for-model': { type: 'string', value: 'TEXT', description: 'the manifest\'s description_for_model (default: "Use NAME for the user.")' },
    local: { type: 'boolean', default: false, description: 'no Cloudflare account: the account\'s calls (D1 create, secret put, remote D1) are made against local state instead, so what init writes can be run with npx portcullis dev' },
    'dry-run': { type: 'boolean', default: false, description: 'print the plan and every file it would write as a diff; write and call nothing' },
    yes: { type: 'boolean', default: false, description: 'ask nothing: what no flag gives is an error, and route changes that widen access (a rule removed, a scope dropped, token to public, a new public route) go ahead; without it, and not on a terminal, they stop the run before it writes' },
  },
  examples: [
    'npx portcullis init --name "Acme Notes" --domain notes.acme.example --origin https://api.acme.example \\\n    --auth oauth --admin-email you@acme.example --openapi https://api.acme.example/openapi.json',
    'npx portcullis init --local --yes --name Notes --domain notes.example.com --origin http://127.0.0.1:9000 --auth oauth --admin-email you@example.com --openapi openapi.yaml',
  ],
  notes: 'docs/deploy.md walks through it with the output of each step. PORTCULLIS_WRANGLER names another wrangler to run.',
};

/** What it needs installed first (in a clone). */
export const install = 'packages';

export const load = () => import('./commands/init.mjs');

if (isMain(import.meta.url)) await runCommand(spec, load, { install });
