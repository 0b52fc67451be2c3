// `npm run dev`: the backend with reload on change (tsx watch) on :3000, and Vite with hot
// module reload on :5173, proxying /api, /ws and /health to the backend. Open :5173.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = { NODE_ENV: 'development', ...process.env };
const children = [
  spawn('npm', ['run', 'dev', '-w', '@parley/backend'], { cwd: root, env, stdio: 'inherit' }),
  spawn('npm', ['run', 'dev', '-w', '@parley/frontend'], { cwd: root, env, stdio: 'inherit' }),
];
const stop = (signal) => children.forEach((c) => c.kill(signal));
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
for (const c of children)
  c.on('exit', (code) => {
    stop('SIGTERM');
    process.exitCode = code ?? 0;
  });
