/**
 * Runs fuzz cases against a running server and checks every answer:
 * - REST: never a 5xx; every error (4xx) is the error shape with a catalogued code whose
 *   status is the HTTP status, as JSON, without a stack trace; every success has a status
 *   the route declares and a body its schema accepts.
 * - WebSocket: every frame the server sends is an ack, an error frame or an event of the
 *   contract; no error is a 5xx code; a well-formed command with an id gets exactly one
 *   ack; the server closes a socket only for a reason of the protocol (1007, 1008, 1009).
 * - After each batch the server still answers GET /health, and memory is sampled.
 *
 * Cases come from fast-check with a fixed seed per batch (`seed + batch`), so a run can be
 * repeated; a violation keeps the case that caused it.
 */
import http from 'node:http';
import {
  ackDataSchemas,
  ackFrameSchema,
  errorBodySchema,
  errorCatalogue,
  errorFrameSchema,
  eventFrameSchema,
  parseEvent,
  WS_MAX_FRAME_BYTES,
  type ErrorCode,
} from '@parley/contracts';
import type { AppRoute } from '@ts-rest/core';
import fc from 'fast-check';
import WebSocket from 'ws';
import { z } from 'zod';
import { fuzzCase, restRoutes, type FuzzCase, type RestCase, type WsCase } from './cases.js';
import type { FuzzWorld } from './world.js';

export interface Violation {
  kind: string;
  detail: string;
  case: FuzzCase;
}

export interface FuzzReport {
  seed: number;
  /** Cases run (a REST request, or one to five WebSocket frames). */
  cases: number;
  restRequests: number;
  wsFrames: number;
  batches: number;
  /** REST answers by HTTP status. */
  byStatus: Record<string, number>;
  /** REST errors and WebSocket answers by code ("ack ok", "ack VALIDATION_ERROR", "close 1009"). */
  byCode: Record<string, number>;
  /** Per route / command: answers by status class ("2xx", "4xx", …) or ack outcome. */
  coverage: Record<string, Record<string, number>>;
  violations: Violation[];
  violationCount: number;
  durationMs: number;
  /** Bytes, from the `memory` option: after the first batch, at the end, and the highest sample. */
  memory: { first: number; end: number; peak: number } | null;
  stoppedEarly: boolean;
}

export interface RunOptions {
  seed: number;
  runs: number;
  batchSize?: number;
  concurrency?: number;
  /** Memory of the server process in bytes (RSS or heap), sampled after each batch. */
  memory?: () => number;
  /** Stop starting new batches after this long (the report says so). */
  deadlineMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Batches between world refreshes (default 5). */
  refreshEvery?: number;
  /** Violations kept with their cases (all are counted). */
  keep?: number;
}

const REQUEST_TIMEOUT_MS = 60_000;
const ALLOWED_CLOSE_CODES = new Set([1007, 1008, 1009]);

/** Routes by method, static paths before parametric ones (as Fastify's router prefers them). */
const routeMatchers = restRoutes
  .map(([name, route]) => ({
    name,
    route,
    params: (route.path.match(/:/g) ?? []).length,
    pattern: new RegExp(`^${route.path.replace(/:[A-Za-z]+/g, '[^/]+')}/?(?:\\?.*)?$`),
  }))
  .sort((a, b) => a.params - b.params);

/**
 * The route a request actually reached: a case for one route may reach another (an empty
 * path parameter turns GET /api/chats/:chatId into GET /api/chats/).
 */
export function routeReached(method: string, url: string): { name: string; route: AppRoute } | undefined {
  return routeMatchers.find((m) => m.route.method === method && m.pattern.test(url));
}

function bump(map: Record<string, number>, key: string, by = 1) {
  map[key] = (map[key] ?? 0) + by;
}

interface HttpAnswer {
  status: number;
  contentType: string;
  body: Buffer;
}

