#!/usr/bin/env bash
# Proves the two packages install and work as a user gets them: packs @ds100-admin/sdk and
# ds100-admin, installs both tarballs into an empty project, type-checks a consumer file that
# imports the SDK under `strict` (no TypeBox, no server package in its types), starts
# `npx ds100-admin serve --demo` from the installed package and drives it through the installed SDK,
# then starts the emulator from `ds100-admin/testing`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
server_pid=
cleanup() {
  # npx runs the server as a child of its own: the whole session goes, not npx alone.
  [ -n "$server_pid" ] && kill -- "-$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cd "$repo"
npm pack --silent -w @ds100-admin/sdk --pack-destination "$work" >/dev/null
npm pack --silent --pack-destination "$work" >/dev/null
sdk_tgz=$(ls "$work"/ds100-admin-sdk-*.tgz)
server_tgz=$(ls "$work"/ds100-admin-[0-9]*.tgz)
echo "packed-install: $(basename "$sdk_tgz") ($(tar -tzf "$sdk_tgz" | wc -l) files), $(basename "$server_tgz") ($(tar -tzf "$server_tgz" | wc -l) files)"
if tar -tzf "$server_tgz" | grep -qE '^package/(src|test|bench)/'; then
  echo "packed-install: the server tarball carries sources or tests" >&2
  exit 1
fi

mkdir "$work/consumer"
cd "$work/consumer"
echo '{ "name": "consumer", "private": true, "type": "module" }' > package.json
npm install --no-audit --no-fund --silent --ignore-scripts "$sdk_tgz" "$server_tgz" typescript@5.9 @types/node@20
# better-sqlite3's native module: the one the repository built for this Node when it is the same
# version (compiling it again takes minutes on two cores), else built here.
ours=$(node -p "require('$repo/node_modules/better-sqlite3/package.json').version")
theirs=$(node -p "require('./node_modules/better-sqlite3/package.json').version")
if [ "$ours" = "$theirs" ] && [ -d "$repo/node_modules/better-sqlite3/build" ]; then
  cp -r "$repo/node_modules/better-sqlite3/build" node_modules/better-sqlite3/
else
  npm rebuild --silent better-sqlite3
fi
# The SDK alone must pull in nothing: no fastify, no native module.
sdk_deps=$(node -e "console.log(Object.keys(require('./node_modules/@ds100-admin/sdk/package.json').dependencies ?? {}).length)")
[ "$sdk_deps" = 0 ] || { echo "packed-install: the SDK has $sdk_deps dependencies" >&2; exit 1; }

cat > consumer.ts <<'TS'
import { Ds100AdminClient, NotFoundError, type CredentialResponse, type StatusItemResponse } from '@ds100-admin/sdk';

const [keyFile] = process.argv.slice(2);
if (!keyFile) throw new Error('usage: consumer <key file>');
const client = await Ds100AdminClient.fromKeyFile(keyFile);
const user = await client.lookupUser({ email: 'jane.doe@example.com' });
const items: StatusItemResponse[] = await client.disableOtp({ deviceSerialNumber: '140100080', userId: user.id });
const records: CredentialResponse[] = await client.lookupDs100({ deviceSerialNumber: '140100080' });
let missing = false;
try {
  await client.lookupUser({ email: 'nobody@example.com' });
} catch (error) {
  missing = error instanceof NotFoundError;
}
console.log(JSON.stringify({ user: user.id, status: items[0]?.tokenStatus, records: records.length, missing }));
TS
cat > tsconfig.json <<'JSON'
{ "compilerOptions": { "strict": true, "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "types": ["node"], "outDir": "out", "skipLibCheck": false } }
JSON
npx tsc -p tsconfig.json
echo "packed-install: consumer.ts type-checks under strict against the installed SDK"

setsid npx ds100-admin serve --demo --port 0 --data ./data > serve.log 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do grep -q 'listening on' serve.log && break; sleep 0.2; done
grep -q 'listening on' serve.log || { echo "packed-install: the installed server did not start:" >&2; cat serve.log >&2; exit 1; }
key=$(sed -n 's/^bootstrap SuperAdmin key file: //p' serve.log)
result=$(node out/consumer.js "$key")
echo "packed-install: driven through the installed SDK: $result"
echo "$result" | grep -q '"status":"Disabled","records":[1-9][0-9]*,"missing":true' || { echo "packed-install: unexpected answer" >&2; exit 1; }
# The console's bundle ships in the package: its page is served, and --demo offers an enrolment link.
base=$(sed -n 's/^ds100-admin listening on \(http:[^ ]*\).*/\1/p' serve.log)
node -e "fetch(process.argv[1] + '/console/').then(async (r) => { const t = await r.text(); if (r.status !== 200 || !t.includes('console.js')) { console.error('console page: ' + r.status); process.exit(1); } })" "$base" \
  || { echo "packed-install: the installed server does not serve the console" >&2; exit 1; }
grep -q '^console: enrol the demo SuperAdmin' serve.log || { echo "packed-install: serve --demo printed no enrolment link" >&2; exit 1; }
echo "packed-install: the console is served from the installed package"
kill -- "-$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=

# The emulator as a Node test runner gets it: `ds100-admin/testing`, driven through the installed SDK.
cat > emulator.mjs <<'JS'
import { Ds100AdminClient } from '@ds100-admin/sdk';
import { startEmulator } from 'ds100-admin/testing';

const emulator = await startEmulator({ seed: { users: [{ id: 'u-1', email: 'pat@example.com' }] } });
try {
  await emulator.control.addFault({ path: '/v1/users/lookup', status: 503, count: 1 });
  const client = await Ds100AdminClient.fromKeyFile(emulator.keyFiles.ReadOnly, { retry: { baseDelayMs: 5 } });
  const user = await client.lookupUser({ email: 'pat@example.com' });
  const statuses = (await emulator.control.requests()).map((e) => e.status);
  console.log(JSON.stringify({ user: user.id, statuses }));
} finally {
  await emulator.close();
}
JS
result=$(node emulator.mjs)
echo "packed-install: ds100-admin/testing: $result"
[ "$result" = '{"user":"u-1","statuses":[503,200]}' ] || { echo "packed-install: unexpected emulator answer" >&2; exit 1; }
echo "packed-install: passed"
