// `npm start`: builds whatever is missing (Prisma Client, the web app), then runs the
// server in production mode. With nothing configured it uses the embedded default:
// PGlite in ./data/db and files in ./data/media. On first run it creates a random JWT
// secret in ./data/jwt-secret (mode 600) unless JWT_SECRET is set.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

if (!existsSync(path.join(root, 'backend/src/infra/db/generated/client.ts'))) {
  console.log('Generating Prisma Client…');
  run(process.execPath, ['scripts/prisma-generate.mjs']);
}

const webIndex = path.join(root, 'frontend/dist/index.html');
const webSources = [
  path.join(root, 'frontend/src'),
  path.join(root, 'frontend/index.html'),
  path.join(root, 'contracts/src'),
];
const webStale =
  !existsSync(webIndex) ||
  statSync(webIndex).mtimeMs <
    Math.max(...webSources.map((p) => (statSync(p).isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)));
if (webStale) {
  console.log('Building the web app…');
  run('npm', ['run', 'build', '--silent', '-w', '@parley/frontend']);
}

// glibc keeps what libvips (pictures) freed in per-thread arenas; two arenas give memory back
// (specs/benchmarks.md, media memory). The environment may say otherwise.
const env = { NODE_ENV: 'production', MALLOC_ARENA_MAX: '2', ...process.env };
if (!env.JWT_SECRET) {
  const dataDir = path.resolve(root, env.DATA_DIR || 'data');
  const secretFile = path.join(dataDir, 'jwt-secret');
  if (!existsSync(secretFile)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(secretFile, randomBytes(48).toString('base64url'), { mode: 0o600 });
  }
  env.JWT_SECRET = readFileSync(secretFile, 'utf8').trim();
}

const server = spawn(process.execPath, ['--import', 'tsx', 'backend/src/main.ts'], {
  cwd: root,
  env,
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill(signal));
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
