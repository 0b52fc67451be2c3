/**
 * Fuzz cases: one REST request or a few WebSocket frames, generated from the contract
 * (every REST route, every WebSocket command) as plain data, so a failing one can be
 * printed and sent again.
 */
import { commandSchemas, commandTypes, contract, frameSchema } from '@parley/contracts';
import type { AppRoute } from '@ts-rest/core';
import fc from 'fast-check';
import { bodySchemaOf, pathParamsSchemaOf, querySchemaOf, routesOf } from '../contract-routes.js';
import { HOSTILE_STRINGS, malformed, valid, type IdPools } from './arbitraries.js';

/** Who a request or socket is: a fuzzing user, nobody, a spare session (signed out by the case), or a bad token. */
export type Auth =
  { as: 'user'; user: number } | { as: 'none' } | { as: 'spare' } | { as: 'token'; header: string };

export interface RestCase {
  kind: 'rest';
  route: string;
  /** What was broken: valid, body, query, params, raw-body, content-type, headers, auth. */
  variant: string;
  method: string;
  /** Path and query, percent-encoded as sent. */
  url: string;
  headers: Record<string, string>;
  /** Body as text, or as bytes in base64 when it is not valid UTF-8. */
  body?: string;
  bodyBase64?: string;
  auth: Auth;
}

export interface WsFrameSpec {
  text?: string;
  binaryBase64?: string;
  /** A text frame whose bytes are not UTF-8 (the server closes the socket with 1007). */
  badTextBase64?: string;
  /** The id of a well-formed command frame: exactly one ack must answer it. */
  expectAck?: string;
}

export interface WsCase {
  kind: 'ws';
  /** The command the frames are about (or "frame" for envelope trouble). */
  command: string;
  variant: string;
  /** `fresh`: a new socket; with `auth`, it authenticates first as that user. */
  socket: { kind: 'main'; user: number } | { kind: 'fresh'; authAs?: number };
  frames: WsFrameSpec[];
}

export type FuzzCase = RestCase | WsCase;

export const restRoutes: [string, AppRoute][] = routesOf(contract);

/** Percent-encodes every byte of the UTF-8 form except unreserved characters (lone surrogates become U+FFFD). */
export function encodeComponent(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function queryString(query: unknown): string {
  if (query === undefined || query === null) return '';
  if (typeof query !== 'object' || Array.isArray(query)) return `?${encodeComponent(JSON.stringify(query))}`;
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query as Record<string, unknown>)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    for (const v of values)
      parts.push(
        `${encodeComponent(key)}=${encodeComponent(typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)))}`,
      );
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

function fillPath(path: string, params: Record<string, unknown>, raw: Record<string, string> = {}): string {
  return path.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
    if (name in raw) return raw[name]!;
    const v = params[name];
    return encodeComponent(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
  });
}

/** Path segments that are not what any route parameter expects (sent without further encoding). */
const RAW_SEGMENTS = [
  '%ZZ',
  '%',
  '%00',
  '%C0%AF',
  '%ED%A0%80',
  '%FF%FE',
  '..',
  '%2e%2e',
  '..%2F..%2Fetc%2Fpasswd',
  'a%2Fb',
  '%20',
  'null',
  'undefined',
  '0',
  '-1',
  'x'.repeat(3000),
  '%F0%9F%98%80',
  '00000000-0000-0000-0000-000000000000',
  'AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA',
  "1'%20OR%20'1'%3D'1",
];

/** Request bodies below JSON: broken JSON, bad UTF-8, deep nesting, prototype keys. */
const rawBody: fc.Arbitrary<{ text?: string; bytes?: Buffer }> = fc.oneof(
  fc
    .constantFrom(
      '{',
      '{"a":}',
      '[1,2',
      'nul',
      'tru',
      '"\\ud800"',
      '{"body":"\\u0000"}',
      '{"a":"\\x00"}',
      '\u0000',
      '{}garbage',
      '{"a":1,"a":2}',
      ' ',
      '',
      '\ufeff{}',
      '{"__proto__":{"isAdmin":true}}',
      '{"constructor":{"prototype":{"isAdmin":true}}}',
      '1e99999',
      '-',
      '[]',
      '"just a string"',
      'null',
      '{"a":1}{"b":2}',
      '{"a":"\\uD83D"}',
      "{'a':1}",
      '{"a":NaN}',
    )
    .map((text) => ({ text })),
  fc.integer({ min: 100, max: 200_000 }).map((n) => ({ text: '['.repeat(n) + ']'.repeat(n) })),
  fc.integer({ min: 100, max: 50_000 }).map((n) => ({ text: '{"a":'.repeat(n) + '1' + '}'.repeat(n) })),
  fc.integer({ min: 100, max: 20_000 }).map((n) => ({
    text: '{"a":'.repeat(n) + '{"__proto__":{"x":1}}' + '}'.repeat(n),
  })),
  fc
    .constantFrom(
      Buffer.from([0xff, 0xfe, 0xfd]),
      Buffer.concat([Buffer.from('{"body":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
      Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]),
      Buffer.concat([Buffer.from('{"login":"a'), Buffer.from([0x00]), Buffer.from('b","password":"x"}')]),
      Buffer.from([0xfe, 0xff, 0x00, 0x7b, 0x00, 0x7d]),
    )
    .map((bytes) => ({ bytes })),
);

const WRONG_CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/xml',
  'application/JSON',
  'application/json;;;',
  'application/vnd.api+json',
  '*/*',
  'x'.repeat(2000),
];

