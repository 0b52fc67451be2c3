/**
 * fast-check arbitraries made from the contract's zod schemas (zod 3): values a schema
 * accepts, and malformed ones a hostile client would send instead.
 *
 * - `valid(schema)` respects what can be generated directly (types, enums, min/max, uuid,
 *   datetime, email, url, simple patterns) and, where a refinement or transform cannot be
 *   generated directly, checks each value with the schema itself and falls back to an
 *   example the schema accepts. uuids come from `IdPools` (real ids of the fuzzing users'
 *   own chats, messages and people, so requests reach the handlers) or are random.
 * - `malformed(schema)` breaks one thing somewhere inside a valid value: a wrong type, a
 *   missing or extra field, an over-long string, NUL and lone surrogates, huge or negative
 *   numbers, too many array items, deep nesting.
 *
 * Walks the same zod node types as the contract hygiene test; an unknown node type is an
 * error here too, so a new kind of schema cannot go unfuzzed silently.
 */
import fc from 'fast-check';
import { z } from 'zod';

/** Real ids by field name ("chatId", "messageId", "userId", "id"); `any` holds them all. */
export type IdPools = Record<string, readonly string[]>;

/** A few fixed uuids, so that generated requests sometimes repeat one (idempotency, duplicates). */
const REPEATED_UUIDS = [
  '00000000-0000-4000-8000-000000000000',
  'ffffffff-ffff-4fff-bfff-ffffffffffff',
  '3b241101-e2bb-4255-8caf-4136c566a962',
];

const EMOJI = ['👍', '❤️', '😂', '🎉', '🇫🇷', '👩‍👩‍👧', '👍🏽', '#️⃣', '🏳️‍🌈'];
const WORDS = [
  'hello',
  'Hello world',
  'test message',
  'user_abc',
  'héllo wörld',
  'مرحبا',
  '你好',
  '@user_abc hi',
];
/** Numbers the contract gives meaning to (disappearing-message choices, page sizes, seqs). */
const INTERESTING_NUMBERS = [0, 1, 2, 3, 20, 50, 100, 168, 720, 3600, 86_400, 604_800, 7_776_000];

/** Byte-level and code-unit-level trouble for strings. */
export const HOSTILE_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'a\udc00b',
  '\udbff\udfff',
  '\u202egnp.exe',
  '\u200b',
  '\uFEFF',
  '\r\n\t',
  "'; DROP TABLE users; --",
  '%s%n%x',
  '${7*7}{{7*7}}',
  '<script>alert(1)</script>',
  '../../../etc/passwd',
  '__proto__',
  'constructor',
  '\\u0000',
  '🏳️‍🌈'.repeat(40),
  'ß'.repeat(300),
  '9'.repeat(400),
];

const HUGE_NUMBERS = [
  -1,
  -2_147_483_649,
  2_147_483_648,
  2 ** 53 + 1,
  -(2 ** 53) - 1,
  1e308,
  -1e308,
  5e-324,
  1.5,
  -0.5,
  Number.MAX_SAFE_INTEGER,
];

function stringInfo(s: z.ZodString) {
  const info = {
    min: 0,
    max: undefined as number | undefined,
    uuid: false,
    datetime: false,
    email: false,
    url: false,
    regexes: [] as RegExp[],
  };
  for (const c of s._def.checks) {
    if (c.kind === 'min') info.min = Math.max(info.min, c.value);
    else if (c.kind === 'max') info.max = Math.min(info.max ?? Infinity, c.value);
    else if (c.kind === 'length') {
      info.min = c.value;
      info.max = c.value;
    } else if (c.kind === 'uuid') info.uuid = true;
    else if (c.kind === 'datetime') info.datetime = true;
    else if (c.kind === 'email') info.email = true;
    else if (c.kind === 'url') info.url = true;
    else if (c.kind === 'regex') info.regexes.push(c.regex);
  }
  return info;
}

function numberInfo(n: z.ZodNumber) {
  let min = -1e9;
  let max = 1e9;
  let int = false;
  for (const c of n._def.checks) {
    if (c.kind === 'min') min = Math.max(min, c.inclusive ? c.value : c.value + 1);
    else if (c.kind === 'max') max = Math.min(max, c.inclusive ? c.value : c.value - 1);
    else if (c.kind === 'int') int = true;
  }
  return { min, max, int };
}

function uuidArb(field: string, pools: IdPools): fc.Arbitrary<string> {
  const own = pools[field] ?? [];
  const all = pools.any ?? [];
  const options: fc.WeightedArbitrary<string>[] = [
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.constantFrom(...REPEATED_UUIDS) },
  ];
  if (own.length) options.push({ weight: 6, arbitrary: fc.constantFrom(...own) });
  if (all.length) options.push({ weight: 2, arbitrary: fc.constantFrom(...all) });
  return fc.oneof(...options);
}

