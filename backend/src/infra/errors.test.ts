import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorCatalogue, errorCodes } from '@parley/contracts';
import { toHttpError } from './errors.js';

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
