// The production build of the server, as the Dockerfile runs it: one ESM bundle per entry
// point (the server, the migration runner, the admin CLI, the container's health check)
// with the workspace packages (contracts) and the generated Prisma Client inside and every
// npm package outside; next to them the SQL migrations and the built web app, and a
// package.json naming the npm packages the bundles import, at the versions installed here.
//
//   node scripts/build-server.mjs [--out dist/server] [--web frontend/dist]
//
// Layout of --out (the image's /app), the repository's own, so paths resolve as in a checkout:
//   backend/dist/server.js, migrate.js, admin.js, healthcheck.js (and shared chunks)
//   prisma/migrations/   frontend/dist/   package.json
// Its node_modules (node_modules/ and backend/node_modules/, as npm's workspace install lays
// them out) come from `npm ci --omit=dev --workspace @parley/backend` pruned to package.json
// by scripts/prune-node-modules.mjs. Needs Prisma Client generated and the web app built.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'dist/server' },
    web: { type: 'string', default: 'frontend/dist' },
  },
});
const out = path.resolve(root, args.out);
const web = path.resolve(root, args.web);

const entries = {
  server: 'backend/src/main.ts',
  migrate: 'backend/src/infra/db/migrate-cli.ts',
  admin: 'backend/src/admin/cli.ts',
  healthcheck: 'backend/src/healthcheck.ts',
  // The media analysis thread (media/analysis/analyser.ts starts it from this file).
  'analysis-worker': 'backend/src/media/analysis/analysis-worker.ts',
};
/** Packages the server reads files from (models) without importing them. */
const READ_AT_RUN_TIME = ['@vladmandic/human'];
if (!existsSync(path.join(root, 'backend/src/infra/db/generated/client.ts')))
  throw new Error('Prisma Client is not generated: run `node scripts/prisma-generate.mjs` first');
if (!existsSync(path.join(web, 'index.html')))
  throw new Error(`${web} holds no built web app: run \`npm run build -w @parley/frontend\` first`);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

/** npm package name of a bare import: `@scope/name/sub` → `@scope/name`. */
const packageOf = (specifier) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

const result = await build({
  absWorkingDir: root,
  entryPoints: Object.fromEntries(
    Object.entries(entries).filter(([, file]) => existsSync(path.join(root, file))),
  ),
  outdir: path.join(out, 'backend/dist'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
  // Bundled code that calls require() (CommonJS inside ESM) gets a real one.
  banner: {
    js: "import { createRequire as __parleyRequire } from 'node:module'; const require = __parleyRequire(import.meta.url);",
  },
  plugins: [
    {
      name: 'npm-packages-outside',
      setup(b) {
        // Workspace packages (TypeScript sources) go in; npm packages stay imports.
        b.onResolve({ filter: /^[^./]/ }, (resolved) => {
          if (resolved.path.startsWith('@parley/') || resolved.path.startsWith('node:')) return undefined;
          return { path: resolved.path, external: true };
        });
      },
    },
  ],
});

const imported = new Set();
for (const output of Object.values(result.metafile.outputs))
  for (const imp of output.imports)
    if (imp.external && !imp.path.startsWith('node:')) imported.add(packageOf(imp.path));
for (const name of READ_AT_RUN_TIME) imported.add(name);
const builtins = new Set((await import('node:module')).builtinModules);
/** The installed manifest of `name` as the backend resolves it (exports maps may hide package.json). */
function manifestOf(name) {
  for (let dir = path.join(root, 'backend'); ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'node_modules', name, 'package.json');
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
    if (dir === path.dirname(dir)) throw new Error(`${name} is imported but not installed`);
  }
}
const dependencies = {};
for (const name of [...imported].sort()) {
  if (!builtins.has(name)) dependencies[name] = manifestOf(name).version;
}
const rootManifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
writeFileSync(
  path.join(out, 'package.json'),
  `${JSON.stringify(
    {
      name: 'parley-server',
      version: rootManifest.version,
      private: true,
      type: 'module',
      description: 'Parley, built for production by scripts/build-server.mjs',
      engines: rootManifest.engines,
      scripts: {
        start: 'node backend/dist/server.js',
        migrate: 'node backend/dist/migrate.js',
        admin: 'node backend/dist/admin.js',
      },
      dependencies,
    },
    null,
    2,
  )}\n`,
);
cpSync(path.join(root, 'prisma/migrations'), path.join(out, 'prisma/migrations'), { recursive: true });
cpSync(web, path.join(out, 'frontend/dist'), { recursive: true });
console.log(`Built ${out}: ${Object.keys(dependencies).length} npm packages imported`);
