/**
 * The fuzzer's own parts, without a server: its generators make what they claim from every
 * schema in the contract, and its checks catch what they are meant to catch. Without these,
 * a fuzz run that finds nothing could be a fuzzer that tests nothing.
 */
import { describe, expect, it } from '@jest/globals';
import { commandSchemas, contract } from '@parley/contracts';
import fc from 'fast-check';
import type { z } from 'zod';
import {
  bodySchemaOf,
  pathParamsSchemaOf,
  querySchemaOf,
  routesOf,
} from '../../test/support/contract-routes.js';
import { malformed, valid } from '../../test/support/fuzz/arbitraries.js';
import { queryString } from '../../test/support/fuzz/cases.js';
import { checkRestAnswer, checkWsFrames, routeReached } from '../../test/support/fuzz/runner.js';

const pools = {
  chatId: ['0b5a3c52-6f4a-4d2e-9a55-1f2b3c4d5e6f'],
  messageId: ['1c6b4d63-7a5b-4e3f-8b66-2a3c4d5e6f70'],
  userId: ['2d7c5e74-8b6c-4f40-9c77-3b4d5e6f7081'],
};

/** A query as the server sees it: what `queryString` puts in the URL, parsed back. */
function asSent(query: unknown): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(queryString(query).slice(1))) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

const schemas: [string, z.ZodTypeAny, boolean][] = [
  ...routesOf(contract).flatMap(([name, route]) =>
    (
      [
        [`${name} body`, bodySchemaOf(route), false],
        [`${name} query`, querySchemaOf(route), true],
        [`${name} params`, pathParamsSchemaOf(route), false],
      ] as [string, z.ZodTypeAny | undefined, boolean][]
    ).filter((s): s is [string, z.ZodTypeAny, boolean] => s[1] !== undefined),
  ),
  ...Object.entries(commandSchemas).map(([type, s]): [string, z.ZodTypeAny, boolean] => [
    `ws ${type}`,
    s,
    false,
  ]),
];

describe('fuzz generators', () => {
  // Malformed values are not all refused: an extra field is stripped, a field of an
  // all-optional object may go missing, and in a query every value is a string anyway.
  it.each(schemas)(
    '%s: valid values pass the schema; malformed ones often fail it',
    (_name, schema, isQuery) => {
      const accepts = (v: unknown) => schema.safeParse(isQuery ? asSent(v) : v).success;
      const good = fc.sample(valid(schema, '', pools), { numRuns: 100, seed: 1 });
      expect(good.filter(accepts).length).toBeGreaterThanOrEqual(90);
      const bad = fc.sample(malformed(schema, '', pools), { numRuns: 100, seed: 1 });
      expect(bad.filter((v) => !accepts(v)).length).toBeGreaterThanOrEqual(isQuery ? 10 : 25);
    },
  );
});

describe('fuzz checks', () => {
  const json = (status: number, body: unknown, contentType = 'application/json; charset=utf-8') => ({
    status,
    contentType,
    body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const get = routeReached('GET', '/api/chats/0b5a3c52-6f4a-4d2e-9a55-1f2b3c4d5e6f')!;

  it('an answer reaches the route the server routes it to', () => {
    expect(get.name).toBe('chats.get');
    expect(routeReached('GET', '/api/chats/')?.name).toBe('chats.list');
    expect(routeReached('GET', '/api/chats/requests?x=1')?.name).toBe('chats.listRequests');
    expect(routeReached('GET', '/api/nothing')).toBeUndefined();
  });

  it('REST: a 5xx, a foreign error shape, a wrong status for the code, a stack trace, a body off the contract', () => {
    const kinds = (a: ReturnType<typeof json>) => checkRestAnswer(get.route, a).map(([kind]) => kind);
    expect(kinds(json(500, { error: { code: 'INTERNAL_ERROR', message: 'x' } }))).toEqual(['5xx']);
    expect(kinds(json(503, { error: { code: 'SERVICE_UNAVAILABLE', message: 'x' } }))).toEqual(['5xx']);
    expect(kinds(json(400, { statusCode: 400, error: 'Bad Request', message: 'x' }))).toEqual([
      'error-shape',
    ]);
    expect(kinds(json(400, '<html>Bad Request</html>', 'text/html'))).toEqual(['error-shape']);
    expect(kinds(json(429, { error: { code: 'VALIDATION_ERROR', message: 'x' } }))).toEqual(['error-shape']);
    expect(kinds(json(404, { error: { code: 'NO_SUCH_CODE', message: 'x' } }))).toEqual(['error-shape']);
    expect(
      kinds(
        json(400, {
          error: { code: 'VALIDATION_ERROR', message: 'x', details: 'Error: x\n    at f (/a.js:1:2)' },
        }),
      ),
    ).toEqual(['error-shape']);
    expect(kinds(json(200, { id: 'not a chat' }))).toEqual(['response-contract']);
    expect(kinds(json(204, ''))).toEqual(['undeclared-status']);
    expect(kinds(json(302, ''))).toEqual(['unexpected-status']);
    // What a server should answer passes.
    expect(kinds(json(404, { error: { code: 'NOT_FOUND', message: 'Not found.' } }))).toEqual([]);
    expect(kinds(json(400, { error: { code: 'VALIDATION_ERROR', message: 'x', details: [] } }))).toEqual([]);
  });

  it('WebSocket: a 5xx code, a frame off the contract, a missing or doubled ack, a close', () => {
    const kinds = (frames: unknown[], expect1: string[] = [], closed?: { code: number; reason: string }) =>
      checkWsFrames(frames, new Map([['a', 'typing:start']]), expect1, closed, () => undefined).map(
        ([k]) => k,
      );
    expect(
      kinds([{ type: 'ack', id: 'a', ok: false, error: { code: 'INTERNAL_ERROR', message: 'x' } }]),
    ).toEqual(['ws-5xx']);
    expect(kinds([{ type: 'error', error: { code: 'SERVICE_UNAVAILABLE', message: 'x' } }])).toEqual([
      'ws-5xx',
    ]);
    expect(kinds([{ type: 'ack', id: 'a', ok: false, error: 'boom' }])).toEqual(['ws-shape']);
    expect(kinds([{ type: 'error', message: 'boom' }])).toEqual(['ws-shape']);
    expect(kinds([{ type: 'message:new', position: '1', data: { message: {} } }])).toEqual(['ws-shape']);
    expect(kinds([{ type: 'ack', id: 'a', ok: true, data: { chatId: 'x' } }], ['a'])).toEqual([
      'ws-contract',
    ]);
    expect(kinds([], ['a'])).toEqual(['ws-ack-count']);
    const ok = { type: 'ack', id: 'a', ok: false, error: { code: 'NOT_FOUND', message: 'x' } };
    expect(kinds([ok, ok], ['a'])).toEqual(['ws-ack-count']);
    expect(kinds([ok], ['a'])).toEqual([]);
    // A socket the server closed owes no acks (the close code is checked by the runner).
    expect(kinds([], ['a'], { code: 1009, reason: '' })).toEqual([]);
  });
});
