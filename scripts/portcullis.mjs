#!/usr/bin/env node
// `npx portcullis <command>`, the published package's command line. One command for now:
//   npx portcullis init --name … --domain … --origin … --auth … --admin-email … [--openapi FILE or URL]
// run in the directory the gateway is deployed from (see scripts/init.mjs and docs/deploy.md).
import { main as init } from './init.mjs';

const [command, ...args] = process.argv.slice(2);
if (command === 'init') await init(args);
else {
  console.error(`usage: portcullis init [flags]   (docs/deploy.md in this package says which)${command && !['-h', '--help', 'help'].includes(command) ? `\nportcullis: no command ${JSON.stringify(command)}` : ''}`);
  process.exitCode = command && !['-h', '--help', 'help'].includes(command) ? 2 : 0;
}
