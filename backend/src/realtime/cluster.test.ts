/**
 * Three server processes on one PostgreSQL database and one Redis, behind a real nginx
 * (round robin, no sticky sessions), with failures in the middle of a send flood: a node
 * killed with SIGKILL, Redis restarted empty, every PostgreSQL connection cut. Clients
 * talk only to nginx and behave as specs/protocol.md asks: resume from the last inbox
 * position, re-sync over REST after `sync:resync`, fill seq gaps over REST, dedupe by id,
 * and send again with the same clientMsgId what was not acked.
 *
 * After each flood: every acked message is stored exactly once, and every member device
 * shows every message of the chat exactly once, in seq order; a device that was never told
 * to re-sync has had every acked message over its sockets (REST only fills gaps).
 *
 * Runs when the suite has PostgreSQL and REDIS_URL (as two-nodes.test.ts) and nginx is
 * installed (.ci/run installs it; under CI a missing nginx fails).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createGroup, registerUsers, type TestUser } from '../../test/support/factories.js';
import { testDbMode } from '../../test/support/database.js';
import { startPgProxy, type PgProxy } from '../../test/support/pg-proxy.js';
import { waitUntil } from '../../test/support/wait.js';
import {
  CLUSTER_WAIT_MS,
  Cluster,
  Device,
  deviceProblems,
  findNginx,
  historyProblems,
  openRawSocket,
  readHistory,
  servedBy,
  startOwnRedis,
  type OwnRedis,
  type SendOutcome,
} from '../../test/support/cluster.js';

const shared = Boolean(process.env.REDIS_URL) && testDbMode() === 'postgres';
const nginx = findNginx();
const onCluster = shared && nginx ? describe : describe.skip;

if (shared && !nginx) {
  if (process.env.CI) {
    test('nginx is installed (the cluster tests need it)', () => {
      throw new Error('nginx is not installed: .ci/run installs it with apt-get');
    });
  } else {
    console.warn('cluster.test.ts skipped: nginx is not installed (apt-get install nginx)');
  }
}

/** A scenario's own safety net (jest's), well past the sum of its steps' limits. */
const SCENARIO_MS = 8 * 60_000;
const SETUP_MS = 4 * 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Group {
  id: string;
  senders: Device[];
  bystanders: Device[];
  devices: Device[];
}

/** Every device a test made, closed after its scenario (also when it failed part-way). */
const devices = new Set<Device>();
async function closeDevices() {
  await Promise.all([...devices].map((d) => d.close()));
  devices.clear();
}

/**
 * `groups` groups of `size` users each (senders first, then bystanders, then receivers),
 * every user with one device connected through nginx. The bystanders' sockets open first,
 * one after the other with nothing in between: round robin puts consecutive requests on
 * consecutive nodes, so every node holds one of the first three.
 */
async function setUpGroups(
  cluster: Cluster,
  shape: { groups: number; size: number; senders: number; bystanders: number },
  deadline: number,
): Promise<Group[]> {
  const users = await registerUsers(cluster.api, shape.groups * shape.size);
  const groups: Group[] = [];
  for (let g = 0; g < shape.groups; g++) {
    const members = users.slice(g * shape.size, (g + 1) * shape.size) as TestUser[];
    const chat = await createGroup(cluster.api, members[0]!, members.slice(1));
    const own = members.map((user) => new Device(user, cluster.url, [chat.id], deadline));
    for (const device of own) devices.add(device);
    groups.push({
      id: chat.id,
      devices: own,
      senders: own.slice(0, shape.senders),
      bystanders: own.slice(shape.senders, shape.senders + shape.bystanders),
    });
  }
  const bystanders = groups.flatMap((g) => g.bystanders);
  for (const device of bystanders) await device.ready();
  for (const device of groups.flatMap((g) => g.devices))
    if (!bystanders.includes(device)) await device.ready();
  await Promise.all(groups.flatMap((g) => g.devices.map((d) => d.loadChats())));
  return groups;
}

