/**
 * Contract hygiene (issue 11): every schema a client's input passes through — REST bodies,
 * queries and path parameters, and every WebSocket command — bounds every string and array
 * (so no field can make the server hold or scan megabytes), and every free-text string
 * refuses NUL characters and invalid Unicode (so nothing reaches PostgreSQL to fail there).
 */
import { describe, expect, it } from '@jest/globals';
import { commandSchemas, contract, frameSchema } from '@parley/contracts';
import { z } from 'zod';
import { routesOf } from '../../test/support/contract-routes.js';

interface Finding {
  path: string;
  problem: string;
}

/** Strings with a fixed format are bounded by it. */
function fixedFormat(s: z.ZodString): boolean {
  return s._def.checks.some((c) => ['uuid', 'datetime', 'cuid', 'ulid', 'ip'].includes(c.kind));
}

function hasMax(s: z.ZodString): boolean {
  return s._def.checks.some((c) => c.kind === 'max' || c.kind === 'length');
}

/** Walks a zod schema; `checkText` is false on the output side of a pipeline (its input was checked). */
function walk(
  schema: unknown,
  path: string,
  out: Finding[],
  seen: { strings: number; arrays: number },
  checkText = true,
): void {
  if (!(schema instanceof z.ZodType)) return; // c.noBody() and the like
  if (schema instanceof z.ZodString) {
    seen.strings += 1;
    if (!hasMax(schema) && !fixedFormat(schema))
      out.push({ path, problem: 'string without a maximum length' });
    if (checkText) {
      for (const bad of ['a\u0000b', 'a\ud800b', '\udc00']) {
        if (schema.safeParse(bad).success)
          out.push({
            path,
            problem: `string accepts ${JSON.stringify(bad)} (use text() from contracts/src/common.ts)`,
          });
      }
    }
    return;
  }
  if (schema instanceof z.ZodArray) {
    seen.arrays += 1;
    if (schema._def.maxLength === null && schema._def.exactLength === null)
      out.push({ path, problem: 'array without a maximum length' });
    walk(schema.element, `${path}[]`, out, seen, checkText);
    return;
  }
  if (schema instanceof z.ZodObject) {
    for (const [key, value] of Object.entries(schema.shape as Record<string, unknown>))
      walk(value, path ? `${path}.${key}` : key, out, seen, checkText);
    return;
  }
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable || schema instanceof z.ZodDefault) {
    walk(schema._def.innerType, path, out, seen, checkText);
    return;
  }
  if (schema instanceof z.ZodEffects) {
    walk(schema._def.schema, path, out, seen, checkText);
    return;
  }
  if (schema instanceof z.ZodPipeline) {
    walk(schema._def.in, path, out, seen, checkText);
    walk(schema._def.out, path, out, seen, false);
    return;
  }
  if (schema instanceof z.ZodUnion || schema instanceof z.ZodDiscriminatedUnion) {
    (schema.options as unknown[]).forEach((o, i) => walk(o, `${path}|${i}`, out, seen, checkText));
    return;
  }
  if (schema instanceof z.ZodIntersection) {
    walk(schema._def.left, path, out, seen, checkText);
    walk(schema._def.right, path, out, seen, checkText);
    return;
  }
  if (
    schema instanceof z.ZodNumber ||
    schema instanceof z.ZodBoolean ||
    schema instanceof z.ZodEnum ||
    schema instanceof z.ZodLiteral ||
    schema instanceof z.ZodNull ||
    schema instanceof z.ZodUndefined
  )
    return;
  out.push({ path, problem: `unbounded or unknown schema type ${schema.constructor.name}` });
}

const inputs: [string, unknown][] = [
  ...routesOf(contract).flatMap(([name, route]): [string, unknown][] => [
    ...(route.method !== 'GET' && 'body' in route ? [[`${name} body`, route.body] as [string, unknown]] : []),
    ...(route.query ? [[`${name} query`, route.query] as [string, unknown]] : []),
    ...(route.pathParams ? [[`${name} params`, route.pathParams] as [string, unknown]] : []),
  ]),
  ...Object.entries(commandSchemas).map(([type, schema]): [string, unknown] => [`ws ${type}`, schema]),
  // The frame's `data` is checked by its command's schema above.
  ['ws frame', (frameSchema as z.AnyZodObject).omit({ data: true })],
];

describe('contract hygiene', () => {
  it('covers every REST route and every WebSocket command', () => {
    expect(routesOf(contract).length).toBeGreaterThan(40);
    expect(inputs.filter(([name]) => name.startsWith('ws ')).length).toBe(
      Object.keys(commandSchemas).length + 1,
    );
  });

  it.each(inputs)(
    '%s: every string and array has a maximum; free text refuses NUL and invalid Unicode',
    (_name, schema) => {
      const findings: Finding[] = [];
      walk(schema, '', findings, { strings: 0, arrays: 0 });
      expect(findings).toEqual([]);
    },
  );

  it('the walker finds what it is meant to find', () => {
    const findings: Finding[] = [];
    const seen = { strings: 0, arrays: 0 };
    walk(
      z.object({
        a: z.string(),
        b: z.array(z.string().max(3)),
        c: z.string().max(5).optional(),
        d: z.record(z.string()),
      }),
      '',
      findings,
      seen,
    );
    const byPath: Record<string, string[]> = {};
    for (const f of findings) (byPath[f.path] ??= []).push(f.problem.split(' (')[0]!);
    expect(byPath).toEqual({
      a: [
        'string without a maximum length',
        'string accepts "a\\u0000b"',
        'string accepts "a\\ud800b"',
        'string accepts "\\udc00"',
      ],
      b: ['array without a maximum length'],
      'b[]': ['string accepts "a\\u0000b"', 'string accepts "a\\ud800b"', 'string accepts "\\udc00"'],
      c: ['string accepts "a\\u0000b"', 'string accepts "a\\ud800b"', 'string accepts "\\udc00"'],
      d: ['unbounded or unknown schema type ZodRecord'],
    });
    expect(seen).toEqual({ strings: 3, arrays: 1 });
  });
});
