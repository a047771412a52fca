// A stand-in for wrangler's calls that need a Cloudflare account: `portcullis init --local` runs
// it instead of wrangler, so init can be tried end to end with no account, and the tests do.
// `d1 list`, `d1 create`, `secret list` and `secret put` are answered from a JSON file
// (LOCAL_ACCOUNT_FILE), every call is logged there, and a secret's value is kept only as a hash.
// D1 migrations and queries run for real, on the local database under LOCAL_ACCOUNT_D1 (`--remote`
// becomes `--local`), which is where `wrangler dev` keeps its own. LOCAL_ACCOUNT_FAIL_AT makes the
// first call that starts with it fail, once, as an interrupted run would (for the tests).
//
//   node scripts/commands/local-account.mjs <wrangler arguments>
import { spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { wranglerBin, wranglerEnv } from '../lib.mjs';

const accountFile = process.env.LOCAL_ACCOUNT_FILE;
const account = existsSync(accountFile) ? JSON.parse(readFileSync(accountFile, 'utf8')) : { databases: [], secrets: {}, calls: [], failed: [] };
const save = () => writeFileSync(accountFile, JSON.stringify(account, null, 2));
const args = process.argv.slice(2);
const line = args.join(' ');
account.calls.push(line.replace(/--command=.*/, '--command=…'));
const failAt = process.env.LOCAL_ACCOUNT_FAIL_AT;
if (failAt && line.startsWith(failAt) && !account.failed.includes(failAt)) {
  account.failed.push(failAt);
  save();
  console.error('✘ [ERROR] A request to the Cloudflare API failed (LOCAL_ACCOUNT_FAIL_AT said to).');
  process.exit(1);
}
const envOf = () => (args.includes('--env') ? args[args.indexOf('--env') + 1] : 'default');
const readStdin = () => readFileSync(0, 'utf8');

if (args[0] === 'd1' && args[1] === 'list') {
  console.log(JSON.stringify(account.databases.map((d) => ({ uuid: d.uuid, name: d.name }))));
} else if (args[0] === 'd1' && args[1] === 'create') {
  // For `init --local`, an id of a shape no account gives, so init tells it from a real one
  // (scripts/commands/init.mjs); the tests, playing a real account, get random ones.
  const local = process.env.LOCAL_ACCOUNT_IDS === 'local';
  const db = { name: args[2], uuid: local ? `00000000-10ca-4000-8000-${randomUUID().slice(-12)}` : randomUUID() };
  account.databases.push(db);
  console.log(`✅ Successfully created DB '${db.name}'\n\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "${db.name}"\ndatabase_id = "${db.uuid}"`);
} else if (args[0] === 'secret' && args[1] === 'list') {
  console.log(JSON.stringify(Object.keys(account.secrets[envOf()] ?? {}).map((name) => ({ name, type: 'secret_text' }))));
} else if (args[0] === 'secret' && args[1] === 'put') {
  const value = readStdin();
  if (!value) {
    console.error('no value on stdin');
    process.exit(1);
  }
  (account.secrets[envOf()] ??= {})[args[2]] = createHash('sha256').update(value).digest('hex');
  console.log(`✨ Success! Uploaded secret ${args[2]}`);
} else if (args[0] === 'd1' && (args[1] === 'execute' || args[1] === 'migrations')) {
  const local = args.map((a) => (a === '--remote' ? '--local' : a)).concat(`--persist-to=${process.env.LOCAL_ACCOUNT_D1}`);
  const r = spawnSync(wranglerBin, local, { env: wranglerEnv(), encoding: 'utf8' });
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  save();
  process.exit(r.status ?? 1);
} else {
  console.error(`the local account does not know: wrangler ${line}`);
  process.exit(1);
}
save();