/**
 * Every sender sends `perSender` messages to its group, a few at a time with a short pause
 * between them (so a failure set off part-way lands in the middle of the flood), each until
 * it is acked ok.
 */
function flood(groups: Group[], perSender: number) {
  const outcomes: SendOutcome[] = [];
  const total = groups.reduce((n, g) => n + g.senders.length * perSender, 0);
  const done = Promise.all(
    groups.flatMap((group) =>
      group.senders.map(async (sender) => {
        const queue = Array.from({ length: perSender }, (_, n) => n);
        const lane = async () => {
          for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
            outcomes.push(await sender.send(group.id, randomUUID(), `${sender.name} #${n}`));
            await sleep(15);
          }
        };
        await Promise.all([lane(), lane(), lane()]);
      }),
    ),
  ).then(() => outcomes);
  done.catch(() => undefined); // a test that fails before awaiting it reports its own error
  return { total, done, acked: () => outcomes.length };
}

/** Waits until `fraction` of the flood is acked; says how many were. */
async function untilAcked(run: ReturnType<typeof flood>, fraction: number): Promise<number> {
  await waitUntil(
    `${fraction * 100}% of the flood acked`,
    () => run.acked() >= run.total * fraction,
    CLUSTER_WAIT_MS,
  );
  return run.acked();
}

/**
 * The checks every scenario ends with, once the failure is over: one more message per group,
 * which every device gets live (re-synced or not, unless the re-sync came after it was
 * sent: then it is in what the device re-synced to); the stored history of each group against
 * the acks; every member device against the stored history; and no device met an error the
 * protocol does not allow (a 500, INTERNAL_ERROR, one seq with two messages).
 */
async function expectEverythingDelivered(cluster: Cluster, groups: Group[], outcomes: SendOutcome[]) {
  for (const group of groups) {
    const sentAt = Date.now();
    const last = await group.senders[0]!.send(group.id, randomUUID(), 'all is well again');
    const acks = [...outcomes.filter((o) => o.chatId === group.id), last];
    const history = await readHistory(group.devices[0]!, group.id);
    expect(historyProblems(history, acks)).toEqual([]);
    const problems = (
      await Promise.all(
        group.devices.map((device) => deviceProblems(device, group.id, history, acks, [last.id], sentAt)),
      )
    ).flat();
    expect(problems).toEqual([]);
  }
  const errors = groups.flatMap((g) => g.devices.flatMap((d) => d.errors.map((e) => `${d.name}: ${e}`)));
  if (errors.length)
    console.error(
      `node error logs: ${JSON.stringify(cluster.errorCounts())}\n${cluster.errorLogs().slice(0, 5).join('\n')}`,
    );
  expect(errors).toEqual([]);
}

/** One line per scenario: what the failure did to the clients (evidence, not an assertion). */
function summary(
  label: string,
  cluster: Cluster,
  groups: Group[],
  outcomes: SendOutcome[],
  extra: object = {},
) {
  const devices = groups.flatMap((g) => g.devices);
  const sum = (key: keyof Device['stats']) => devices.reduce((n, d) => n + d.stats[key], 0);
  const copies = devices.reduce((n, d) => n + [...d.viaSocket.values()].filter((c) => c > 1).length, 0);
  console.log(
    `${label}: ${JSON.stringify({
      acked: outcomes.length,
      duplicateAcks: outcomes.filter((o) => o.duplicate).length,
      retriedSends: outcomes.filter((o) => o.attempts > 1).length,
      serviceUnavailable: sum('unavailable'),
      rateLimited: sum('rateLimited'),
      socketDrops: sum('drops'),
      resyncs: sum('resyncs'),
      gapFills: sum('gapFills'),
      messagesReceivedTwice: copies,
      ...extra,
      nodeErrorLogs: cluster.errorCounts(),
    })}`,
  );
}