function sendHttp(agent: http.Agent, base: URL, c: RestCase, authorization: string | undefined) {
  return new Promise<HttpAnswer>((resolve, reject) => {
    const headers: Record<string, string> = { ...c.headers };
    if (authorization) headers.authorization = authorization;
    const body =
      c.bodyBase64 !== undefined
        ? Buffer.from(c.bodyBase64, 'base64')
        : c.body !== undefined
          ? Buffer.from(c.body, 'utf8')
          : undefined;
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        method: c.method,
        path: c.url,
        headers,
        agent,
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A stack frame, raw or as escaped inside a JSON string. */
const STACK_TRACE = /(?:\n|\\n)\s+at .+:\d+:\d+|node_modules\//;

/** What is wrong with an error body (an empty list when it is the error shape with the right status). */
export function errorShapeProblems(status: number, contentType: string, text: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return [`error body is not JSON (${contentType}): ${text.slice(0, 200)}`];
  }
  const parsed = errorBodySchema.safeParse(json);
  if (!parsed.success) return [`error body is not the error shape: ${text.slice(0, 300)}`];
  const problems: string[] = [];
  const code = parsed.data.error.code as ErrorCode;
  if (errorCatalogue[code].status !== status)
    problems.push(
      `${code} has status ${errorCatalogue[code].status} in the catalogue but came with ${status}`,
    );
  if (!contentType.startsWith('application/json'))
    problems.push(`error body has content-type ${contentType}`);
  if (STACK_TRACE.test(text)) problems.push(`error body carries a stack trace: ${text.slice(0, 300)}`);
  return problems;
}

/** Checks one REST answer; returns the violations (kind and detail). */
export function checkRestAnswer(route: AppRoute | undefined, answer: HttpAnswer): [string, string][] {
  const text = answer.body.toString('utf8');
  const { status } = answer;
  if (status >= 500) return [['5xx', `${status}: ${text.slice(0, 500)}`]];
  if (status >= 400)
    return errorShapeProblems(status, answer.contentType, text).map((p) => ['error-shape', p]);
  if (status < 200 || status >= 300) return [['unexpected-status', `${status}: ${text.slice(0, 200)}`]];
  if (!route) return [];
  const declared = (route.responses as Record<number, unknown>)[status];
  if (declared === undefined) return [['undeclared-status', `${status} is not among the route's responses`]];
  if (declared instanceof z.ZodType) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return [['response-contract', `${status} body is not JSON: ${text.slice(0, 200)}`]];
    }
    const parsed = declared.safeParse(json);
    if (!parsed.success)
      return [
        [
          'response-contract',
          `${status} body does not match the contract: ${parsed.error.message.slice(0, 500)}`,
        ],
      ];
  } else if (text.length > 0)
    return [['response-contract', `${status} should have no body: ${text.slice(0, 200)}`]];
  return [];
}

