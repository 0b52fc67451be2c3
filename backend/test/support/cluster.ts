/**
 * A Parley cluster for tests: N server processes (`node --import tsx src/main.ts`, each on
 * its own port) on one fresh PostgreSQL database and one Redis, behind a real nginx (round
 * robin, no sticky sessions), and the device the protocol asks clients to be
 * (specs/protocol.md): it resumes from the last inbox position it processed, re-syncs over
 * REST after `sync:resync`, fills gaps in a chat's seqs over REST, dedupes by message id
 * and applies by seq, and retries unanswered sends with the same clientMsgId.
 *
 * Clients talk only to nginx. Every wait is bounded; its limit is a safety net for a busy
 * machine, never an expectation of speed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { createPostgresDatabase, postgresServerUrl, type TestDatabase } from './database.js';
import type { TestUser } from './factories.js';
import { client, type Client } from './http.js';
import { dropRedisKeys } from './server.js';
import { waitUntil } from './wait.js';
import { openWs, type Frame, type WsClient } from './ws.js';

/** How long one step (a start-up, an ack, a catch-up) may take before the test gives up. */
export const CLUSTER_WAIT_MS = 90_000;

const backendDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A free port for a process the test starts (and may restart on the same port), picked at
 * random below the kernel's ephemeral range (32768+): a port-0 listener elsewhere in the run
 * (s3rver, a test server) can then never be handed the port of a node that was just killed.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
    if (attempt > 200) throw new Error('no free port found in 20000–31999');
  }
}

/** The nginx binary, if installed (Debian puts it in /usr/sbin, not always on PATH). */
export function findNginx(): string | undefined {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    const probe = spawnSync(candidate, ['-v'], { stdio: 'ignore' });
    if (!probe.error && probe.status === 0) return candidate;
  }
  return undefined;
}

/** Resolves with the exit code once `child` has exited (at once if it already has). */
function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** SIGTERM, then SIGKILL if it has not gone within `graceMs`. */
async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  const exited = exitOf(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Children still running, killed if the test process ends without its afterAll. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

// ---------------------------------------------------------------------------------------
// Server processes

export interface NodeProcess {
  port: number;
  url: string;
  child: ChildProcess;
  /** What the process printed (the last 200 kB). */
  output(): string;
}

async function spawnNode(port: number, env: Record<string, string>, dataDir: string): Promise<NodeProcess> {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: backendDir,
      env: { PATH: process.env.PATH, ...env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let output = '';
  const record = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 400_000) output = output.slice(-200_000);
  };
  child.stdout!.on('data', record);
  child.stderr!.on('data', record);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`node :${port} did not start:\n${output}`)),
      CLUSTER_WAIT_MS,
    );
    const check = () => {
      if (output.includes('Parley is running at')) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node :${port} exited (${code}) during start-up:\n${output}`));
    });
  });
  return { port, url: `http://127.0.0.1:${port}`, child, output: () => output.slice(-200_000) };
}

// ---------------------------------------------------------------------------------------
// nginx

export interface Nginx {
  url: string;
  stop(): Promise<void>;
}

/**
 * nginx as this user, everything under its own prefix directory: round robin over
 * `ports` (no sticky sessions), WebSocket upgrades passed on and left open, a request
 * that cannot reach a node (refused, reset before an answer) tried on the next one.
 * Each answer names the node that served it in `X-Parley-Upstream` (the last address of
 * `$upstream_addr`; the ones before it failed).
 */
