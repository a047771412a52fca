#!/usr/bin/env node
// `npx portcullis <command>`, the published package's command line:
//   npx portcullis init --name … --domain … --origin … --auth … --admin-email … [--openapi FILE or URL]
//     run in the directory the gateway is deployed from (scripts/init.mjs, docs/deploy.md);
//   npx portcullis check-routes --url https://notes.acme.example [--env NAME | --secrets FILE]
//     the document's operations beside the gateway's rules, exit 1 where they differ
//     (scripts/check-routes.mjs).
const commands = { init: () => import('./init.mjs'), 'check-routes': () => import('./check-routes.mjs') };
const [command, ...args] = process.argv.slice(2);
if (commands[command]) await (await commands[command]()).main(args);
else {
  const help = !command || ['-h', '--help', 'help'].includes(command);
  console.error(`usage: portcullis init [flags] | portcullis check-routes --url URL   (docs/deploy.md in this package says which flags)${help ? '' : `\nportcullis: no command ${JSON.stringify(command)}`}`);
  process.exitCode = help ? 0 : 2;
}