onCluster("three nodes behind nginx, on the suite's Redis, PostgreSQL through a proxy", () => {
  let proxy: PgProxy;
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start({
      nginx: nginx!,
      redisUrl: process.env.REDIS_URL!,
      dropRedisKeys: true,
      databaseUrl: async (url) => {
        proxy = await startPgProxy(url);
        return proxy.url;
      },
      // A send waiting through a long database outage is refused (retryably) after 5 s.
      env: { SEND_QUEUE_TIMEOUT_MS: '5000' },
    });
  }, SETUP_MS);
  afterEach(closeDevices, SETUP_MS);
  afterAll(async () => {
    await cluster?.close();
    await proxy?.close();
  }, SETUP_MS);

  test(
    '1. a node killed with SIGKILL mid-flood: nothing acked is lost or doubled, its users are announced offline, and it serves again after a restart',
    async () => {
      const deadline = Date.now() + SCENARIO_MS - 60_000;
      const groups = await setUpGroups(cluster, { groups: 2, size: 10, senders: 3, bystanders: 2 }, deadline);
      const bystanders = groups.flatMap((g) => g.bystanders);
      for (const device of bystanders) device.stayAway = true;

      const run = flood(groups, 40);
      const ackedAtKill = await untilAcked(run, 1 / 3);
      await cluster.kill(1);
      const outcomes = await run.done;
      expect(ackedAtKill).toBeLessThan(run.total); // the kill came mid-flood

      // Round robin put one of the first three sockets (bystanders) on the killed node.
      const gone = bystanders.filter((d) => d.stats.drops > 0);
      expect(gone.length).toBeGreaterThan(0);
      // Their group mates whose sockets never dropped (on live nodes) hear they went offline.
      for (const group of groups) {
        const watchers = group.devices.filter((d) => d.stats.drops === 0);
        for (const away of group.bystanders.filter((d) => gone.includes(d))) {
          expect(watchers.length).toBeGreaterThan(0);
          for (const watcher of watchers) {
            await waitUntil(
              `${watcher.name} to hear ${away.name} went offline`,
              () =>
                watcher.frames.some((f) => f.type === 'presence:offline' && f.data.userId === away.user.id),
              CLUSTER_WAIT_MS,
              50,
            );
          }
        }
      }

      // The killed node comes back and nginx sends it requests and sockets again.
      await cluster.restart(1);
      expect((await fetch(`${cluster.node(1).url}/health/ready`)).status).toBe(200);
      let restOnIt = false;
      await waitUntil(
        'nginx to send a request to the restarted node',
        async () => {
          const res = await groups[0]!.devices[0]!.api.get('/api/chats', {
            token: groups[0]!.devices[0]!.user.accessToken,
          });
          expect(res.status).toBe(200);
          restOnIt = servedBy(res.headers) === cluster.address(1);
          return restOnIt;
        },
        CLUSTER_WAIT_MS,
        100,
      );
      const watcher = groups[0]!.devices.at(-1)!;
      let raw: Awaited<ReturnType<typeof openRawSocket>> | undefined;
      for (let i = 0; i < 12 && !raw; i++) {
        const opened = await openRawSocket(cluster.url);
        if (opened.node === cluster.address(1)) raw = opened;
        else opened.socket.close();
      }
      expect(raw?.node).toBe(cluster.address(1));
      const received: any[] = [];
      raw!.socket.on('message', (data: Buffer) => received.push(JSON.parse(data.toString())));
      raw!.socket.send(JSON.stringify({ type: 'auth', id: 'a', data: { token: watcher.user.accessToken } }));
      await waitUntil(
        'auth on the restarted node',
        () => received.some((f) => f.type === 'ack' && f.ok),
        CLUSTER_WAIT_MS,
      );

      // The bystanders come back (on any node, the restarted one too) and resume where they were.
      for (const device of bystanders) device.stayAway = false;
      await Promise.all(bystanders.map((d) => d.ready()));
      const sender = groups[0]!.senders[0]!;
      const after = await sender.send(groups[0]!.id, randomUUID(), 'after the restart');
      outcomes.push(after);
      await waitUntil(
        'the socket on the restarted node to get a message live',
        () => received.some((f) => f.type === 'message:new' && f.data.message.id === after.id),
        CLUSTER_WAIT_MS,
      );
      raw!.socket.close();

      await expectEverythingDelivered(cluster, groups, outcomes);
      summary('SIGKILL', cluster, groups, outcomes, { ackedAtKill, bystandersOnKilledNode: gone.length });
    },
    SCENARIO_MS,
  );

  test(
    '3. every PostgreSQL connection cut twice mid-flood: sends commit or are refused retryably, nothing acked is lost or doubled',
    async () => {
      const deadline = Date.now() + SCENARIO_MS - 60_000;
      const groups = await setUpGroups(cluster, { groups: 2, size: 10, senders: 3, bystanders: 0 }, deadline);
      const run = flood(groups, 40);
      // A short cut (the pool reconnects, queued sends commit) and a long one (past the
      // send queue's 5 s: sends are refused with SERVICE_UNAVAILABLE and sent again).
      const ackedAtCuts: number[] = [];
      for (const [fraction, holdMs] of [
        [0.25, 1_000],
        [0.6, 6_000],
      ] as const) {
        ackedAtCuts.push(await untilAcked(run, fraction));
        proxy.cutAll();
        // During the long cut two receivers of each group lose their sockets and keep
        // trying to come back (auth and resume need the database).
        if (holdMs > 5_000)
          await Promise.all(groups.flatMap((g) => g.devices.slice(-2).map((d) => d.dropSocket())));
        await sleep(holdMs);
        proxy.restore();
      }
      const outcomes = await run.done;
      for (const acked of ackedAtCuts) expect(acked).toBeLessThan(run.total); // cuts came mid-flood
      await expectEverythingDelivered(cluster, groups, outcomes);
      summary('PostgreSQL cuts', cluster, groups, outcomes, { ackedAtCuts });
    },
    SCENARIO_MS,
  );
});

