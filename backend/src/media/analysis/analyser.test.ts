/**
 * The analysis processes step aside for sends (analyser.ts): a process reading a picture is
 * stopped while a send is under way on the node, goes on when it is done, keeps its share
 * when the node is never idle, and dies with the server, so it is never left stopped.
 * Real processes and real models; states read from /proc (Linux, like the pausing itself).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import sharp from 'sharp';
import { analysisProcesses } from '../../../test/support/analysis-processes.js';
import { waitUntil } from '../../../test/support/wait.js';
import { createForeground } from '../../infra/foreground.js';
import { createAnalyser } from './analyser.js';

/**
 * At the normal priority, as the test servers' (test/support/server.ts): at the lowest the
 * process gets about 1 % of a core on a busy machine, and these tests would test speed.
 */
const settings = { processes: 1, timeoutMs: 600_000, labelMinScore: 0.3, nice: 0 };
const here = path.dirname(fileURLToPath(import.meta.url));
let dir: string;
let picture: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'parley-analyser-'));
  picture = path.join(dir, 'note.png');
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="800" height="200">' +
    '<rect width="100%" height="100%" fill="white"/>' +
    '<text x="40" y="120" font-family="DejaVu Sans" font-size="56" fill="black">Quarterly figures</text>' +
    '</svg>';
  await writeFile(picture, await sharp(Buffer.from(svg)).png().toBuffer());
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The process's state letter (R running, S sleeping, T stopped, Z gone but not reaped); null when gone. */
function stateOf(pid: number): string | null {
  try {
    // "pid (name) S …": the name may hold spaces, the state follows its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('a send under way stops the process reading a picture; when it is done the process goes on and the picture is read', async () => {
  const foreground = createForeground();
  let paused = 0;
  const analyser = createAnalyser({ ...settings, foreground, onPaused: (s) => (paused += s) });
  try {
    const reading = analyser.analyse(picture);
    await waitUntil('the analysis process', () => analysisProcesses().length === 1);
    const [pid] = analysisProcesses() as [number];
    // It has run a while (loading its models): it may now be stopped for a whole PAUSE_MAX_MS.
    await sleep(1_000);
    expect(stateOf(pid)).not.toBe('T');
    const sent = foreground.begin();
    await waitUntil('the process to be stopped', () => stateOf(pid) === 'T', 60_000, 5);
    sent();
    await waitUntil('the process to go on', () => stateOf(pid) !== 'T', 60_000, 5);
    expect(paused).toBeGreaterThan(0); // what parley_media_analysis_paused_seconds_total counts
    const result = await reading;
    expect(result.lines.map((l) => l.text).join(' ')).toMatch(/quarterly/i);
    // Between pictures, nothing is stopped whatever the node does.
    foreground.begin();
    await sleep(200);
    expect(stateOf(pid)).not.toBe('T');
  } finally {
    await analyser.close();
  }
});

it('a node that is never idle still has its pictures read: the process keeps its share of the time', async () => {
  const foreground = createForeground();
  const analyser = createAnalyser({ ...settings, foreground });
  const seen = new Set<string>();
  let watching = true;
  try {
    foreground.begin(); // and never done
    const reading = analyser.analyse(picture);
    const watch = (async () => {
      while (watching) {
        for (const pid of analysisProcesses()) seen.add(stateOf(pid) ?? 'gone');
        await sleep(5);
      }
    })();
    const result = await reading;
    watching = false;
    await watch;
    expect(result.lines.map((l) => l.text).join(' ')).toMatch(/quarterly/i);
    expect(seen.has('T')).toBe(true); // it was stopped, and yet it finished
  } finally {
    watching = false;
    await analyser.close();
  }
});

it('a server killed with -9 while its analysis process is stopped takes the process with it', async () => {
  // A server in small: an analyser whose node is busy sending from the second second on.
  const script = `
    const { createAnalyser } = await import(${JSON.stringify(path.join(here, 'analyser.ts'))});
    const { createForeground } = await import(${JSON.stringify(path.join(here, '../../infra/foreground.ts'))});
    const foreground = createForeground();
    const analyser = createAnalyser({ processes: 1, timeoutMs: 600000, labelMinScore: 0.3, nice: 0, foreground });
    analyser.analyse(process.env.PICTURE).catch(() => undefined);
    setTimeout(() => foreground.begin(), 1000);
    setInterval(() => undefined, 1000);
  `;
  const server = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, PICTURE: picture },
    stdio: 'ignore',
  });
  let pid: number | undefined;
  try {
    await waitUntil('the analysis process', () => analysisProcesses(server.pid).length === 1, 60_000);
    pid = analysisProcesses(server.pid)[0]!;
    await waitUntil('the process to be stopped', () => stateOf(pid!) === 'T', 60_000, 5);
    server.kill('SIGKILL');
    // Gone (or a zombie waiting for whoever adopted it to reap it): not stopped for good.
    await waitUntil('the stopped process to end', () => [null, 'Z'].includes(stateOf(pid!)), 30_000);
  } finally {
    server.kill('SIGKILL');
    if (pid !== undefined && stateOf(pid) !== null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});