/** A WebSocket with every frame it receives kept in order, and one case at a time on it. */
class FuzzSocket {
  readonly received: any[] = [];
  closed: { code: number; reason: string } | undefined;
  private wake: (() => void) | undefined;
  private lock: Promise<void> = Promise.resolve();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      let frame: unknown;
      try {
        frame = JSON.parse(raw.toString());
      } catch {
        frame = { unparsable: raw.toString().slice(0, 200) };
      }
      this.received.push(frame);
      this.wake?.();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake?.();
    });
    ws.on('error', () => undefined);
  }

  static async open(base: string): Promise<FuzzSocket> {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    return new FuzzSocket(ws);
  }

  /** Resolves when `done` holds (checked at every frame and at close), or rejects after `ms`. */
  waitUntil(done: () => boolean, ms = REQUEST_TIMEOUT_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        reject(new Error(`no answer within ${ms} ms`));
      }, ms);
      const check = () => {
        if (done() || this.closed) {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        }
      };
      this.wake = check;
      check();
    });
  }

  async auth(token: string): Promise<void> {
    this.ws.send(JSON.stringify({ type: 'auth', id: 'auth', data: { token } }));
    await this.waitUntil(() => this.received.some((f) => f?.type === 'ack' && f.id === 'auth'));
    const ack = this.received.find((f) => f?.type === 'ack' && f.id === 'auth');
    if (!ack?.ok) throw new Error(`fuzz: auth refused: ${JSON.stringify(ack ?? this.closed)}`);
    this.received.length = 0;
  }

  /** Runs `fn` when the cases before it on this socket are done. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.terminate();
  }
}

let barrierCounter = 0;

/** Checks the frames a case brought; returns violations and counts outcomes. */
export function checkWsFrames(
  frames: any[],
  sent: Map<string, string>,
  expectAcks: string[],
  closed: { code: number; reason: string } | undefined,
  count: (key: string, command: string) => void,
): [string, string][] {
  const out: [string, string][] = [];
  const acks = new Map<string, number>();
  for (const f of frames) {
    if (f?.type === 'ack') {
      if (typeof f.id === 'string' && f.id.startsWith('barrier')) continue;
      const parsed = ackFrameSchema.safeParse(f);
      if (!parsed.success) {
        out.push(['ws-shape', `ack frame not in the contract's shape: ${JSON.stringify(f).slice(0, 300)}`]);
        continue;
      }
      acks.set(f.id, (acks.get(f.id) ?? 0) + 1);
      const command = sent.get(f.id) ?? '?';
      if (parsed.data.ok) {
        count('ack ok', command);
        const schema = ackDataSchemas[command as keyof typeof ackDataSchemas];
        if (schema && !schema.safeParse(parsed.data.data).success)
          out.push([
            'ws-contract',
            `ok ack of ${command} does not match ackDataSchemas: ${JSON.stringify(f).slice(0, 300)}`,
          ]);
      } else {
        count(`ack ${parsed.data.error.code}`, command);
        if (errorCatalogue[parsed.data.error.code].status >= 500)
          out.push(['ws-5xx', `${command}: ${JSON.stringify(parsed.data.error).slice(0, 300)}`]);
      }
    } else if (f?.type === 'error') {
      const parsed = errorFrameSchema.safeParse(f);
      if (!parsed.success) {
        out.push(['ws-shape', `error frame not in the contract's shape: ${JSON.stringify(f).slice(0, 300)}`]);
        continue;
      }
      count(`error ${parsed.data.error.code}`, 'frame');
      if (errorCatalogue[parsed.data.error.code].status >= 500)
        out.push(['ws-5xx', `error frame: ${JSON.stringify(parsed.data.error).slice(0, 300)}`]);
    } else if (!eventFrameSchema.safeParse(f).success || parseEvent(f) === null) {
      out.push([
        'ws-shape',
        `frame is neither ack, error nor a contract event: ${JSON.stringify(f).slice(0, 300)}`,
      ]);
    }
  }
  if (!closed)
    for (const id of expectAcks) {
      const n = acks.get(id) ?? 0;
      if (n !== 1)
        out.push(['ws-ack-count', `command ${sent.get(id)} with id ${id} got ${n} acks (expected 1)`]);
    }
  return out;
}

