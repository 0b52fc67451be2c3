/**
 * Two nodes on one PostgreSQL database and one Redis (runs when the suite has REDIS_URL
 * and PostgreSQL; CI runs it so): an event committed on one node reaches sockets held by
 * the other, a device resumes on either node from a position the other gave it, and the
 * users of a node killed with SIGKILL are announced offline by a node still alive.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGroup, registerUsers, type TestUser } from '../../test/support/factories.js';
import { client } from '../../test/support/http.js';
import { testDbMode } from '../../test/support/database.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs, lastPosition, type Frame } from '../../test/support/ws.js';

const WAIT = 60_000;
const shared = Boolean(process.env.REDIS_URL) && testDbMode() === 'postgres';
const onTwoNodes = shared ? describe : describe.skip;

const isNew = (chatId: string) => (f: Frame) => f.type === 'message:new' && f.data.message.chatId === chatId;

onTwoNodes('two nodes sharing PostgreSQL and Redis', () => {
  let one: TestServer;
  let two: TestServer;
  beforeAll(async () => {
    one = await startTestServer({ SEND_RATE_PER_SECOND: '1000' });
    // The second node: the first one's database and Redis keys.
    two = await startTestServer(
      { SEND_RATE_PER_SECOND: '1000', REDIS_KEY_PREFIX: one.config.redisKeyPrefix },
      { database: async () => one.config.database },
    );
  });
  afterAll(async () => {
    await two?.close();
    await one?.close();
  });

  test('a message sent on one node reaches members on the other live, once each, in seq order', async () => {
    const api = client(one.url);
    const [a, b, c] = (await registerUsers(api, 3)) as [TestUser, TestUser, TestUser];
    const group = await createGroup(api, a, [b, c]);
    const sender = await connectAs(one.url, a.accessToken);
    const onTwo = await connectAs(two.url, b.accessToken);
    const onOne = await connectAs(one.url, c.accessToken);
    const acks = await Promise.all(
      Array.from({ length: 30 }, (_, n) =>
        sender.command('message:send', { chatId: group.id, clientMsgId: randomUUID(), body: `m${n}` }, WAIT),
      ),
    );
    expect(acks.filter((ack) => !ack.ok)).toEqual([]);
    const seqs = acks.map((ack) => ack.data.message.seq as number).sort((x, y) => x - y);
    for (const device of [onTwo, onOne]) {
      const got = await device.waitForCount(isNew(group.id), 30, WAIT);
      expect(got.map((f) => f.data.message.seq)).toEqual(seqs);
    }
    await Promise.all([sender.close(), onTwo.close(), onOne.close()]);
  });

  test('a device away from node two resumes on node one from the position node two gave it', async () => {
    const api = client(two.url);
    const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
    const group = await createGroup(api, a, [b]);
    const sender = await connectAs(one.url, a.accessToken);
    const first = await connectAs(two.url, b.accessToken);
    const before = await sender.command(
      'message:send',
      { chatId: group.id, clientMsgId: randomUUID(), body: 'before' },
      WAIT,
    );
    expect(before.ok).toBe(true);
    await first.waitFor(isNew(group.id), WAIT);
    const position = lastPosition(first, first.position);
    await first.close();

    const away: string[] = [];
    for (let n = 0; n < 20; n++) {
      const ack = await sender.command(
        'message:send',
        { chatId: group.id, clientMsgId: randomUUID(), body: `away ${n}` },
        WAIT,
      );
      expect(ack.ok).toBe(true);
      away.push(ack.data.message.id);
    }
    // The relay appends an event to every member's inbox at once, then wakes the sockets:
    // once the sender's own device has them all, b's inbox has them too.
    await sender.waitForCount((f) => isNew(group.id)(f) && away.includes(f.data.message.id), 20, WAIT);
    const back = await connectAs(one.url, b.accessToken);
    const resume = await back.command('sync:resume', { position }, WAIT);
    expect(resume.data).toMatchObject({ resumed: true });
    const got = back.events.filter(isNew(group.id)).map((f) => f.data.message.id);
    expect(got).toEqual(away);
    await Promise.all([sender.close(), back.close()]);
  });

  test('a node killed with SIGKILL: a live node announces its users offline', async () => {
    const api = client(one.url);
    const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
    await createGroup(api, a, [b]);
    const watcher = await connectAs(one.url, a.accessToken);
    const doomed = await startServerProcess(one);
    try {
      const onDoomed = await connectAs(doomed.url, b.accessToken);
      await watcher.waitFor((f) => f.type === 'presence:online' && f.data.userId === b.id, WAIT);
      doomed.child.kill('SIGKILL'); // no goodbye: its sockets and presence are left behind
      await onDoomed.closed;
      const offline = await watcher.waitFor(
        (f) => f.type === 'presence:offline' && f.data.userId === b.id,
        WAIT,
      );
      expect(offline.data.lastSeenAt).toEqual(expect.any(String));
    } finally {
      doomed.child.kill('SIGKILL');
      rmSync(doomed.dataDir, { recursive: true, force: true });
      await watcher.close();
    }
  });
});

const backendDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Another node as its own process (`node --import tsx src/main.ts`), on `peer`'s database
 * and Redis keys, with a presence heartbeat of 1 s so its death shows quickly.
 */
async function startServerProcess(peer: TestServer) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'parley-node-'));
  const database = peer.config.database;
  if (database.kind !== 'postgres') throw new Error('needs PostgreSQL');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: backendDir,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      REDIS_URL: peer.config.redisUrl,
      REDIS_KEY_PREFIX: peer.config.redisKeyPrefix,
      REDIS_PRESENCE_TTL_MS: '1000',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start:\n${output}`)), WAIT);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /running at http:\/\/localhost:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${match[1]}`);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited (${code}) during start-up:\n${output}`));
    });
  });
  return { url, child, dataDir };
}
