// Generates the Prisma Client into backend/src/infra/db/generated. Runs after `npm install`
// and before `npm start`/`npm run build`. The client uses driver adapters and needs no
// native engine, so the schema engine is pointed at /bin/false (it cannot be downloaded
// on offline machines and generate does not need it).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
let cli;
try {
  cli = require.resolve('prisma/build/index.js', { paths: [root] });
} catch {
  console.log('prisma CLI not installed yet; skipping generate');
  process.exit(0);
}
const result = spawnSync(process.execPath, [cli, 'generate'], {
  cwd: root,
  stdio: process.env.PRISMA_GENERATE_VERBOSE ? 'inherit' : ['ignore', 'ignore', 'inherit'],
  env: { PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false', PRISMA_HIDE_UPDATE_MESSAGE: '1', ...process.env },
});
process.exit(result.status ?? 1);
