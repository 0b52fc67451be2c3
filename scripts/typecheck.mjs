// `npm run typecheck`: tsc on every workspace, as many at once as there are cores, each
// incremental (its build info under node_modules/.cache/tsc), so a second run only checks
// what changed. Exit code 1 if any project has type errors. contracts/ is checked as part
// of each of the others (they compile its sources; every file is reachable from its index),
// so it is not checked a fifth time on its own.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc', { paths: [root] });
const projects = ['backend', 'frontend', 'tools'];
const cache = path.join(root, 'node_modules', '.cache', 'tsc');

function check(project) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [tsc, '-p', project, '--incremental', '--tsBuildInfoFile', path.join(cache, `${project}.tsbuildinfo`)],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ project, code, output }));
  });
}

const queue = [...projects];
const results = [];
await Promise.all(
  Array.from({ length: Math.max(1, Math.min(os.availableParallelism(), queue.length)) }, async () => {
    for (let p = queue.shift(); p; p = queue.shift()) results.push(await check(p));
  }),
);
let failed = false;
for (const { project, code, output } of results) {
  if (code === 0) continue;
  failed = true;
  process.stderr.write(`tsc -p ${project}: type errors\n${output}`);
}
process.exit(failed ? 1 : 0);
