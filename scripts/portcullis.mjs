#!/usr/bin/env node
// `npx portcullis <command>`, the published package's command line: each command is the script
// of the same name in this folder, with its own --help.
import { exitWithUsage, formatUsage, isMain, runCommand } from './cli.mjs';

const commands = {
  init: () => import('./init.mjs'),
  dev: () => import('./dev.mjs'),
  'check-routes': () => import('./check-routes.mjs'),
};

export const spec = {
  name: 'portcullis',
  usage: 'npx portcullis COMMAND [FLAGS]   (npx portcullis COMMAND --help for its flags)',
  summary: 'Portcullis, an edge auth gateway for the APIs AI assistants call, deployed as a Cloudflare Worker from a directory of your own.',
  positionals: [
    { name: 'init', description: 'write the configuration, create the database and the secrets, seed the first administrator (add --local to try it without a Cloudflare account)' },
    { name: 'dev', description: 'serve what init wrote on this machine: workerd with local D1 and Durable Objects' },
    { name: 'check-routes', description: 'the OpenAPI document\'s operations beside the gateway\'s rules; exit 1 where they differ' },
  ],
  examples: ['npx portcullis init --help', 'npx portcullis init --local --yes --name Notes --domain notes.example.com --origin http://127.0.0.1:9000 --auth oauth --admin-email you@example.com --openapi openapi.yaml', 'npx portcullis dev'],
  notes: 'docs/deploy.md in this package walks through deploying.',
};

if (isMain(import.meta.url)) {
  const [command, ...args] = process.argv.slice(2);
  if (Object.hasOwn(commands, command)) {
    const entry = await commands[command]();
    const usage = entry.spec.usage.replace(/^npx portcullis \S+|^\S+/, `npx portcullis ${command}`).replace(/\s+\(in a clone:.*\)$/, '');
    await runCommand({ ...entry.spec, name: `portcullis ${command}`, usage }, entry.load, { install: entry.install, args });
  } else if (!command || ['-h', '--help', 'help'].includes(command)) {
    process.stdout.write(formatUsage(spec));
  } else {
    exitWithUsage(spec, `no command ${JSON.stringify(command)}`);
  }
}