export async function runFuzz(world: FuzzWorld, opts: RunOptions): Promise<FuzzReport> {
  const base = new URL(world.base);
  const batchSize = opts.batchSize ?? 100;
  const concurrency = opts.concurrency ?? 4;
  const keep = opts.keep ?? 50;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const report: FuzzReport = {
    seed: opts.seed,
    cases: 0,
    restRequests: 0,
    wsFrames: 0,
    batches: 0,
    byStatus: {},
    byCode: {},
    coverage: {},
    violations: [],
    violationCount: 0,
    durationMs: 0,
    memory: null,
    stoppedEarly: false,
  };
  const started = Date.now();
  const violation = (kind: string, detail: string, c: FuzzCase) => {
    report.violationCount += 1;
    if (report.violations.length < keep) report.violations.push({ kind, detail, case: c });
    opts.log?.(`VIOLATION ${kind}: ${detail.slice(0, 300)}`);
  };
  const cover = (name: string, key: string) => bump((report.coverage[name] ??= {}), key);
  const timeByRoute: Record<string, number> = {};

  const mainSockets = new Map<number, FuzzSocket>();
  async function mainSocket(user: number): Promise<FuzzSocket> {
    let s = mainSockets.get(user);
    if (!s || s.closed) {
      s?.close();
      s = await FuzzSocket.open(world.base);
      await s.auth(world.users[user]!.accessToken);
      mainSockets.set(user, s);
    }
    return s;
  }

  async function runRest(c: RestCase): Promise<void> {
    const authorization =
      c.auth.as === 'user'
        ? `Bearer ${world.users[c.auth.user]!.accessToken}`
        : c.auth.as === 'spare'
          ? `Bearer ${world.takeSpareSession() ?? 'spent'}`
          : c.auth.as === 'token'
            ? c.auth.header
            : undefined;
    let answer: HttpAnswer;
    const t0 = Date.now();
    try {
      answer = await sendHttp(agent, base, c, authorization);
      bump(timeByRoute, c.route, Date.now() - t0);
    } catch (err) {
      const message = (err as Error).message;
      // Node refuses to send some of what the generators make (e.g. a header it finds invalid).
      if (
        /Invalid character|Invalid value|ERR_INVALID|ERR_UNESCAPED/i.test(
          `${message} ${(err as { code?: string }).code}`,
        )
      ) {
        bump(report.byCode, 'not sent (client refused)');
        return;
      }
      violation('no-answer', `${c.method} ${c.url.slice(0, 200)}: ${message}`, c);
      return;
    }
    report.restRequests += 1;
    bump(report.byStatus, String(answer.status));
    cover(c.route, `${Math.floor(answer.status / 100)}xx`);
    if (answer.status >= 400) {
      try {
        bump(report.byCode, JSON.parse(answer.body.toString('utf8')).error.code);
      } catch {
        bump(report.byCode, `(no code, ${answer.status})`);
      }
    }
    for (const [kind, detail] of checkRestAnswer(routeReached(c.method, c.url)?.route, answer))
      violation(kind, `${c.route} ${c.method} ${c.url.slice(0, 200)} → ${detail}`, c);
  }

  async function runWsOn(s: FuzzSocket, c: WsCase): Promise<void> {
    const sent = new Map<string, string>();
    const expectAcks: string[] = [];
    for (const f of c.frames) {
      if (s.closed) break;
      if (f.text !== undefined) {
        try {
          const parsed = JSON.parse(f.text);
          if (parsed && typeof parsed.id === 'string') sent.set(parsed.id, String(parsed.type));
        } catch {
          // not JSON
        }
        if (f.expectAck && Buffer.byteLength(f.text) <= WS_MAX_FRAME_BYTES) expectAcks.push(f.expectAck);
        s.ws.send(f.text);
      } else if (f.binaryBase64 !== undefined)
        s.ws.send(Buffer.from(f.binaryBase64, 'base64'), { binary: true });
      else if (f.badTextBase64 !== undefined)
        s.ws.send(Buffer.from(f.badTextBase64, 'base64'), { binary: false });
      report.wsFrames += 1;
    }
    // Commands run one at a time in arrival order: once the barrier's ack is here, every
    // answer to the frames before it is too.
    const barrier = `barrier${++barrierCounter}`;
    if (!s.closed) s.ws.send(JSON.stringify({ type: 'fuzz:barrier', id: barrier, data: {} }));
    try {
      await s.waitUntil(() => s.received.some((f) => f?.type === 'ack' && f.id === barrier));
    } catch (err) {
      violation('ws-no-answer', `${c.command} (${c.variant}): ${(err as Error).message}`, c);
      s.close();
      return;
    }
    const frames = s.received.splice(0, s.received.length);
    const count = (key: string, command: string) => {
      bump(report.byCode, key);
      cover(
        `ws ${command === '?' ? c.command : command}`,
        key.split(' ')[0] === 'ack' ? key : key.split(' ')[0]!,
      );
    };
    for (const [kind, detail] of checkWsFrames(frames, sent, expectAcks, s.closed, count))
      violation(kind, `${c.command} (${c.variant}) → ${detail}`, c);
    if (s.closed) {
      bump(report.byCode, `close ${s.closed.code}`);
      cover(`ws ${c.command}`, `close ${s.closed.code}`);
      if (!ALLOWED_CLOSE_CODES.has(s.closed.code))
        violation(
          'ws-close',
          `${c.command} (${c.variant}) closed the socket with ${s.closed.code} ${s.closed.reason}`,
          c,
        );
    }
  }

  async function runWs(c: WsCase): Promise<void> {
    if (c.socket.kind === 'main') {
      const s = await mainSocket(c.socket.user);
      await s.exclusive(() => runWsOn(s, c));
      return;
    }
    const s = await FuzzSocket.open(world.base);
    try {
      if (c.socket.authAs !== undefined) await s.auth(world.users[c.socket.authAs]!.accessToken);
      await runWsOn(s, c);
    } finally {
      s.close();
    }
  }

  async function health(): Promise<boolean> {
    try {
      const res = await fetch(`${world.base}/health`, { signal: AbortSignal.timeout(30_000) });
      return res.status === 200 && ((await res.json()) as { status?: string }).status === 'ok';
    } catch {
      return false;
    }
  }

  const samples: number[] = [];
  try {
    for (let batch = 0; report.cases < opts.runs; batch++) {
      if (opts.deadlineMs !== undefined && Date.now() - started > opts.deadlineMs) {
        report.stoppedEarly = true;
        break;
      }
      const n = Math.min(batchSize, opts.runs - report.cases);
      const arb = fuzzCase({
        userCount: world.users.length,
        pools: (route) => world.pools(route),
        someUserId: world.users[0]!.id,
      });
      const cases = fc.sample(arb, { seed: opts.seed + batch, numRuns: n });
      let next = 0;
      const lane = async () => {
        while (next < cases.length) {
          const c = cases[next++]!;
          try {
            if (c.kind === 'rest') await runRest(c);
            else await runWs(c);
          } catch (err) {
            violation('harness', `${(err as Error).message}`, c);
          }
        }
      };
      await Promise.all(Array.from({ length: concurrency }, lane));
      report.cases += n;
      report.batches += 1;
      if (!(await health())) {
        violation(
          'server-down',
          `GET /health did not answer 200 after batch ${batch}`,
          cases[cases.length - 1]!,
        );
        break;
      }
      const t1 = Date.now();
      if (opts.memory) samples.push(opts.memory());
      const t2 = Date.now();
      await world.keepSignedIn();
      // The fuzzer deletes and leaves chats and blocks people: top the world up now and then.
      if ((batch + 1) % (opts.refreshEvery ?? 5) === 0) await world.refresh();
      if (process.env.FUZZ_TIMINGS)
        opts.log?.(`memory sample ${t2 - t1} ms, world refresh ${Date.now() - t2} ms`);
      if (world.spareSessions.length < 2)
        await world.addSpareSession(world.users[batch % world.users.length]!);
      opts.log?.(
        `batch ${batch}: ${report.cases} cases, ${report.violationCount} violations, ${Math.round((report.cases * 1000) / (Date.now() - started))}/s` +
          (samples.length ? `, memory ${Math.round(samples[samples.length - 1]! / 2 ** 20)} MiB` : ''),
      );
    }
  } finally {
    for (const s of mainSockets.values()) s.close();
    agent.destroy();
  }
  report.durationMs = Date.now() - started;
  if (process.env.FUZZ_TIMINGS)
    opts.log?.(
      `time by route (ms): ${JSON.stringify(
        Object.entries(timeByRoute)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 12),
      )}`,
    );
  if (samples.length)
    report.memory = { first: samples[0]!, end: samples[samples.length - 1]!, peak: Math.max(...samples) };
  return report;
}

