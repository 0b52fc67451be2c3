import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorCatalogue, errorCodes } from '@parley/contracts';
import net from 'node:net';
import { Redis } from 'ioredis';
import { toAppError, toHttpError } from './errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (name === 'generated' || name === 'node_modules') return [];
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.ts$/.test(name) && !/\.test\.ts$/.test(name) ? [full] : [];
  });
}

describe('error catalogue', () => {
  it('specs/errors.md documents every code with its status, and nothing else', () => {
    const doc = readFileSync(path.join(repo, 'specs/errors.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(Object.fromEntries(rows)).toEqual(
      Object.fromEntries(Object.entries(errorCatalogue).map(([code, v]) => [code, v.status])),
    );
  });

  it('the backend names no code outside the catalogue', () => {
    const used = new Set<string>();
    for (const file of sourceFiles(path.join(repo, 'backend/src'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:AppError|errorBody)\(\s*'([A-Z_]+)'/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((c) => !errorCodes.includes(c as never))).toEqual([]);
  });

  it('unknown errors become a 500 without details', () => {
    const mapped = toHttpError(new Error('database password is hunter2'));
    expect(mapped.status).toBe(500);
    expect(JSON.stringify(mapped.body)).not.toContain('hunter2');
  });
});

describe('Redis away', () => {
  it('the errors ioredis gives while Redis is unreachable are retryable 503s, like a database outage', async () => {
    // A port nothing listens on.
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(p));
      });
    });
    const retrying = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => 10 });
    const givenUp = new Redis(port, '127.0.0.1', { retryStrategy: () => null, lazyConnect: true });
    for (const c of [retrying, givenUp]) c.on('error', () => undefined);
    try {
      const errors = [
        await retrying.ping().catch((e: unknown) => e),
        await givenUp
          .connect()
          .then(
            () => givenUp.ping(),
            () => givenUp.ping(),
          )
          .catch((e: unknown) => e),
      ];
      expect(errors.map((e) => (e as Error).name)).toContain('MaxRetriesPerRequestError');
      for (const err of errors) {
        expect(toAppError(err)).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
        expect(toHttpError(err).status).toBe(503);
      }
      // Anything else stays a bug.
      expect(toAppError(new Error('Connection is open.'))).toBeNull();
    } finally {
      // (disconnect() on a client that has ended already keeps the process up for 2 s)
      for (const c of [retrying, givenUp]) if (c.status !== 'end') c.disconnect();
    }
  });
});