export async function startNginx(binary: string, ports: number[]): Promise<Nginx> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'parley-nginx-'));
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, sub));
  const port = await freePort();
  const conf = `
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream parley {
${ports.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n')}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://parley;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_connect_timeout 5s;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_next_upstream error timeout;
      add_header X-Parley-Upstream $upstream_addr always;
    }
  }
}
`;
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = track(
    spawn(
      binary,
      [
        '-e',
        `${dir}/error.log`,
        '-p',
        dir,
        '-c',
        `${dir}/nginx.conf`,
        '-g',
        `daemon off; pid ${dir}/nginx.pid;`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    ),
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = exitOf(child);
  let gone = false;
  void exited.then(() => (gone = true));
  await waitUntil(
    'nginx to listen',
    async () => {
      if (gone) throw new Error(`nginx exited: ${stderr}`);
      return new Promise<boolean>((resolve) => {
        const probe = net.connect(port, '127.0.0.1');
        probe.once('connect', () => (probe.destroy(), resolve(true)));
        probe.once('error', () => resolve(false));
      });
    },
    CLUSTER_WAIT_MS,
    50,
  );
  return {
    url,
    async stop() {
      await stopChild(child, 5_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The node that served a reply through nginx (`127.0.0.1:port`). */
export function servedBy(headers: Headers | Record<string, unknown>): string | undefined {
  const value =
    headers instanceof Headers ? headers.get('x-parley-upstream') : (headers['x-parley-upstream'] as string);
  return value?.split(',').pop()?.trim();
}

/**
 * Opens a WebSocket through nginx and says which node took it (from the upgrade answer),
 * for checks that need a socket on one particular node.
 */
export function openRawSocket(baseUrl: string): Promise<{ socket: WebSocket; node: string | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws`);
    let node: string | undefined;
    socket.once('upgrade', (res) => (node = servedBy(res.headers)));
    socket.once('open', () => resolve({ socket, node }));
    socket.once('error', reject);
  });
}

// ---------------------------------------------------------------------------------------
// A Redis of the test's own

export interface OwnRedis {
  url: string;
  /** SIGKILL: with `--save '' --appendonly no` everything it held is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty). */
  start(): Promise<void>;
  /** Kills it and removes its directory. */
  close(): Promise<void>;
}

/** A redis-server on a free port of its own, keeping nothing on disk. */
export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'parley-redis-'));
  let child: ChildProcess | undefined;
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running) return;
    const exited = exitOf(running);
    running.kill('SIGKILL');
    await exited;
  };
  const start = async () => {
    if (child) throw new Error('redis-server is running');
    child = track(
      spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: 'ignore' },
      ),
    );
    const probe = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => undefined);
    try {
      await waitUntil(
        'redis-server to answer',
        async () => {
          try {
            if (probe.status !== 'ready') await probe.connect();
            return (await probe.ping()) === 'PONG';
          } catch {
            probe.disconnect();
            return false;
          }
        },
        CLUSTER_WAIT_MS,
        50,
      );
    } finally {
      probe.disconnect();
    }
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    async close() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------
// The cluster

export interface ClusterOptions {
  nginx: string;
  nodes?: number;
  redisUrl: string;
  /** Delete the prefix's keys on close (a shared Redis; the test's own is simply killed). */
  dropRedisKeys?: boolean;
  /** How the nodes reach the fresh database (e.g. through a proxy that cuts connections). */
  databaseUrl?: (url: string) => Promise<string>;
  env?: Record<string, string>;
}

export class Cluster {
  readonly url: string;
  readonly api: Client;
  private readonly nodes: (NodeProcess | undefined)[];
  private readonly dataDirs: string[];

  private constructor(
    private readonly opts: ClusterOptions,
    readonly ports: number[],
    private readonly env: Record<string, string>,
    private readonly database: TestDatabase,
    private readonly nginx: Nginx,
  ) {
    this.url = nginx.url;
    this.api = client(nginx.url);
    this.nodes = ports.map(() => undefined);
    this.dataDirs = ports.map(() => mkdtempSync(path.join(os.tmpdir(), 'parley-node-')));
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const serverUrl = postgresServerUrl();
    if (!serverUrl) throw new Error('the cluster needs PostgreSQL (DATABASE_URL or TEST_DATABASE_URL)');
    const database = await createPostgresDatabase(serverUrl);
    const target = database.target;
    if (target.kind !== 'postgres') throw new Error('needs PostgreSQL');
    const ports: number[] = [];
    while (ports.length < (opts.nodes ?? 3)) {
      const port = await freePort();
      if (!ports.includes(port)) ports.push(port);
    }
    const env: Record<string, string> = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: opts.databaseUrl ? await opts.databaseUrl(target.url) : target.url,
      REDIS_URL: opts.redisUrl,
      REDIS_KEY_PREFIX: `parley-cluster-test-${randomBytes(6).toString('hex')}`,
      DIRECT_CHAT_POLICY: 'open',
      ACCESS_TOKEN_TTL_SECONDS: '3600',
      SEND_RATE_PER_SECOND: '1000',
      SEND_BURST: '10000',
      // Every test user registers from 127.0.0.1.
      REGISTER_ADDRESS_MAX: '1000000',
      PASSWORD_HASH_QUEUE_MAX: '100000',
      PASSWORD_HASH_WAIT_MS: '120000',
      WS_AUTH_TIMEOUT_MS: '60000',
      // A dead node's users are announced within about 4 s (heartbeat every TTL/3).
      REDIS_PRESENCE_TTL_MS: '3000',
      // A dead node's committed-but-unpublished events are taken over within a few seconds.
      OUTBOX_SWEEP_MS: '500',
      OUTBOX_STALE_MS: '3000',
      ...opts.env,
    };
    let nginx: Nginx | undefined;
    let cluster: Cluster | undefined;
    try {
      nginx = await startNginx(opts.nginx, ports);
      cluster = new Cluster(opts, ports, env, database, nginx);
      await Promise.all(ports.map((_, i) => cluster!.restart(i)));
      return cluster;
    } catch (err) {
      if (cluster) await cluster.close();
      else {
        await nginx?.stop();
        await database.drop();
      }
      throw err;
    }
  }

  get redisKeyPrefix(): string {
    return this.env.REDIS_KEY_PREFIX!;
  }

  node(i: number): NodeProcess {
    const node = this.nodes[i];
    if (!node) throw new Error(`node ${i} is not running`);
    return node;
  }

  /** `127.0.0.1:port` of node i, as nginx names it. */
  address(i: number): string {
    return `127.0.0.1:${this.ports[i]}`;
  }

  /** SIGKILL: no goodbye to its sockets, Redis or the database. */
  async kill(i: number): Promise<void> {
    const node = this.node(i);
    this.nodes[i] = undefined;
    const exited = exitOf(node.child);
    node.child.kill('SIGKILL');
    await exited;
  }

  /** Starts node i (again) on its port. */
  async restart(i: number): Promise<NodeProcess> {
    if (this.nodes[i]) throw new Error(`node ${i} is running`);
    const node = await spawnNode(this.ports[i]!, this.env, this.dataDirs[i]!);
    this.nodes[i] = node;
    return node;
  }

  /** Error lines the running nodes logged (pino level 50+). */
  private errorLines(): { node: number; line: string }[] {
    return this.nodes.flatMap((node, i) =>
      (node?.output() ?? '')
        .split('\n')
        .filter((line) => /"level":(50|60)/.test(line))
        .map((line) => ({ node: i, line })),
    );
  }

  /** The nodes' error lines, shortened, for a failing test's message. */
  errorLogs(): string[] {
    return this.errorLines().map(({ node, line }) => `node ${node}: ${line.slice(0, 600)}`);
  }

  /** The nodes' error lines counted by their message (`msg`, and the error's own message). */
  errorCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const { line } of this.errorLines()) {
      let key = line.slice(0, 120);
      try {
        const entry = JSON.parse(line) as { msg?: string; err?: { message?: string } };
        key = `${entry.msg ?? ''}${entry.err?.message ? `: ${entry.err.message.slice(0, 100)}` : ''}`;
      } catch {
        // not JSON: the line's start
      }
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node, i) => {
        this.nodes[i] = undefined;
        if (node) await stopChild(node.child, 15_000);
      }),
    );
    await this.nginx.stop();
    for (const dir of this.dataDirs) rmSync(dir, { recursive: true, force: true });
    await this.database.drop();
    if (this.opts.dropRedisKeys) await dropRedisKeys(this.opts.redisUrl, this.redisKeyPrefix);
  }
}

// ---------------------------------------------------------------------------------------
// A device, as the protocol asks clients to be

interface ChatState {
  /** seq → message id: what the device shows, deduped by id, in seq order. */
  bySeq: Map<number, string>;
  /** The highest seq up to which the device has every message. */
  contiguous: number;
  filling?: Promise<void>;
  fillAgain: boolean;
}

export interface SendOutcome {
  chatId: string;
  clientMsgId: string;
  senderId: string;
  id: string;
  seq: number;
  duplicate: boolean;
  /** Times the send was put on a socket (1 = answered the first time). */
  attempts: number;
}

const RETRYABLE = new Set(['SERVICE_UNAVAILABLE', 'RATE_LIMITED']);

export class Device {
  readonly api: Client;
  /** Set while the device should stay offline after its socket drops. */
  stayAway = false;
  /** The last inbox position processed (what `sync:resume` sends). */
  position: string | undefined;
  /** Every event frame, across all its sockets, in arrival order. */
  readonly frames: Frame[] = [];
  /** What went wrong that the protocol does not allow (500s, INTERNAL_ERROR, conflicts). */
  readonly errors: string[] = [];
  /** Message ids that arrived over a socket (live or replayed), and how many copies. */
  readonly viaSocket = new Map<string, number>();
  /** When the last `sync:resync` arrived (Date.now()), 0 if none did. */
  lastResyncAt = 0;
  readonly stats = {
    sockets: 0,
    drops: 0,
    resyncs: 0,
    gapFills: 0,
    resends: 0,
    unavailable: 0,
    rateLimited: 0,
  };

  private live: WsClient | undefined;
  /** The socket between its auth and its resume ack: its frames must not move `position`. */
  private resuming: WsClient | undefined;
  private connecting: Promise<WsClient> | undefined;
  private closing = false;
  private readonly chats = new Map<string, ChatState>();
  private readonly seqOf = new Map<string, number>();
  private resyncing: Promise<void> | undefined;
  private resyncAgain = false;
  /** Commands waiting for their ack, by id. */
  private readonly acks = new Map<string, (ack: Frame) => void>();

  constructor(
    readonly user: TestUser,
    private readonly baseUrl: string,
    chatIds: string[],
    readonly deadline: number,
  ) {
    this.api = client(baseUrl);
    for (const chatId of chatIds)
      this.chats.set(chatId, { bySeq: new Map(), contiguous: 0, fillAgain: false });
  }

  get name(): string {
    return this.user.username;
  }

  get online(): boolean {
    return this.live?.socket.readyState === WebSocket.OPEN;
  }

  /** What the chats already hold, over REST (a fresh client's first sync, after connecting). */
  async loadChats(): Promise<void> {
    await Promise.all([...this.chats.keys()].map((chatId) => this.fill(chatId)));
  }

  /** The socket, authenticated and resumed; connects (through nginx) until it is. */
  ready(): Promise<WsClient> {
    if (this.live && this.online) return Promise.resolve(this.live);
    this.connecting ??= this.connectLoop().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** Closes the socket as a network blip would; the device connects and resumes again. */
  async dropSocket(): Promise<void> {
    await this.live?.close();
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.connecting?.catch(() => undefined);
    await this.live?.close();
    await Promise.all([...this.chats.values()].map((c) => c.filling));
    await this.resyncing;
  }

  /** The messages the device shows in a chat, in seq order, up to the first gap. */
  shown(chatId: string): string[] {
    const chat = this.chats.get(chatId)!;
    return Array.from({ length: chat.contiguous }, (_, i) => chat.bySeq.get(i + 1)!);
  }

  contiguous(chatId: string): number {
    return this.chats.get(chatId)!.contiguous;
  }

  /** Sends until acked ok: again on the same or a new socket, with the same clientMsgId. */
  async send(chatId: string, clientMsgId: string, body: string): Promise<SendOutcome> {
    for (let attempts = 1; ; attempts++) {
      if (this.closing) throw new Error(`${this.name}: closed`);
      if (Date.now() > this.deadline) throw new Error(`${this.name}: send ${clientMsgId} never acked ok`);
      const ws = await this.ready();
      const ack = await this.command(ws, 'message:send', { chatId, clientMsgId, body });
      if (!ack) {
        this.stats.resends += 1; // the socket dropped (or no answer): ask again
        continue;
      }
      if (ack.ok) {
        const { message, duplicate } = ack.data;
        return {
          chatId,
          clientMsgId,
          senderId: this.user.id,
          id: message.id,
          seq: message.seq,
          duplicate,
          attempts,
        };
      }
      const code = ack.error?.code ?? '?';
      if (RETRYABLE.has(code)) {
        this.stats[code === 'RATE_LIMITED' ? 'rateLimited' : 'unavailable'] += 1;
        const after = Number((ack.error?.details as { retryAfterMs?: number } | undefined)?.retryAfterMs);
        await sleep(Math.min(Math.max(Number.isFinite(after) ? after : 200, 50), 2_000));
        continue;
      }
      this.errors.push(`message:send ${clientMsgId}: ${code} ${ack.error?.message ?? ''}`);
      if (code !== 'INTERNAL_ERROR')
        throw new Error(`${this.name}: send refused: ${JSON.stringify(ack.error)}`);
      await sleep(200);
    }
  }

  private async connectLoop(): Promise<WsClient> {
    for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
      if (this.closing) throw new Error(`${this.name}: closing`);
      if (Date.now() > this.deadline) throw new Error(`${this.name}: could not connect before the deadline`);
      const ws = await this.connectOnce().catch(() => undefined);
      if (ws) return ws;
      await sleep(delay);
    }
  }

  /** One try: open, auth, resume from `position`. Undefined if the socket dropped meanwhile. */
  private async connectOnce(): Promise<WsClient | undefined> {
    const ws = await openWs(this.baseUrl);
    this.stats.sockets += 1;
    this.resuming = this.position === undefined ? undefined : ws;
    ws.socket.on('message', (raw: Buffer) => this.onFrame(ws, raw));
    const answered = async (type: string, data: unknown) => {
      const ack = await this.command(ws, type, data);
      if (ack && !ack.ok) {
        if (!RETRYABLE.has(ack.error?.code ?? '')) this.errors.push(`${type}: ${JSON.stringify(ack.error)}`);
        return undefined;
      }
      return ack;
    };
    const giveUp = async () => {
      await ws.close();
      return undefined;
    };
    const auth = await answered('auth', { token: this.user.accessToken });
    if (!auth) return giveUp();
    if (this.position === undefined) {
      this.position = auth.data.position;
    } else {
      const resume = await answered('sync:resume', { position: this.position });
      if (!resume) return giveUp();
      // Everything up to here has been replayed (or a sync:resync came): keep this one.
      this.position = resume.data.position;
    }
    this.resuming = undefined;
    if (this.closing) return giveUp();
    this.live = ws;
    void ws.closed.then(() => this.onClosed(ws));
    if (!this.online) return undefined;
    return ws;
  }

  /**
   * A command and its ack; undefined if the socket closes first or no ack comes in time.
   * (Not `WsClient.command`: its timer would outlive a socket that dropped.)
   */
  private command(ws: WsClient, type: string, data: unknown): Promise<Frame | undefined> {
    const id = randomUUID();
    return new Promise((resolve) => {
      const finish = (ack: Frame | undefined) => {
        clearTimeout(timer);
        this.acks.delete(id);
        resolve(ack);
      };
      const timer = setTimeout(() => finish(undefined), CLUSTER_WAIT_MS);
      this.acks.set(id, finish);
      void ws.closed.then(() => finish(undefined));
      ws.sendRaw(JSON.stringify({ type, id, data }));
    });
  }

  private onClosed(ws: WsClient): void {
    if (this.live !== ws) return;
    this.live = undefined;
    if (this.closing) return;
    this.stats.drops += 1;
    if (!this.stayAway) void this.ready().catch((err) => this.errors.push(`reconnect: ${String(err)}`));
  }

  private onFrame(ws: WsClient, raw: Buffer): void {
    const frame = JSON.parse(raw.toString()) as Frame;
    if (frame.type === 'ack') {
      if (frame.id) this.acks.get(frame.id)?.(frame);
      return;
    }
    if (frame.type === 'error') {
      this.errors.push(`error frame: ${JSON.stringify(frame.error)}`);
      return;
    }
    this.frames.push(frame);
    if (frame.position && ws !== this.resuming) this.position = frame.position;
    if (frame.type === 'message:new') this.apply(frame.data.message, 'socket');
    else if (frame.type === 'sync:resync') {
      this.stats.resyncs += 1;
      this.lastResyncAt = Date.now();
      void this.resync();
    }
  }

  private apply(message: { id: string; chatId: string; seq: number }, source: 'socket' | 'rest'): void {
    const chat = this.chats.get(message.chatId);
    if (!chat) return;
    const { id, seq } = message;
    const knownSeq = this.seqOf.get(id);
    if (knownSeq !== undefined && knownSeq !== seq)
      this.errors.push(`message ${id} came as seq ${knownSeq} and as seq ${seq}`);
    const holder = chat.bySeq.get(seq);
    if (holder !== undefined && holder !== id)
      this.errors.push(`seq ${seq} of chat ${message.chatId} came as ${holder} and as ${id}`);
    if (source === 'socket') this.viaSocket.set(id, (this.viaSocket.get(id) ?? 0) + 1);
    if (holder === undefined && knownSeq === undefined) {
      chat.bySeq.set(seq, id);
      this.seqOf.set(id, seq);
      while (chat.bySeq.has(chat.contiguous + 1)) chat.contiguous += 1;
    }
    // A message past a gap (another node published it first): fetch what is missing.
    if (source === 'socket' && seq > chat.contiguous) {
      this.stats.gapFills += 1;
      void this.fill(message.chatId);
    }
  }

  /** GET the chat's messages after the last contiguous seq, until there are no more. */
  private fill(chatId: string): Promise<void> {
    const chat = this.chats.get(chatId)!;
    if (chat.filling) {
      chat.fillAgain = true;
      return chat.filling;
    }
    chat.filling = (async () => {
      do {
        chat.fillAgain = false;
        for (;;) {
          const page = await this.restGet(`/api/chats/${chatId}/messages?after=${chat.contiguous}&limit=100`);
          for (const message of page.messages) this.apply(message, 'rest');
          if (!page.hasMoreAfter || page.messages.length === 0) break;
        }
      } while (chat.fillAgain);
    })()
      .catch((err) => void this.errors.push(`fill ${chatId}: ${String(err)}`))
      .finally(() => (chat.filling = undefined));
    return chat.filling;
  }

  /** After `sync:resync`: the chat list (all pages), then each chat's messages it lacks. */
  private resync(): Promise<void> {
    if (this.resyncing) {
      this.resyncAgain = true;
      return this.resyncing;
    }
    this.resyncing = (async () => {
      do {
        this.resyncAgain = false;
        let cursor: string | null = null;
        do {
          const page: { chats: { id: string; lastSeq: number }[]; nextCursor: string | null } =
            await this.restGet(
              `/api/chats?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
            );
          for (const chat of page.chats) {
            const state = this.chats.get(chat.id);
            if (state && chat.lastSeq > state.contiguous) await this.fill(chat.id);
          }
          cursor = page.nextCursor;
        } while (cursor);
        // (Edits, deletes and reactions since the chat's version would come next; these
        // tests make none.)
      } while (this.resyncAgain);
    })()
      .catch((err) => void this.errors.push(`resync: ${String(err)}`))
      .finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  /** GET through nginx; a node that is away (502, 503, no answer) is asked again. */
  async restGet(pathAndQuery: string): Promise<any> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 1_000)) {
      if (this.closing) throw new Error(`${this.name}: closed`);
      if (Date.now() > this.deadline) throw new Error(`GET ${pathAndQuery}: no answer before the deadline`);
      const res = await this.api.get(pathAndQuery, { token: this.user.accessToken }).catch(() => undefined);
      if (res?.status === 200) return res.body;
      if (res && res.status !== 502 && res.status !== 503) {
        this.errors.push(`GET ${pathAndQuery}: ${res.status} ${res.text.slice(0, 300)}`);
        if (res.status < 500) throw new Error(`GET ${pathAndQuery}: ${res.status}`);
      }
      await sleep(delay);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Checks

/** Every message of a chat over REST, oldest first (retried while a node or the database is away). */
export async function readHistory(device: Device, chatId: string) {
  const messages: {
    id: string;
    seq: number;
    senderId: string | null;
    clientMsgId: string | null;
    kind: string;
  }[] = [];
  for (;;) {
    const after = messages.at(-1)?.seq ?? 0;
    const page = await device.restGet(`/api/chats/${chatId}/messages?after=${after}&limit=100`);
    messages.push(...page.messages);
    if (!page.hasMoreAfter || page.messages.length === 0) return messages;
  }
}

/**
 * What is wrong with a chat's stored history given the sends acked in it: every acked
 * message is stored exactly once with the seq its ack gave, nothing from these sends is
 * stored that was not acked, and the seqs run 1, 2, 3… with no gap or repeat.
 */
export function historyProblems(
  history: Awaited<ReturnType<typeof readHistory>>,
  acks: SendOutcome[],
): string[] {
  const problems: string[] = [];
  history.forEach((m, i) => {
    if (m.seq !== i + 1) problems.push(`stored seqs are not 1..n: position ${i} holds seq ${m.seq}`);
  });
  const byId = new Map(history.map((m) => [m.id, m]));
  if (byId.size !== history.length) problems.push('a message id is stored twice');
  const stored = new Map<string, number>();
  for (const m of history) {
    if (m.clientMsgId) {
      const key = `${m.senderId}/${m.clientMsgId}`;
      stored.set(key, (stored.get(key) ?? 0) + 1);
    }
  }
  for (const [key, count] of stored) if (count > 1) problems.push(`${key} is stored ${count} times`);
  const ackedIds = new Map<string, string>();
  for (const ack of acks) {
    const key = `${ack.senderId}/${ack.clientMsgId}`;
    const earlier = ackedIds.get(key);
    if (earlier && earlier !== ack.id) problems.push(`${key} was acked as ${earlier} and as ${ack.id}`);
    ackedIds.set(key, ack.id);
    const m = byId.get(ack.id);
    if (!m) problems.push(`acked ${ack.id} (${key}) is not stored`);
    else if (m.seq !== ack.seq || m.clientMsgId !== ack.clientMsgId)
      problems.push(`acked ${ack.id} (${key}, seq ${ack.seq}) is stored as seq ${m.seq}, ${m.clientMsgId}`);
  }
  const sent = new Set(acks.map((a) => a.clientMsgId));
  for (const m of history)
    if (m.clientMsgId && sent.has(m.clientMsgId) && !ackedIds.has(`${m.senderId}/${m.clientMsgId}`))
      problems.push(`stored ${m.id} (${m.clientMsgId}) was never acked`);
  return problems;
}

/**
 * Waits until `device` shows the whole chat (every seq up to the stored last one) and has had
 * every acked message over its sockets (one told to re-sync: `lastIds`); then says what does
 * not match the stored history.
 */
export async function deviceProblems(
  device: Device,
  chatId: string,
  history: Awaited<ReturnType<typeof readHistory>>,
  acks: SendOutcome[],
  /**
   * Ids that must come over a socket even to a device that re-synced, sent (starting at
   * `lastSentAt`, Date.now()) after it all. Unless the device was told to re-sync after
   * that: a device still catching up when they were sent may learn its position is gone
   * only then, and the head it re-syncs to already holds them (REST brings them).
   */
  lastIds: string[] = [],
  lastSentAt = 0,
): Promise<string[]> {
  const lastSeq = history.at(-1)?.seq ?? 0;
  const ackedIds = [...new Set(acks.map((a) => a.id))];
  const mustComeLive = () =>
    device.stats.resyncs === 0 ? ackedIds : device.lastResyncAt >= lastSentAt ? [] : lastIds;
  const missingLive = () => mustComeLive().filter((id) => !device.viaSocket.has(id));
  try {
    await waitUntil(
      `${device.name} to show chat ${chatId}`,
      () => device.contiguous(chatId) >= lastSeq && missingLive().length === 0,
      CLUSTER_WAIT_MS,
      50,
    );
  } catch {
    return [
      `${device.name} shows ${device.contiguous(chatId)} of ${lastSeq} messages; ` +
        `${missingLive().length} acked messages never came over a socket ` +
        `(stats ${JSON.stringify(device.stats)})`,
    ];
  }
  const shown = device.shown(chatId);
  const expected = history.map((m) => m.id);
  const problems: string[] = [];
  if (shown.length !== expected.length || shown.some((id, i) => id !== expected[i]))
    problems.push(`${device.name} shows chat ${chatId} in another order than it is stored`);
  if (new Set(shown).size !== shown.length) problems.push(`${device.name} shows a message twice`);
  return problems;
}
