// Keeps in an npm workspace's node_modules only what the production build needs at run
// time: the packages its package.json names (scripts/build-server.mjs writes it), resolved
// from the backend workspace as Node resolves them there (backend/node_modules first, then
// the root's), with their dependencies, optional dependencies and required peers,
// transitively. Everything else goes, workspace links included. The Dockerfile runs it on
// `npm ci --omit=dev --workspace @parley/backend`, which keeps more than the server needs
// (optional peers such as the Prisma CLI, with its studio and React, for @prisma/client).
//
//   node scripts/prune-node-modules.mjs --root <workspace> --manifest <package.json>
//
// Prunes <root>/node_modules and <root>/backend/node_modules (created if missing, so the
// Dockerfile can copy both).
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    root: { type: 'string' },
    manifest: { type: 'string' },
    from: { type: 'string', default: 'backend' },
  },
});
if (!args.root || !args.manifest) {
  console.error(
    'usage: prune-node-modules.mjs --root <workspace> --manifest <package.json> [--from backend]',
  );
  process.exit(2);
}
const root = path.resolve(args.root);
const from = path.join(root, args.from);
const trees = [path.join(root, 'node_modules'), path.join(from, 'node_modules')];
const read = (file) => JSON.parse(readFileSync(file, 'utf8'));

/** The directory `name` resolves to from `dir`, as Node looks it up (never above root). */
function resolveFrom(dir, name) {
  for (let at = dir; ; at = path.dirname(at)) {
    const candidate = path.join(at, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (at === root || at === path.dirname(at)) return undefined;
  }
}

const keep = new Set();
const missing = [];
function visit(dir) {
  if (keep.has(dir)) return;
  keep.add(dir);
  const manifest = read(path.join(dir, 'package.json'));
  const optionalPeers = manifest.peerDependenciesMeta ?? {};
  const needs = [
    ...Object.keys(manifest.dependencies ?? {}).map((name) => [name, false]),
    ...Object.keys(manifest.optionalDependencies ?? {}).map((name) => [name, true]),
    ...Object.keys(manifest.peerDependencies ?? {})
      .filter((name) => !optionalPeers[name]?.optional)
      .map((name) => [name, false]),
  ];
  for (const [name, optional] of needs) {
    const found = resolveFrom(dir, name);
    if (found) visit(found);
    else if (!optional) missing.push(`${name} (for ${path.relative(root, dir)})`);
  }
}

for (const name of Object.keys(read(args.manifest).dependencies ?? {})) {
  const found = resolveFrom(from, name);
  if (found) visit(found);
  else missing.push(`${name} (for the server)`);
}
if (missing.length) {
  console.error(`Not installed: ${[...new Set(missing)].join(', ')}`);
  process.exit(1);
}

let removed = 0;
/** Deletes every package under a node_modules that is not kept; descends into kept ones. */
function prune(modules) {
  for (const entry of readdirSync(modules)) {
    const full = path.join(modules, entry);
    if (entry.startsWith('.')) {
      // .bin links into packages that may be gone; .package-lock.json describes the old tree.
      rmSync(full, { recursive: true, force: true });
    } else if (entry.startsWith('@') && !lstatSync(full).isSymbolicLink()) {
      for (const scoped of readdirSync(full)) pruneOne(path.join(full, scoped));
      if (readdirSync(full).length === 0) rmSync(full, { recursive: true });
    } else pruneOne(full);
  }
}
function pruneOne(full) {
  if (!keep.has(full)) {
    rmSync(full, { recursive: true, force: true });
    removed += 1;
  } else if (existsSync(path.join(full, 'node_modules'))) prune(path.join(full, 'node_modules'));
}
for (const tree of trees) {
  mkdirSync(tree, { recursive: true });
  prune(tree);
}
console.log(`node_modules: kept ${keep.size} packages, removed ${removed}`);