/** A violation as text: what, and the case that caused it (long strings cut). */
export function describeViolation(v: Violation, base = 'http://127.0.0.1:3000'): string {
  const cut = (s: string) => (s.length > 600 ? `${s.slice(0, 600)}… (${s.length} chars)` : s);
  if (v.case.kind === 'rest') {
    const c = v.case;
    const headers = Object.entries(c.headers)
      .map(([k, val]) => ` -H ${JSON.stringify(`${k}: ${cut(val)}`)}`)
      .join('');
    const auth = c.auth.as === 'token' ? ` -H ${JSON.stringify(`authorization: ${cut(c.auth.header)}`)}` : '';
    const body =
      c.body !== undefined
        ? ` --data-raw ${JSON.stringify(cut(c.body))}`
        : c.bodyBase64 !== undefined
          ? ` (body base64: ${cut(c.bodyBase64)})`
          : '';
    return `[${v.kind}] ${v.detail}\n  as ${JSON.stringify(c.auth.as === 'user' ? c.auth : c.auth.as)}: curl -X ${c.method} ${JSON.stringify(base + cut(c.url))}${headers}${auth}${body}`;
  }
  const frames = v.case.frames
    .map((f) => cut(f.text ?? `(bytes ${f.binaryBase64 ?? f.badTextBase64})`))
    .join('\n    ');
  return `[${v.kind}] ${v.detail}\n  socket ${JSON.stringify(v.case.socket)}, frames:\n    ${frames}`;
}