onCluster("three nodes behind nginx, on a Redis of the test's own", () => {
  let redis: OwnRedis;
  let cluster: Cluster;
  beforeAll(async () => {
    redis = await startOwnRedis();
    cluster = await Cluster.start({ nginx: nginx!, redisUrl: redis.url });
  }, SETUP_MS);
  afterEach(closeDevices, SETUP_MS);
  afterAll(async () => {
    await redis?.start().catch(() => undefined); // running, so the nodes can leave cleanly
    await cluster?.close();
    await redis?.close();
  }, SETUP_MS);

  test(
    '2. Redis restarted empty mid-flood: sends commit or are refused retryably, and every acked message reaches every member (live, or by re-sync over REST)',
    async () => {
      const deadline = Date.now() + SCENARIO_MS - 60_000;
      const groups = await setUpGroups(cluster, { groups: 2, size: 10, senders: 3, bystanders: 0 }, deadline);
      const run = flood(groups, 30);
      const ackedAtKill = await untilAcked(run, 0.25);
      await redis.kill();
      // Two receivers of each group lose their sockets meanwhile and keep trying to come back.
      await Promise.all(groups.flatMap((g) => g.devices.slice(-2).map((d) => d.dropSocket())));
      // Away while a good part of the flood goes on (sends still commit), at most 5 s.
      const until = Date.now() + 5_000;
      await waitUntil(
        'the flood to go on without Redis',
        () => run.acked() >= run.total * 0.55 || Date.now() > until,
        CLUSTER_WAIT_MS,
      );
      const ackedAtRestart = run.acked();
      await redis.start();
      const outcomes = await run.done;
      expect(ackedAtKill).toBeLessThan(run.total);
      expect(ackedAtRestart).toBeLessThan(run.total);
      await expectEverythingDelivered(cluster, groups, outcomes);
      summary('Redis restart', cluster, groups, outcomes, { ackedAtKill, ackedAtRestart });
    },
    SCENARIO_MS,
  );
});
