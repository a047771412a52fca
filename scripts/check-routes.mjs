#!/usr/bin/env node
// `npm run check-routes`: lists the OpenAPI document's operations whose rule at the gateway
// differs from what the document's `security` asks, and exits 1 if there is one (for CI). It
// starts the gateway locally on wrangler.toml's PLUGIN (or the JSON in PORTCULLIS_PLUGIN_JSON),
// asks the admin API's route comparison (the console's Routes section), and stops it.
import { startGateway } from '../tests/e2e/harness.mjs';

const plugin = process.env.PORTCULLIS_PLUGIN_JSON ? JSON.parse(process.env.PORTCULLIS_PLUGIN_JSON) : undefined;
const gw = await startGateway({ plugin, seed: false });
let failed = false;
try {
  const res = await fetch(`${gw.baseUrl}/admin/api/routes`, { headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}` } });
  const routes = await res.json();
  if (routes.problem) {
    console.log(`The document's operations cannot be compared: ${routes.problem}`);
    failed = true;
  } else {
    for (const o of routes.operations) {
      console.log(`${o.agrees ? 'ok      ' : 'DIFFERS '} ${`${o.method} ${o.path}`.padEnd(32)} document: ${o.document.padEnd(24)} gateway: ${o.gateway}`);
    }
    console.log(`${routes.operations.length} operations, ${routes.disagreements} where the gateway does otherwise${routes.from_openapi ? ' (rules from the document: routes_from_openapi)' : ''}.`);
    failed = routes.disagreements > 0;
  }
} finally {
  await gw.stop();
}
process.exitCode = failed ? 1 : 0;