/** Headers that are wrong in ways a server must shrug off. */
const HOSTILE_HEADERS: Record<string, string>[] = [
  { cookie: 'parley_refresh=%ZZ' },
  { cookie: 'parley_refresh=%E0%A4%A' },
  { cookie: 'parley_refresh=' + 'a'.repeat(4000) },
  { cookie: '=; ; a; parley_refresh' },
  { cookie: 'parley_refresh="unterminated' },
  { origin: 'https://evil.example' },
  { origin: 'null' },
  { 'x-forwarded-for': '999.999.999.999, ::ffff:1.2.3.4, garbage' },
  { 'x-forwarded-for': 'x'.repeat(5000) },
  { accept: 'text/html' },
  { accept: 'application/xml;q=2' },
  { 'accept-encoding': 'br;q=1, gzip;q=0.5, zstd, deflate, x'.repeat(5) },
  { 'content-encoding': 'gzip' },
  { 'content-encoding': 'br' },
  { 'transfer-encoding': 'chunked' },
  { range: 'bytes=0-1' },
  { 'if-none-match': '*' },
];

/** Authorization headers that must be refused (never crash): garbage, forged, wrong scheme. */
function badAuthorization(userId: string): fc.Arbitrary<string> {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const payload = { sub: userId, sid: '00000000-0000-4000-8000-000000000000', exp: 4_102_444_800 };
  return fc.constantFrom(
    'Bearer',
    'Bearer ',
    'Bearer x',
    'bearer x.y.z',
    'Basic dXNlcjpwYXNz',
    'Bearer ' + 'a'.repeat(8000),
    'Bearer a.b.c.d.e',
    `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`,
    `Bearer ${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}.${'A'.repeat(43)}`,
    `Bearer ${b64({ alg: 'RS256', kid: '../../etc/passwd' })}.${b64(payload)}.sig`,
    `Bearer ${b64({ alg: 'HS256' })}.${Buffer.from('not json').toString('base64url')}.sig`,
    `Bearer ${b64({ alg: 'HS256' })}.${b64({ sub: { $ne: null } })}.sig`,
    'Bearer %00',
    'Bearer \u00e9\u00e8',
    'Bearer  two  spaces',
  );
}

export interface CaseContext {
  userCount: number;
  pools: (route: string) => IdPools;
  /** A user id for forged tokens. */
  someUserId: string;
}

/** Authentication of a case for a route: mostly a real user, sometimes none or a bad token. */
function authArb(route: string, ctx: CaseContext): fc.Arbitrary<Auth> {
  const user = fc.nat(ctx.userCount - 1).map((u): Auth => ({ as: 'user', user: u }));
  // Signing out (this session or another) uses a spare session, never a fuzzing user's.
  const real =
    route === 'auth.logout' || route === 'auth.revokeSession' ? fc.constant<Auth>({ as: 'spare' }) : user;
  return fc.oneof(
    { weight: 16, arbitrary: real },
    { weight: 2, arbitrary: fc.constant<Auth>({ as: 'none' }) },
    {
      weight: 2,
      arbitrary: badAuthorization(ctx.someUserId).map((header): Auth => ({ as: 'token', header })),
    },
  );
}