/** Simple anchored character-class patterns fast-check can generate (not \p{…} classes). */
function generatable(re: RegExp): boolean {
  return !re.flags.includes('u') && /^\^\[[^\]]+\][+*]\$$/.test(re.source);
}

function rawString(s: z.ZodString, field: string, pools: IdPools): fc.Arbitrary<string> {
  const info = stringInfo(s);
  if (info.uuid) return uuidArb(field, pools);
  if (info.datetime)
    return fc
      .date({
        min: new Date('2000-01-01T00:00:00Z'),
        max: new Date('2100-01-01T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString());
  if (info.email) return fc.stringMatching(/^[a-z0-9]{1,20}$/).map((l) => `${l}@example.test`);
  if (info.url) return fc.stringMatching(/^[a-z0-9]{1,30}$/).map((p) => `https://example.test/${p}.png`);
  const max = Math.min(info.max ?? 64, 64);
  const min = Math.min(info.min, max);
  const sized = (a: fc.Arbitrary<string>) =>
    a.map((v) => (v.length < min ? v + 'a'.repeat(min - v.length) : v.slice(0, Math.max(max, min))));
  const options: fc.Arbitrary<string>[] = [
    sized(fc.string({ minLength: min, maxLength: max })),
    sized(fc.string({ unit: 'grapheme', minLength: min, maxLength: max })),
    sized(fc.string({ unit: 'binary', minLength: min, maxLength: max })),
    fc.constantFrom(...WORDS),
    fc.constantFrom(...EMOJI),
  ];
  for (const re of info.regexes) if (generatable(re)) options.push(sized(fc.stringMatching(re)));
  return fc.oneof(...options);
}

/** Zod's `c.noBody()` and the like are not zod schemas. */
function isSchema(schema: unknown): schema is z.ZodTypeAny {
  return schema instanceof z.ZodType;
}

const examples = new WeakMap<z.ZodTypeAny, { value: unknown } | null>();

/** A value the schema accepts, found by sampling once (null when none was found). */
function exampleOf(schema: z.ZodTypeAny, field: string, pools: IdPools): { value: unknown } | null {
  let found = examples.get(schema);
  if (found !== undefined) return found;
  found = null;
  for (const v of fc.sample(raw(schema, field, pools), { numRuns: 300, seed: 1 })) {
    if (schema.safeParse(v).success) {
      found = { value: v };
      break;
    }
  }
  examples.set(schema, found);
  return found;
}

/** Values shaped by the schema; refinements are not guaranteed (see `valid`). */
function raw(schema: z.ZodTypeAny, field: string, pools: IdPools): fc.Arbitrary<unknown> {
  if (schema instanceof z.ZodString) return rawString(schema, field, pools);
  if (schema instanceof z.ZodNumber) {
    const { min, max, int } = numberInfo(schema);
    const inRange = INTERESTING_NUMBERS.filter((n) => n >= min && n <= max);
    const small = Math.min(max, Math.max(min, 0) + 100);
    return fc.oneof(
      int ? fc.integer({ min, max }) : fc.double({ min, max, noNaN: true, noDefaultInfinity: true }),
      fc.integer({ min: Math.ceil(min), max: Math.floor(small) }),
      ...(inRange.length ? [fc.constantFrom(...inRange)] : []),
    );
  }
  if (schema instanceof z.ZodBoolean) return fc.boolean();
  if (schema instanceof z.ZodEnum) return fc.constantFrom(...(schema.options as string[]));
  if (schema instanceof z.ZodLiteral) return fc.constant(schema.value);
  if (schema instanceof z.ZodNull) return fc.constant(null);
  if (schema instanceof z.ZodUndefined) return fc.constant(undefined);
  if (schema instanceof z.ZodUnknown || schema instanceof z.ZodAny) return fc.jsonValue({ maxDepth: 2 });
  if (schema instanceof z.ZodOptional)
    return fc.option(valid(schema._def.innerType, field, pools), { nil: undefined });
  if (schema instanceof z.ZodDefault)
    return fc.option(valid(schema._def.innerType, field, pools), { nil: undefined });
  if (schema instanceof z.ZodNullable)
    return fc.option(valid(schema._def.innerType, field, pools), { nil: null });
  if (schema instanceof z.ZodEffects) return raw(schema._def.schema, field, pools);
  if (schema instanceof z.ZodPipeline) return raw(schema._def.in, field, pools);
  if (schema instanceof z.ZodObject) {
    const shape = schema.shape as Record<string, z.ZodTypeAny>;
    const parts: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [key, value] of Object.entries(shape)) parts[key] = valid(value, key, pools);
    return fc.record(parts).map(dropUndefined);
  }
  if (schema instanceof z.ZodArray) {
    const maxLength = Math.min(schema._def.exactLength?.value ?? schema._def.maxLength?.value ?? 5, 5);
    const minLength = Math.min(
      schema._def.exactLength?.value ?? schema._def.minLength?.value ?? 0,
      maxLength,
    );
    const element = valid(schema.element, singular(field), pools);
    return fc.array(element, { minLength, maxLength });
  }
  if (schema instanceof z.ZodUnion || schema instanceof z.ZodDiscriminatedUnion)
    return fc.oneof(...(schema.options as z.ZodTypeAny[]).map((o) => valid(o, field, pools)));
  throw new Error(`fuzz: no generator for ${schema.constructor.name} at ${field || '(root)'}`);
}

function dropUndefined(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

/** "memberIds" → "userId", "userIds" → "userId": the pool an array's items come from. */
function singular(field: string): string {
  if (field === 'memberIds' || field === 'userIds') return 'userId';
  if (field === 'messageIds') return 'messageId';
  return field;
}

/**
 * Values the schema accepts. Where generation cannot guarantee it (a refinement, a
 * transform's pipeline), a value the schema refuses is replaced by an example it accepts.
 */
export function valid(schema: unknown, field = '', pools: IdPools = {}): fc.Arbitrary<unknown> {
  if (!isSchema(schema)) return fc.constant(undefined);
  const arb = raw(schema, field, pools);
  if (!(schema instanceof z.ZodEffects || schema instanceof z.ZodPipeline || schema instanceof z.ZodString))
    return arb;
  return arb.map((v) => {
    if (schema.safeParse(v).success) return v;
    const example = exampleOf(schema, field, pools);
    return example ? example.value : v;
  });
}

/** JSON values of every type; `not` leaves out the type the schema wants. */
function wrongType(
  not: 'string' | 'number' | 'boolean' | 'object' | 'array' | 'null' | 'other',
): fc.Arbitrary<unknown> {
  const all: [string, fc.Arbitrary<unknown>][] = [
    ['string', fc.constantFrom('x', '1', 'true', 'null', '[]', '{}')],
    ['number', fc.constantFrom(0, 1, -1, 1.5, 1e308)],
    ['boolean', fc.boolean()],
    [
      'object',
      fc.constantFrom(
        {},
        { a: 1 },
        // Own "__proto__" and "constructor" keys, as JSON.parse makes them.
        JSON.parse('{"__proto__":{"isAdmin":true}}') as unknown,
        JSON.parse('{"constructor":{"prototype":{"isAdmin":true}}}') as unknown,
      ),
    ],
    ['array', fc.constantFrom([], [1], ['a', 'b'], [[]], [null])],
    ['null', fc.constant(null)],
  ];
  return fc.oneof(...all.filter(([kind]) => kind !== not).map(([, a]) => a));
}

/** `[[[[…]]]]` or `{"a":{"a":…}}`, `depth` levels. */
export function deeplyNested(depth: number, kind: 'array' | 'object'): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = kind === 'array' ? [v] : { a: v };
  return v;
}

/** Deep values (as values, so at most 1,000 levels: JSON.stringify recurses; deeper ones are sent as text). */
const nested = fc.oneof(
  fc.integer({ min: 10, max: 1_000 }).map((d) => deeplyNested(d, 'array')),
  fc.integer({ min: 10, max: 1_000 }).map((d) => deeplyNested(d, 'object')),
);

/** Strings a field with this maximum must refuse for being too long (bounded: ≤ 2 MiB). */
function overLong(max: number | undefined): fc.Arbitrary<string> {
  const base = max ?? 1_000;
  return fc.oneof(
    fc.constant('a'.repeat(base + 1)),
    fc.constant('é'.repeat(base + 1)),
    fc.constant('😀'.repeat(Math.ceil((base + 1) / 2))),
    fc.integer({ min: base + 1, max: Math.min(base * 10 + 10, 300_000) }).map((n) => 'x'.repeat(n)),
    // Past the body limit (1 MiB) and the WebSocket frame limits.
    fc.constant('y'.repeat(1_100_000)),
  );
}

/** Puts `bad` at the start, the middle or the end of `good`. */
function insert(good: fc.Arbitrary<unknown>, bad: string): fc.Arbitrary<string> {
  return fc.tuple(good, fc.nat(2)).map(([g, where]) => {
    const s = typeof g === 'string' ? g : 'abc';
    const mid = Math.floor(s.length / 2);
    return where === 0 ? bad + s : where === 1 ? s.slice(0, mid) + bad + s.slice(mid) : s + bad;
  });
}

/** Values the schema should refuse (or that stress its edge), with one thing broken somewhere. */
export function malformed(schema: unknown, field = '', pools: IdPools = {}): fc.Arbitrary<unknown> {
  if (!isSchema(schema)) {
    // A route without a body: send one anyway.
    return fc.oneof(fc.jsonValue({ maxDepth: 2 }), nested);
  }
  const good = valid(schema, field, pools);
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable || schema instanceof z.ZodDefault)
    return malformed(schema._def.innerType, field, pools);
  if (schema instanceof z.ZodEffects) return fc.oneof(malformed(schema._def.schema, field, pools), good);
  if (schema instanceof z.ZodPipeline) return malformed(schema._def.in, field, pools);
  if (schema instanceof z.ZodString) {
    const info = stringInfo(schema);
    return fc.oneof(
      { weight: 2, arbitrary: wrongType('string') },
      { weight: 2, arbitrary: overLong(info.max ?? (info.uuid ? 36 : info.datetime ? 30 : undefined)) },
      { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
      {
        weight: 6,
        arbitrary: fc
          // What PostgreSQL cannot store: the edge must refuse it (issue 11, item 5).
          .constantFrom('\u0000', '\ud800', '\udfff', '\u0000', '\u202e')
          .chain((b) => insert(good, b)),
      },
      {
        weight: 1,
        arbitrary: good.map((g) => (typeof g === 'string' ? g.toUpperCase() + ' ' : g)),
      },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    );
  }
  if (schema instanceof z.ZodNumber)
    return fc.oneof(
      wrongType('number'),
      fc.constantFrom(...HUGE_NUMBERS),
      fc.constantFrom('1', '-1', '1e400', 'NaN', 'Infinity', '0x10', ' 1 '),
    );
  if (schema instanceof z.ZodBoolean)
    return fc.oneof(wrongType('boolean'), fc.constantFrom('true', 'false', 0, 1));
  if (schema instanceof z.ZodEnum || schema instanceof z.ZodLiteral)
    return fc.oneof(
      wrongType('other'),
      fc.constantFrom(...HOSTILE_STRINGS),
      good.map((g) => (typeof g === 'string' ? g.toUpperCase() : g)),
      good.map((g) => (typeof g === 'string' ? ` ${g}` : g)),
    );
  if (schema instanceof z.ZodNull || schema instanceof z.ZodUndefined) return wrongType('null');
  if (schema instanceof z.ZodUnknown || schema instanceof z.ZodAny)
    return fc.oneof(nested, fc.constantFrom(...HOSTILE_STRINGS), fc.constantFrom(...HUGE_NUMBERS));
  if (schema instanceof z.ZodArray) {
    const maxLength: number | undefined = schema._def.exactLength?.value ?? schema._def.maxLength?.value;
    const element = valid(schema.element, singular(field), pools);
    return fc.oneof(
      wrongType('array'),
      nested,
      // One more item than allowed.
      fc.constant(maxLength ?? 1000).chain((n) => fc.array(element, { minLength: n + 1, maxLength: n + 1 })),
      fc
        .tuple(fc.array(element, { maxLength: 3 }), malformed(schema.element, singular(field), pools))
        .map(([items, bad]) => [...items, bad]),
      fc.constant([]),
    );
  }
  if (schema instanceof z.ZodObject) {
    const shape = schema.shape as Record<string, z.ZodTypeAny>;
    const keys = Object.keys(shape);
    const withGood = good as fc.Arbitrary<Record<string, unknown>>;
    const options: fc.Arbitrary<unknown>[] = [
      wrongType('object'),
      nested,
      // An extra field, among them the prototype-pollution keys.
      fc
        .tuple(
          withGood,
          fc.constantFrom('extra', '__proto__', 'constructor', 'prototype', 'userId', 'isAdmin', ''),
          fc.jsonValue({ maxDepth: 2 }),
        )
        .map(([g, k, v]) => {
          const out: Record<string, unknown> = { ...g };
          Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
          return out;
        }),
    ];
    if (keys.length) {
      // A field missing.
      options.push(
        fc.tuple(withGood, fc.constantFrom(...keys)).map(([g, k]) => {
          const out = { ...g };
          delete out[k];
          return out;
        }),
      );
      // One field malformed (recursively): the most useful variant, so the most frequent.
      const oneField = fc
        .constantFrom(...keys)
        .chain((k) => fc.tuple(withGood, fc.constant(k), malformed(shape[k], k, pools)))
        .map(([g, k, bad]) => ({ ...g, [k]: bad }));
      for (let i = 0; i < 4; i++) options.push(oneField);
    }
    return fc.oneof(...options);
  }
  if (schema instanceof z.ZodUnion || schema instanceof z.ZodDiscriminatedUnion)
    return fc.oneof(...(schema.options as z.ZodTypeAny[]).map((o) => malformed(o, field, pools)));
  throw new Error(`fuzz: no malformed generator for ${schema.constructor.name} at ${field || '(root)'}`);
}
