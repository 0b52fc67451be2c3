/**
 * /metrics after real traffic: every metric operators alert and chart on (specs/operations.md)
 * is exported and has data, and no label carries an id or a user's text. With PostgreSQL
 * and REDIS_URL, the delivery latency of a message committed on one node is observed by
 * the node that holds the recipient's socket (the commit time travels over the Redis bus).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import {
  createGroup,
  openDirectChat,
  registerUsers,
  sendText,
  type TestUser,
} from '../../test/support/factories.js';
import { testDbMode } from '../../test/support/database.js';
import { client, type Client } from '../../test/support/http.js';
import { parseMetrics, samplesOf, valueOf, type Sample } from '../../test/support/prometheus-text.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs, type Frame } from '../../test/support/ws.js';
import { pngImage, settled, uploaded } from '../../test/support/media.js';
import { waitUntil } from '../../test/support/wait.js';
import { parseBusMessage } from './realtime/redis-bus.js';
import { statementLabel } from './metrics.js';

const WAIT = 60_000;
const isNew = (chatId: string) => (f: Frame) => f.type === 'message:new' && f.data.message.chatId === chatId;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

async function scrape(api: Client): Promise<Sample[]> {
  const res = await api.get('/metrics');
  expect(res.status).toBe(200);
  return parseMetrics(res.text);
}

describe('/metrics after sends, deliveries, a search and a resync', () => {
  let server: TestServer;
  let api: Client;
  let samples: Sample[];
  const SENDS = 12;

  beforeAll(async () => {
    server = await startTestServer({ SEND_RATE_PER_SECOND: '1000' });
    api = client(server.url);
    const [a, b, c] = (await registerUsers(api, 3)) as [TestUser, TestUser, TestUser];
    const direct = await openDirectChat(api, a, b);
    const group = await createGroup(api, a, [b, c]);
    const sender = await connectAs(server.url, a.accessToken);
    const bob = await connectAs(server.url, b.accessToken);
    const carol = await connectAs(server.url, c.accessToken);
    const acks = await Promise.all(
      Array.from({ length: SENDS }, (_, n) =>
        sender.command(
          'message:send',
          { chatId: n % 2 ? direct.id : group.id, clientMsgId: randomUUID(), body: `deploy step ${n}` },
          WAIT,
        ),
      ),
    );
    expect(acks.filter((ack) => !ack.ok)).toEqual([]);
    await sendText(api, a, group.id, 'deploy over REST');
    await bob.waitForCount(isNew(direct.id), SENDS / 2, WAIT);
    await bob.waitForCount(isNew(group.id), SENDS / 2 + 1, WAIT);
    await carol.waitForCount(isNew(group.id), SENDS / 2 + 1, WAIT);
    // A device coming back with a position no inbox issued is told to re-sync.
    const resume = await carol.command('sync:resume', { position: 'not-a-position' }, WAIT);
    expect(resume.ok).toBe(true);
    await carol.waitFor((f) => f.type === 'sync:resync', WAIT);
    expect((await api.get('/api/search?q=deploy', { token: a.accessToken })).status).toBe(200);
    expect((await api.get(`/api/search?q=${b.username}&type=users`, { token: a.accessToken })).status).toBe(
      200,
    );
    expect((await api.get('/health/ready')).status).toBe(200);
    // Delivery times are recorded when the frames have been written: wait for the last ones.
    await waitUntil(
      'delivery latencies of every message:new frame',
      async () => {
        samples = await scrape(api);
        return (
          valueOf(samples, 'parley_delivery_latency_seconds_count', { type: 'message:new' }) >=
          SENDS + 2 * (SENDS / 2 + 1)
        );
      },
      WAIT,
      50,
    );
    await Promise.all([sender.close(), bob.close(), carol.close()]);
  });

  afterAll(async () => {
    await server?.close();
  });

  test('messages sent, by chat kind; commands by outcome; group-commit batches', () => {
    expect(valueOf(samples, 'parley_messages_sent_total', { chat_kind: 'group' })).toBe(SENDS / 2 + 1);
    expect(valueOf(samples, 'parley_messages_sent_total', { chat_kind: 'direct' })).toBe(SENDS / 2);
    expect(valueOf(samples, 'parley_ws_commands_total', { type: 'message:send', outcome: 'ok' })).toBe(SENDS);
    expect(valueOf(samples, 'parley_send_batch_size_count')).toBeGreaterThan(0);
    expect(valueOf(samples, 'parley_send_commit_seconds_count')).toBeGreaterThan(0);
    expect(valueOf(samples, 'parley_send_queue')).toBe(0);
  });

  test('events delivered by type, and the delivery latency from commit to socket', () => {
    // Bob: 6 direct + 7 group; Carol: 7 group; the sender's own devices get theirs too.
    const frames = SENDS / 2 + 2 * (SENDS / 2 + 1);
    expect(valueOf(samples, 'parley_events_delivered_total', { type: 'message:new' })).toBeGreaterThanOrEqual(
      frames,
    );
    expect(valueOf(samples, 'parley_ws_events_sent_total')).toBeGreaterThanOrEqual(frames);
    const count = valueOf(samples, 'parley_delivery_latency_seconds_count', { type: 'message:new' });
    expect(count).toBeGreaterThanOrEqual(frames);
    const sum = valueOf(samples, 'parley_delivery_latency_seconds_sum', { type: 'message:new' });
    expect(sum).toBeGreaterThan(0);
    // Cumulative buckets end at the count.
    expect(
      valueOf(samples, 'parley_delivery_latency_seconds_bucket', { type: 'message:new', le: '+Inf' }),
    ).toBe(count);
    expect(valueOf(samples, 'parley_inbox_lag_seconds_count')).toBeGreaterThanOrEqual(frames);
  });

  test('outbox lag per committed unit, and the outbox table read at scrape time', () => {
    expect(valueOf(samples, 'parley_outbox_lag_seconds_count', { path: 'live' })).toBeGreaterThan(0);
    expect(samplesOf(samples, 'parley_outbox_lag_seconds_count', { path: 'recovered' })).toHaveLength(1);
    expect(valueOf(samples, 'parley_outbox_rows')).toBeGreaterThanOrEqual(0);
    expect(valueOf(samples, 'parley_outbox_oldest_seconds')).toBeGreaterThanOrEqual(0);
  });

  test('inbox re-syncs by reason', () => {
    expect(valueOf(samples, 'parley_inbox_resyncs_total', { reason: 'position_unknown' })).toBe(1);
    expect(valueOf(samples, 'parley_inbox_resyncs_total', { reason: 'overflow' })).toBe(0);
  });

  test('database and Redis latency, by statement and command', () => {
    const statements = samplesOf(samples, 'parley_db_query_duration_seconds_count');
    expect(statements.length).toBeGreaterThan(0);
    // The group commit is a named hot-path statement; every label is a name or a verb.
    for (const s of statements) expect(s.labels.statement).toMatch(/^[a-z0-9-]+$/);
    expect(statements.reduce((n, s) => n + s.value, 0)).toBeGreaterThan(SENDS / 4);
    expect(valueOf(samples, 'parley_db_statements_total')).toBeGreaterThan(0);
    const redis = samplesOf(samples, 'parley_redis_command_duration_seconds_count');
    if (process.env.REDIS_URL) {
      expect(redis.map((s) => s.labels.command)).toEqual(expect.arrayContaining(['evalsha']));
      expect(redis.every((s) => /^[a-z]+$/.test(s.labels.command!))).toBe(true);
    } else {
      expect(redis).toEqual([]);
    }
  });

  test('search latency by type', () => {
    expect(valueOf(samples, 'parley_search_duration_seconds_count', { type: 'messages' })).toBe(1);
    expect(valueOf(samples, 'parley_search_duration_seconds_count', { type: 'users' })).toBe(1);
  });

  test('readiness, connections, process and event-loop metrics', () => {
    expect(valueOf(samples, 'parley_ready')).toBe(1);
    expect(valueOf(samples, 'parley_readiness_changes_total')).toBe(0);
    expect(valueOf(samples, 'parley_ws_connections')).toBeGreaterThanOrEqual(0);
    expect(valueOf(samples, 'parley_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(samples, 'parley_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(valueOf(samples, 'parley_nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(valueOf(samples, 'parley_nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
    expect(valueOf(samples, 'parley_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(
      valueOf(samples, 'parley_http_request_duration_seconds_count', {
        route: '/api/chats/:chatId/messages',
        method: 'POST',
        status_code: '201',
      }),
    ).toBe(1);
  });

  test('media metrics: every kind exported from the start, the queue read from the database', () => {
    expect(valueOf(samples, 'parley_media_queue_depth')).toBe(0);
    for (const kind of ['image', 'voice', 'video', 'file'])
      expect(valueOf(samples, 'parley_media_processing_seconds_count', { kind })).toBe(0);
  });

  test('a processed upload is timed by kind', async () => {
    const [user] = await registerUsers(api, 1);
    const media = await uploaded(server.url, user!, await pngImage(), { name: 'p.png', type: 'image/png' });
    expect((await settled(api, user!, media.id)).status).toBe('ready');
    const now = await scrape(api);
    expect(valueOf(now, 'parley_media_processing_seconds_count', { kind: 'image' })).toBe(1);
    expect(valueOf(now, 'parley_media_processing_seconds_sum', { kind: 'image' })).toBeGreaterThan(0);
    expect(valueOf(now, 'parley_media_queue_depth')).toBe(0);
  });

  test('no label value is an id, a raw URL or text a user typed', () => {
    const parleys = samples.filter((s) => s.name.startsWith('parley_'));
    for (const s of parleys) {
      for (const [key, value] of Object.entries(s.labels)) {
        expect({ metric: s.name, key, value, uuid: UUID.test(value) }).toMatchObject({ uuid: false });
        expect({ metric: s.name, key, value, text: value.includes('deploy') }).toMatchObject({ text: false });
        if (key === 'route') expect(value).not.toContain('?');
      }
    }
  });
});

test('readiness changes are counted, from the probe and from scrapes', async () => {
  const server = await startTestServer();
  try {
    const api = client(server.url);
    const { metrics } = server.running.ctx;
    expect((await api.get('/health/ready')).status).toBe(200);
    metrics.readinessChecked(false);
    metrics.readinessChecked(true);
    const samples = await scrape(api);
    expect(valueOf(samples, 'parley_ready')).toBe(1);
    expect(valueOf(samples, 'parley_readiness_changes_total')).toBe(2);
  } finally {
    await server.close();
  }
});

test('statement labels are names or SQL verbs, never text', () => {
  expect(statementLabel({ name: 'send-batch', text: 'WITH x AS (SELECT 1) SELECT 2' })).toBe('send-batch');
  expect(statementLabel({ text: "SELECT * FROM users WHERE username = 'ada'" })).toBe('select');
  expect(statementLabel('  insert into x values (1)')).toBe('insert');
  expect(statementLabel('VACUUM users')).toBe('other');
  expect(statementLabel({ name: 'Robert"); DROP TABLE', text: 'select 1' })).toBe('select');
  expect(statementLabel(undefined)).toBe('other');
});

test('the commit time crosses the Redis bus with an inbox wake-up, and nothing else does', () => {
  const event = { type: 'typing:stop', data: { chatId: randomUUID(), userId: randomUUID() } };
  const base = { kind: 'inbox', userIds: ['u1'], event, appended: [['a.1', 'a.2']] };
  expect(parseBusMessage({ ...base, timing: { committedAt: 1000, publishedAt: 1005 } })).toMatchObject({
    timing: { committedAt: 1000, publishedAt: 1005 },
  });
  expect(parseBusMessage({ ...base, timing: { committedAt: 'x', publishedAt: 1 } })).not.toHaveProperty(
    'timing',
  );
  expect(parseBusMessage({ ...base, timing: { committedAt: 1, publishedAt: 2, extra: 'no' } })).toEqual({
    ...base,
    timing: { committedAt: 1, publishedAt: 2 },
  });
});

const shared = Boolean(process.env.REDIS_URL) && testDbMode() === 'postgres';
(shared ? describe : describe.skip)('two nodes', () => {
  let one: TestServer;
  let two: TestServer;
  beforeAll(async () => {
    one = await startTestServer({ SEND_RATE_PER_SECOND: '1000' });
    two = await startTestServer(
      { SEND_RATE_PER_SECOND: '1000', REDIS_KEY_PREFIX: one.config.redisKeyPrefix },
      { database: async () => one.config.database },
    );
  });
  afterAll(async () => {
    await two?.close();
    await one?.close();
  });

  test('a message committed on one node is timed by the node that writes it to the socket', async () => {
    const api = client(one.url);
    const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
    const group = await createGroup(api, a, [b]);
    const before = valueOf(await scrape(client(two.url)), 'parley_delivery_latency_seconds_count', {
      type: 'message:new',
    });
    const onTwo = await connectAs(two.url, b.accessToken);
    for (let n = 0; n < 5; n++) await sendText(api, a, group.id, `m${n}`);
    await onTwo.waitForCount(isNew(group.id), 5, WAIT);
    await waitUntil(
      'node two to time the five deliveries',
      async () =>
        valueOf(await scrape(client(two.url)), 'parley_delivery_latency_seconds_count', {
          type: 'message:new',
        }) >=
        (Number.isNaN(before) ? 0 : before) + 5,
      WAIT,
      50,
    );
    const onOne = await scrape(client(one.url));
    expect(valueOf(onOne, 'parley_messages_sent_total', { chat_kind: 'group' })).toBe(5);
    await onTwo.close();
  });
});