function routeCase(name: string, route: AppRoute, ctx: CaseContext): fc.Arbitrary<RestCase> {
  const pools = ctx.pools(name);
  const bodySchema = bodySchemaOf(route);
  const querySchema = querySchemaOf(route);
  const paramsSchema = pathParamsSchemaOf(route);
  const params = valid(paramsSchema, '', pools) as fc.Arbitrary<Record<string, unknown> | undefined>;
  const query = valid(querySchema, '', pools);
  // Routes without a body get none when valid (ts-rest's noBody); POSTs get JSON.
  const body = bodySchema ? valid(bodySchema, '', pools) : fc.constant(undefined);
  const paramNames = [...route.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]!);

  const make = (
    variant: string,
    parts: {
      params?: Record<string, unknown>;
      rawParams?: Record<string, string>;
      query?: unknown;
      rawQuery?: string;
      body?: unknown;
      rawBody?: { text?: string; bytes?: Buffer };
      contentType?: string | null;
      headers?: Record<string, string>;
      auth: Auth;
    },
  ): RestCase => {
    const headers: Record<string, string> = { ...parts.headers };
    let bodyText: string | undefined;
    let bodyBase64: string | undefined;
    if (parts.rawBody) {
      if (parts.rawBody.bytes) bodyBase64 = parts.rawBody.bytes.toString('base64');
      else bodyText = parts.rawBody.text;
    } else if (parts.body !== undefined) bodyText = JSON.stringify(parts.body);
    if ((bodyText !== undefined || bodyBase64 !== undefined) && parts.contentType !== null)
      headers['content-type'] = parts.contentType ?? 'application/json';
    return {
      kind: 'rest',
      route: name,
      variant,
      method: route.method,
      url:
        fillPath(route.path, parts.params ?? {}, parts.rawParams) +
        (parts.rawQuery ?? queryString(parts.query)),
      headers,
      ...(bodyText !== undefined ? { body: bodyText } : {}),
      ...(bodyBase64 !== undefined ? { bodyBase64 } : {}),
      auth: parts.auth,
    };
  };

  const auth = authArb(name, ctx);
  const variants: fc.WeightedArbitrary<RestCase>[] = [
    {
      weight: 10,
      arbitrary: fc
        .record({ params, query, body, auth })
        .map((p) => make('valid', { params: p.params, query: p.query, body: p.body, auth: p.auth })),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({ params, query, body, header: fc.constantFrom(...HOSTILE_HEADERS), auth })
        .map((p) => make('headers', { ...p, headers: p.header })),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({ params, query, body: fc.constantFrom(...WRONG_CONTENT_TYPES, null), b: body, auth })
        .map((p) =>
          make('content-type', {
            params: p.params,
            query: p.query,
            body: p.b ?? { a: 1 },
            contentType: p.body,
            auth: p.auth,
          }),
        ),
    },
    {
      weight: 3,
      arbitrary: fc
        .record({ params, query, raw: rawBody, auth })
        .map((p) => make('raw-body', { params: p.params, query: p.query, rawBody: p.raw, auth: p.auth })),
    },
  ];
  if (bodySchema || route.method !== 'GET')
    variants.push({
      weight: 8,
      arbitrary: fc
        .record({ params, query, body: malformed(bodySchema, '', pools), auth })
        .map((p) => make('body', p)),
    });
  if (querySchema)
    variants.push(
      {
        weight: 6,
        arbitrary: fc
          .record({ params, query: malformed(querySchema, '', pools), body, auth })
          .map((p) => make('query', p)),
      },
      {
        weight: 1,
        arbitrary: fc
          .record({
            params,
            rawQuery: fc.constantFrom(
              '?%',
              '?a=%ZZ',
              '?limit=%00',
              '?q=%ED%A0%80',
              '?&&&=&=',
              '?limit=1&limit=2',
              `?${'a=1&'.repeat(2000)}`,
            ),
            body,
            auth,
          })
          .map((p) => make('query', p)),
      },
    );
  if (paramNames.length)
    variants.push(
      {
        weight: 4,
        arbitrary: fc
          .record({
            params: fc.tuple(params, malformed(paramsSchema, '', pools)).map(([good, bad]) => ({
              ...good,
              ...(bad && typeof bad === 'object' && !Array.isArray(bad) ? bad : {}),
            })),
            query,
            body,
            auth,
          })
          .map((p) => make('params', p)),
      },
      {
        weight: 3,
        arbitrary: fc
          .record({
            params,
            name: fc.constantFrom(...paramNames),
            seg: fc.constantFrom(...RAW_SEGMENTS),
            query,
            body,
            auth,
          })
          .map((p) => make('params', { ...p, rawParams: { [p.name]: p.seg } })),
      },
    );
  return fc.oneof(...variants);
}

let frameCounter = 0;

function frameText(type: unknown, id: unknown, data: unknown, withId: boolean): WsFrameSpec {
  const frame: Record<string, unknown> = { type, data };
  if (withId) frame.id = id;
  const text = JSON.stringify(frame);
  const wellFormedId =
    withId && typeof type === 'string' && typeof id === 'string' && frameSchema.safeParse(frame).success;
  return { text, ...(wellFormedId ? { expectAck: id as string } : {}) };
}

