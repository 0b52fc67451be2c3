/**
 * Fuzzing from the contract (issue 11): fast-check generates valid and malformed requests
 * for every REST route and frames for every WebSocket command from the contract's zod
 * schemas, and sends them to a real server as a few signed-in users (and as nobody, and
 * with forged tokens). Nothing may answer 5xx, every error must be the error shape, every
 * success must match the contract, the server must stay up and its heap must not grow
 * without bound. `scripts/fuzz.mjs` runs 100,000 cases the same way (specs/security.md).
 *
 * FUZZ_RUNS scales the run (default 2000 cases); FUZZ_SEED repeats one (the seed is printed
 * on failure).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { contract, commandTypes } from '@parley/contracts';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { routesOf } from '../../test/support/contract-routes.js';
import { describeViolation, runFuzz, type FuzzReport } from '../../test/support/fuzz/runner.js';
import { FUZZ_SERVER_ENV, FuzzWorld } from '../../test/support/fuzz/world.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_111);

/** The server runs in this process: its heap after a full collection is what we measure. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

let server: TestServer;
let world: FuzzWorld;

beforeAll(async () => {
  server = await startTestServer(FUZZ_SERVER_ENV);
  world = await FuzzWorld.create(server.url);
});

afterAll(async () => {
  await server?.close();
});

function summary(report: FuzzReport): string {
  const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  return [
    `fuzz: seed ${report.seed}, ${report.cases} cases (${report.restRequests} REST requests, ${report.wsFrames} WebSocket frames) in ${(report.durationMs / 1000).toFixed(1)} s`,
    `  REST by status: ${JSON.stringify(report.byStatus)}`,
    `  by code: ${JSON.stringify(report.byCode)}`,
    report.memory
      ? `  heap after GC: ${mib(report.memory.first)} after the first batch, ${mib(report.memory.end)} at the end, peak ${mib(report.memory.peak)}`
      : '',
  ].join('\n');
}

describe('fuzzing from the contract', () => {
  it(`${RUNS} generated requests and frames: no 5xx, every error in the error shape, the server stays up, memory bounded`, async () => {
    const logsBefore = server.logs.length;
    const report = await runFuzz(world, {
      seed: SEED,
      runs: RUNS,
      memory: heapAfterGc,
      batchSize: 200,
      // Bounded in time on a loaded machine; the cases run are checked either way.
      deadlineMs: Number(process.env.FUZZ_DEADLINE_MS ?? 600_000),
      ...(process.env.FUZZ_VERBOSE ? { log: (line: string) => process.stdout.write(`${line}\n`) } : {}),
    });
    process.stdout.write(`${summary(report)}\n`);
    if (report.violationCount > 0) {
      throw new Error(
        `fuzz found ${report.violationCount} violations (seed ${report.seed}; repeat with FUZZ_SEED=${report.seed} FUZZ_RUNS=${RUNS}):\n` +
          report.violations.map((v) => describeViolation(v, server.url)).join('\n'),
      );
    }
    expect(report.stoppedEarly).toBe(false);
    expect(report.cases).toBe(RUNS);

    // Everything in the contract was fuzzed, and most routes were reached far enough to succeed.
    const routes = routesOf(contract).map(([name]) => name);
    // (A short run, FUZZ_RUNS below 2000, may miss some.)
    if (RUNS >= 2000) {
      expect(routes.filter((r) => !report.coverage[r])).toEqual([]);
      expect(commandTypes.filter((t) => !report.coverage[`ws ${t}`])).toEqual([]);
      const succeeded = routes.filter((r) => report.coverage[r]?.['2xx']);
      // Some routes succeed only rarely by chance (accept a pending request, transfer ownership).
      expect(succeeded.length).toBeGreaterThanOrEqual(Math.floor(routes.length * 0.6));
      const acked = commandTypes.filter((t) => report.coverage[`ws ${t}`]?.['ack ok']);
      // auth succeeds only with a real token (the harness's own sockets use one; generated
      // tokens are made up), and edits and reactions need one of the user's own messages.
      expect(acked.length).toBeGreaterThanOrEqual(commandTypes.length - 3);
    }

    // No error was logged by the server (a crash that answered nothing would show here).
    const errors = server.logs.slice(logsBefore).filter((l) => {
      try {
        return (JSON.parse(l) as { level: number }).level >= 50;
      } catch {
        return false;
      }
    });
    expect(errors).toEqual([]);

    // Heap after a full collection: generous, but a leak per request (or of a large body) exceeds it.
    expect(report.memory).not.toBeNull();
    expect(report.memory!.end - report.memory!.first).toBeLessThan(96 * 2 ** 20);
  }, 900_000);
});