/** An id unique to this frame (so its ack can be told apart), or sometimes a hostile one. */
const frameId = fc.oneof(
  { weight: 9, arbitrary: fc.constant(null).map(() => `f${++frameCounter}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      ...HOSTILE_STRINGS,
      1,
      null,
      {},
      [],
      'i'.repeat(65),
      'i'.repeat(5000),
    ),
  },
);

function commandCase(type: string, ctx: CaseContext): fc.Arbitrary<WsCase> {
  const pools = ctx.pools(`ws.${type}`);
  const schema = commandSchemas[type as keyof typeof commandSchemas];
  const socket = fc.oneof(
    { weight: 8, arbitrary: fc.nat(ctx.userCount - 1).map((u) => ({ kind: 'main' as const, user: u })) },
    { weight: 1, arbitrary: fc.nat(ctx.userCount - 1).map((u) => ({ kind: 'fresh' as const, authAs: u })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'fresh' as const }) },
  );
  const withId = fc.oneof(
    { weight: 9, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  );
  const one = (variant: string, data: fc.Arbitrary<unknown>) =>
    fc.record({ socket, id: frameId, data, withId }).map(({ socket: s, id, data: d, withId: w }): WsCase => ({
      kind: 'ws',
      command: type,
      variant,
      socket: s,
      frames: [frameText(type, id, d, w)],
    }));
  return fc.oneof(
    { weight: 5, arbitrary: one('valid', valid(schema, '', pools)) },
    { weight: 5, arbitrary: one('data', malformed(schema, '', pools)) },
    // The same command several times in a row (duplicates, ordering).
    {
      weight: 1,
      arbitrary: fc
        .record({ socket, data: valid(schema, '', pools), n: fc.integer({ min: 2, max: 5 }) })
        .map(({ socket: s, data, n }): WsCase => ({
          kind: 'ws',
          command: type,
          variant: 'repeated',
          socket: s,
          frames: Array.from({ length: n }, () => frameText(type, `f${++frameCounter}`, data, true)),
        })),
    },
  );
}

/** Frames whose envelope is wrong: not JSON, binary, not an object, bad type or id, too large. */
function envelopeCase(ctx: CaseContext): fc.Arbitrary<WsCase> {
  const socket = fc.oneof(
    { weight: 4, arbitrary: fc.nat(ctx.userCount - 1).map((u) => ({ kind: 'main' as const, user: u })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'fresh' as const }) },
  );
  const frame: fc.Arbitrary<WsFrameSpec> = fc.oneof(
    fc
      .constantFrom('', '{', 'null', '[]', '1', '"auth"', '{"type":"auth"', '\u0000', 'undefined')
      .map((text) => ({ text })),
    malformed(frameSchema).map((f) => ({ text: JSON.stringify(f) ?? 'null' })),
    fc
      .constantFrom(...HOSTILE_STRINGS, 'i'.repeat(65))
      .map((type) => frameText(type, `f${++frameCounter}`, {}, true)),
    fc.integer({ min: 100, max: 100_000 }).map((n) => ({ text: '['.repeat(n) + ']'.repeat(n) })),
    // Built as text: JSON.stringify itself would overflow the stack.
    fc.integer({ min: 100, max: 50_000 }).map((n) => ({
      text: `{"type":"message:send","id":"f${++frameCounter}","data":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`,
    })),
    fc
      .constantFrom(
        Buffer.from([0xff, 0xfe]),
        Buffer.from(JSON.stringify({ type: 'typing:start', id: 'b', data: {} })),
      )
      .map((b) => ({ binaryBase64: b.toString('base64') })),
    fc.constant({ badTextBase64: Buffer.from([0x7b, 0xc3, 0x28, 0x7d]).toString('base64') }),
    // Past the frame limit (answered with FRAME_TOO_LARGE), and past the hard limit (closed with 1009).
    fc.constantFrom(140_000, 1_100_000).map((n) => ({
      text: JSON.stringify({ type: 'typing:start', id: 'big', data: { pad: 'p'.repeat(n) } }),
    })),
  );
  return fc
    .record({ socket, frames: fc.array(frame, { minLength: 1, maxLength: 3 }) })
    .map(({ socket: s, frames }): WsCase => ({
      kind: 'ws',
      command: 'frame',
      variant: 'envelope',
      socket: s,
      frames,
    }));
}

/** One case: REST (70 %) over every route, or WebSocket (30 %) over every command. */
export function fuzzCase(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  return fc.oneof(
    { weight: 7, arbitrary: fc.oneof(...restRoutes.map(([name, route]) => routeCase(name, route, ctx))) },
    {
      weight: 3,
      arbitrary: fc.oneof(...commandTypes.map((type) => ({ weight: 3, arbitrary: commandCase(type, ctx) })), {
        weight: 3,
        arbitrary: envelopeCase(ctx),
      }),
    },
  );
}
