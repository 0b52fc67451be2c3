/**
 * The devices: one WebSocket per (user, device), authenticated in the first frame like
 * every client. Incoming frames are routed here: acks of sends to the ledger, message:new
 * events to the ledger's delivery check, everything else only counted.
 *
 * Under failures (on unless --no-reconnect) a device behaves like a real client
 * (specs/protocol.md, specs/delivery.md): a socket that closes during the run is opened
 * again with backoff — on the same URL, or on the next --url when that fails — then
 * authenticated and resumed from the last inbox position the device processed; on
 * `sync:resync` (or a resume that fails) the device re-syncs over REST, and it fills seq
 * gaps over REST (recovery.ts). Sends whose ack did not come because the socket closed, or
 * that were refused as retryable, are written again with the same clientMsgId (retry.ts).
 *
 * Like a client, a device acknowledges what it received (`sync:ack`), or the server never
 * counts its messages as delivered: one timer for the whole fleet sends, every ACK_EVERY_MS,
 * one ack per device whose position moved since its last.
 */
import {
  ackDataSchemas,
  ackFrameSchema,
  parseEvent,
  type CommandData,
  type CommandType,
  type Message,
} from '@parley/contracts';
import WebSocket from 'ws';
import { Limiter, mapConcurrent, sleep } from './api.js';
import { backoffDelay, retryAfterOf } from './backoff.js';
import type { Recovery } from './recovery.js';
import { Outbox, type OutboxCounts, type RetryPolicy } from './retry.js';
import type { TokenBook } from './session.js';
import { LatencyRecorder, type Ledger, type PhaseStats, type SentMessage, type Source } from './stats.js';

export interface Device {
  index: number;
  user: number;
  /** Index of the server (--url) this device first connected to. */
  node: number;
  /** Index of the server it uses now (moves to the next --url when its own fails). */
  current: number;
  socket: WebSocket | undefined;
  /** Authenticated (and, after a reconnect, resumed) and still open. */
  ready: boolean;
  /** Its first connection succeeded: it takes part in the run (even while reconnecting). */
  opened: boolean;
  /** The inbox position of the last event processed: what a resume starts after. */
  position: string | undefined;
  /** The position of the last event frame on the current socket, and the last one acknowledged there. */
  received: string | undefined;
  acked: string | undefined;
  /** Between a reconnect's auth and its resume ack: frames now are the replay. */
  resuming: boolean;
  /** A reconnect loop is running for it. */
  reconnecting: boolean;
  /** Sends written on the current socket and not answered yet, by message index. */
  inflight: Map<number, SentMessage>;
  /** Commands other than sends waiting for their ack, by id. */
  commands: Map<string, (ack: AckResult) => void>;
  /** performance.now() of the last frame or ping from the server. */
  heardAt: number;
  /** performance.now() of an unanswered ping of ours, or 0. */
  pingAt: number;
}

type AckResult =
  | { ok: true; data: unknown }
  | { ok: false; code: string; details?: unknown }
  | { ok: false; code: 'CLOSED' | 'TIMEOUT' };

export interface FleetCounts {
  attempted: number;
  opened: number;
  failed: number;
  failures: Record<string, number>;
  /** Authenticated sockets that closed before the end of the run. */
  closedDuringRun: number;
  closeCodes: Record<string, number>;
  /** Frames by type (events and errors; acks of sends excluded). */
  framesByType: Record<string, number>;
  /** Frames that were not JSON or did not match the contract. */
  invalidFrames: number;
  /** sync:resync events: a device's inbox position was gone (or it fell too far behind). */
  resyncs: number;
  /** Reconnects: attempts, successes (authenticated again), failures by reason. */
  reconnectAttempts: number;
  reconnects: number;
  reconnectFailures: Record<string, number>;
  /** sync:resume answers: resumed (the inbox had the position), not resumed (sync:resync), failed. */
  resumes: { resumed: number; notResumed: number; failed: number; replayed: number };
  /** Sockets given up because the server stopped answering pings. */
  heartbeatTimeouts: number;
  /** Devices still (or again) connected when the run ended; null before the end. */
  connectedAtEnd: number | null;
  /** Send acks that said duplicate: true (a retry answered with the original). */
  duplicateAcks: number;
  /** The outbox of sends to write again. */
  outbox: OutboxCounts | null;
  /** REST reads of the devices: re-syncs, gap fills. */
  recovery: Recovery['counts'] | null;
  /** The same per server, in --url order (one entry with a single --url). */
  byUrl: UrlCounts[];
}

export interface UrlCounts {
  url: string;
  attempted: number;
  opened: number;
  failed: number;
  closedDuringRun: number;
  /** message:new frames received by this server's devices (echoes of own sends included). */
  messagesReceived: number;
  /** Reconnects to this server: tried, and authenticated. */
  reconnectAttempts: number;
  reconnects: number;
}

/** A server to connect devices to: its http(s) URL as given, and the WebSocket URL derived from it. */
export interface Target {
  url: string;
  wsUrl: string;
}

export function targetOf(url: string): Target {
  return { url, wsUrl: new URL('/ws', url.replace(/^http/, 'ws')).toString() };
}

/**
 * Which server device `device` of user `user` connects to: round-robin over users and,
 * within a user, over devices, so the devices of one user sit on different nodes (as long
 * as there are as many nodes) and every node gets an equal share.
 */
export function nodeOf(user: number, device: number, nodes: number): number {
  return (user + device) % nodes;
}

/** Every device to open, in connection order: user by user, device by device. */
export function planDevices(
  users: number,
  devicesPerUser: number,
  nodes: number,
): { user: number; device: number; node: number }[] {
  return Array.from({ length: users * devicesPerUser }, (_, i) => {
    const user = Math.floor(i / devicesPerUser);
    const device = i % devicesPerUser;
    return { user, device, node: nodeOf(user, device, nodes) };
  });
}

/**
 * The server to try on reconnect attempt `failures` (0 = the first after the drop): the
 * one the device was on, then each next one in --url order as attempts fail.
 */
export function reconnectNode(current: number, failures: number, nodes: number): number {
  return (current + failures) % nodes;
}

/** A command as it goes on the wire: typed by the contract. */
interface Command<T extends CommandType> {
  type: T;
  id: string;
  data: CommandData<T>;
}

const AUTH_TIMEOUT_MS = 10_000;
/** A resume replays the inbox before its ack; a busy server may take a while. */
const RESUME_TIMEOUT_MS = 30_000;
/** The server pings every 30 s (WS_HEARTBEAT_MS); silence this long earns a ping of ours. */
const SILENCE_MS = 45_000;
/** A ping of ours unanswered this long: the peer is gone (no RST came), the socket is dropped. */
const PING_TIMEOUT_MS = 15_000;
const WATCH_EVERY_MS = 5_000;
/** The outbox is looked at this often (due retries, expiry). */
const OUTBOX_TICK_MS = 100;
/** Devices acknowledge what they received this often (a browser: within 150 ms). */
const ACK_EVERY_MS = 150;

export interface FleetOptions {
  /** Reconnect, resume, re-sync, fill gaps and retry sends (--no-reconnect: off). */
  reconnect: boolean;
  retry: RetryPolicy;
  /** Characters per message body (a retry writes the same body again). */
  messageSize: number;
  /** Reconnects in flight at once (as --connect-concurrency for the first connections). */
  connectConcurrency: number;
  random?: () => number;
}

const DEFAULT_OPTIONS: FleetOptions = {
  reconnect: false,
  retry: { maxTries: 1, timeoutMs: 0 },
  messageSize: 100,
  connectConcurrency: 100,
};

export class Fleet {
  readonly devices: Device[] = [];
  readonly counts: FleetCounts = {
    attempted: 0,
    opened: 0,
    failed: 0,
    failures: {},
    closedDuringRun: 0,
    closeCodes: {},
    framesByType: {},
    invalidFrames: 0,
    resyncs: 0,
    reconnectAttempts: 0,
    reconnects: 0,
    reconnectFailures: {},
    resumes: { resumed: 0, notResumed: 0, failed: 0, replayed: 0 },
    heartbeatTimeouts: 0,
    connectedAtEnd: null,
    duplicateAcks: 0,
    outbox: null,
    recovery: null,
    byUrl: [],
  };
  readonly connectLatency = new LatencyRecorder();
  private closing = false;
  private readonly options: FleetOptions;
  private readonly random: () => number;
  private readonly outbox: Outbox<SentMessage> | undefined;
  private readonly reconnectSlots: Limiter;
  private recovery: Recovery | undefined;
  private tokens: TokenBook | undefined;
  private timers: NodeJS.Timeout[] = [];
  private commandSeq = 0;
  /** Devices that received event frames since their last sync:ack. */
  private readonly unacked = new Set<Device>();

  constructor(
    private readonly targets: readonly Target[],
    private readonly ledger: Ledger,
    /** Is this phase still counting deliveries? */
    private readonly phaseOpen: (p: PhaseStats) => boolean,
    options: Partial<FleetOptions> = {},
  ) {
    if (targets.length === 0) throw new Error('Fleet: no server to connect to');
    this.options = { ...DEFAULT_OPTIONS, ...options };
    this.random = this.options.random ?? Math.random;
    this.reconnectSlots = new Limiter(this.options.connectConcurrency);
    this.counts.byUrl = targets.map((t) => ({
      url: t.url,
      attempted: 0,
      opened: 0,
      failed: 0,
      closedDuringRun: 0,
      messagesReceived: 0,
      reconnectAttempts: 0,
      reconnects: 0,
    }));
    if (this.options.reconnect) {
      this.outbox = new Outbox<SentMessage>(
        this.options.retry,
        { write: (msg) => this.write(msg, false), giveUp: (msg) => this.giveUp(msg) },
        () => performance.now(),
        this.random,
      );
      this.counts.outbox = this.outbox.counts;
    }
  }

  /** REST reads for re-syncs and gaps (reconnecting only), and the tokens reconnects use. */
  attach(tokens: TokenBook, recovery: Recovery | undefined): void {
    this.tokens = tokens;
    if (!this.options.reconnect) return;
    this.recovery = recovery;
    this.counts.recovery = recovery?.counts ?? null;
  }

  /** Nothing more to come by itself: no reconnect running, no send waiting, no REST read pending. */
  get quiet(): boolean {
    return (
      !this.devices.some((d) => d.reconnecting || d.resuming) &&
      (this.outbox?.pending ?? 0) === 0 &&
      !this.recovery?.busy
    );
  }

  /**
   * Opens and authenticates every device, spread over the servers by nodeOf; a device
   * that fails stays out of the run.
   */
  async connect(
    tokens: string[],
    devicesPerUser: number,
    concurrency: number,
    progress: (line: string) => void,
    stop: () => boolean = () => false,
  ): Promise<void> {
    const plan = planDevices(tokens.length, devicesPerUser, this.targets.length);
    const acks = setInterval(() => this.sendAcks(), ACK_EVERY_MS);
    acks.unref();
    this.timers.push(acks);
    await mapConcurrent(
      plan,
      concurrency,
      async ({ user, node }) => {
        const device: Device = {
          index: this.devices.length,
          user,
          node,
          current: node,
          socket: undefined,
          ready: false,
          opened: false,
          position: undefined,
          received: undefined,
          acked: undefined,
          resuming: false,
          reconnecting: false,
          inflight: new Map(),
          commands: new Map(),
          heardAt: 0,
          pingAt: 0,
        };
        const perUrl = this.counts.byUrl[node]!;
        this.devices.push(device);
        this.counts.attempted += 1;
        perUrl.attempted += 1;
        const t0 = performance.now();
        try {
          await this.open(device, node, tokens[user]!);
          device.ready = true;
          device.opened = true;
          this.counts.opened += 1;
          perUrl.opened += 1;
          this.connectLatency.record(performance.now() - t0);
        } catch (err) {
          this.counts.failed += 1;
          perUrl.failed += 1;
          const reason = err instanceof Error ? err.message : String(err);
          this.counts.failures[reason] = (this.counts.failures[reason] ?? 0) + 1;
          device.socket?.terminate();
        }
      },
      (done) => {
        if (done % 100 === 0 || done === plan.length) {
          progress(`connecting ${done}/${plan.length} (${this.counts.failed} failed)`);
        }
      },
      stop,
    );
    if (this.options.reconnect) this.startTimers();
  }

  /** One sync:ack (no id, so no answer) per device whose position moved since its last. */
  private sendAcks(): void {
    for (const device of this.unacked) {
      const { socket, received } = device;
      if (!socket || socket.readyState !== WebSocket.OPEN || !received || received === device.acked) continue;
      const ack: Omit<Command<'sync:ack'>, 'id'> = { type: 'sync:ack', data: { position: received } };
      socket.send(JSON.stringify(ack));
      device.acked = received;
    }
    this.unacked.clear();
  }

  private startTimers(): void {
    const outbox = setInterval(() => this.outbox?.tick(), OUTBOX_TICK_MS);
    const watch = setInterval(() => this.watch(), WATCH_EVERY_MS);
    for (const t of [outbox, watch]) t.unref();
    this.timers.push(outbox, watch);
  }

  /**
   * Opens a socket to server `node` and authenticates; resolves once the auth ack came
   * (the device is not `ready` yet: the caller decides). Rejects with the reason otherwise.
   */
  private open(device: Device, node: number, token: string, reconnecting = false): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // No compression: the server does not offer it, and the generator's CPU is precious.
      const socket = new WebSocket(this.targets[node]!.wsUrl, {
        perMessageDeflate: false,
        handshakeTimeout: AUTH_TIMEOUT_MS,
      });
      device.socket = socket;
      device.current = node;
      // What the server sent the previous socket is not this one's to acknowledge.
      device.received = undefined;
      device.acked = undefined;
      device.heardAt = performance.now();
      device.pingAt = 0;
      let authed = false;
      const timer = setTimeout(() => fail('auth: no ack within 10 s'), AUTH_TIMEOUT_MS);
      const fail = (reason: string) => {
        clearTimeout(timer);
        device.commands.delete('auth');
        if (!authed) {
          authed = true; // settled
          reject(new Error(reason));
        }
      };
      socket.on('unexpected-response', (_req, res) => {
        fail(`upgrade refused: HTTP ${res.statusCode}`);
        socket.terminate();
      });
      socket.on('error', (err) => {
        if (!authed) fail(`socket error: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
      });
      socket.on('open', () => {
        device.commands.set('auth', (ack) => {
          clearTimeout(timer);
          if (authed) return;
          authed = true;
          if (ack.ok) {
            const data = ackDataSchemas.auth.safeParse(ack.data);
            if (data.success) {
              // The first connection starts at the head. A reconnect keeps the last position
              // it processed before the drop, and the frames that follow this ack (in the
              // same read, before the resume is even sent) must not move it: resuming from
              // one of them would skip what happened while the device was away, and a
              // position of another server run would pass for a current one.
              device.position ??= data.data.position;
              if (reconnecting) device.resuming = true;
              resolve();
              return;
            }
          }
          reject(new Error(`auth refused: ${ack.ok ? 'bad ack' : ack.code}`));
        });
        const auth: Command<'auth'> = { type: 'auth', id: 'auth', data: { token } };
        socket.send(JSON.stringify(auth));
      });
      socket.on('ping', () => {
        device.heardAt = performance.now();
      });
      socket.on('pong', () => {
        device.heardAt = performance.now();
        device.pingAt = 0;
      });
      socket.on('close', (code) => {
        if (!authed) fail(`closed before auth: ${code}`);
        if (device.socket === socket) this.dropped(device, code);
      });
      socket.on('message', (raw: WebSocket.RawData) => {
        const at = performance.now();
        device.heardAt = at;
        let frame: { type?: unknown; id?: unknown; data?: unknown; position?: unknown; error?: unknown };
        try {
          frame = JSON.parse(raw.toString()) as typeof frame;
        } catch {
          this.counts.invalidFrames += 1;
          return;
        }
        if (frame.type === 'ack') {
          const waiting = typeof frame.id === 'string' ? device.commands.get(frame.id) : undefined;
          if (waiting) {
            device.commands.delete(frame.id as string);
            const ack = ackFrameSchema.safeParse(frame);
            if (!ack.success) {
              this.counts.invalidFrames += 1;
              waiting({ ok: false, code: 'INVALID_ACK' });
            } else if (ack.data.ok) waiting({ ok: true, data: ack.data.data });
            else waiting({ ok: false, code: ack.data.error.code, details: ack.data.error.details });
            return;
          }
          this.onSendAck(device, frame, at);
          return;
        }
        if (device.socket === socket && typeof frame.position === 'string') {
          device.received = frame.position;
          this.unacked.add(device);
        }
        this.onEvent(device, frame, at);
      });
    });
  }

  /**
   * The socket of a ready (or resuming) device closed while the run goes on: count it,
   * hand its unanswered sends to the outbox and reconnect.
   */
  private dropped(device: Device, code: number): void {
    const wasUp = device.ready || device.resuming;
    device.ready = false;
    for (const answer of device.commands.values()) answer({ ok: false, code: 'CLOSED' });
    device.commands.clear();
    const lost = [...device.inflight.values()];
    device.inflight.clear();
    if (this.closing || !wasUp) return;
    this.counts.closedDuringRun += 1;
    this.counts.byUrl[device.current]!.closedDuringRun += 1;
    this.counts.closeCodes[code] = (this.counts.closeCodes[code] ?? 0) + 1;
    if (!this.options.reconnect) return; // as before: the sends stay unanswered
    for (const msg of lost) this.outbox!.closed(msg);
    if (!device.reconnecting) void this.reconnect(device);
  }

  /**
   * Opens the device again with backoff until it is authenticated and resumed (or the run
   * ends): the same server first, then the next --url after each failure.
   */
  private async reconnect(device: Device): Promise<void> {
    device.reconnecting = true;
    const from = device.current;
    let failures = 0;
    try {
      while (!this.closing) {
        await sleep(backoffDelay(failures, undefined, this.random));
        if (this.closing) return;
        const node = reconnectNode(from, failures, this.targets.length);
        let token = '';
        let reason: string | undefined;
        await this.reconnectSlots.run(async () => {
          if (this.closing) return;
          this.counts.reconnectAttempts += 1;
          this.counts.byUrl[node]!.reconnectAttempts += 1;
          try {
            token = await this.tokens!.get(device.user);
            await this.open(device, node, token, true);
          } catch (err) {
            device.resuming = false;
            reason = err instanceof Error ? err.message : String(err);
            device.socket?.terminate();
          }
        });
        if (this.closing) {
          device.socket?.terminate();
          return;
        }
        if (reason === undefined) {
          this.counts.reconnects += 1;
          this.counts.byUrl[node]!.reconnects += 1;
          if (await this.resume(device)) return;
          reason = 'closed while resuming';
        }
        this.counts.reconnectFailures[reason] = (this.counts.reconnectFailures[reason] ?? 0) + 1;
        // A token the server no longer takes (expired, session ended): a new one next time.
        if (/TOKEN_INVALID|UNAUTHENTICATED|SESSION/.test(reason) && token) {
          await this.tokens!.renew(device.user, token).catch(() => undefined);
        }
        failures += 1;
      }
    } finally {
      device.reconnecting = false;
    }
  }

  /**
   * After a reconnect's auth: `sync:resume` from the last position processed. Frames until
   * its ack are the replay. A resume the server refuses (sync:resync) or that fails is
   * followed by a re-sync over REST. Then the device is ready and its waiting sends go.
   * False if the socket closed meanwhile.
   */
  private async resume(device: Device): Promise<boolean> {
    device.resuming = true;
    const position = device.position;
    // The ack is handled as it is read, before the frames after it in the same read: from
    // it on, frames are live again and move the position.
    const onAck = (ack: AckResult) => {
      device.resuming = false;
      const data = ack.ok ? ackDataSchemas['sync:resume'].safeParse(ack.data) : undefined;
      if (data?.success && data.data.resumed) device.position = data.data.position;
    };
    const ack = position
      ? await this.command(device, 'sync:resume', { position }, RESUME_TIMEOUT_MS, onAck)
      : ({ ok: false, code: 'NO_POSITION' } as const);
    device.resuming = false;
    if (!ack.ok && ack.code === 'CLOSED') return false;
    const data = ack.ok ? ackDataSchemas['sync:resume'].safeParse(ack.data) : undefined;
    if (data?.success) {
      this.counts.resumes.replayed += data.data.replayed;
      // Not resumed: the sync:resync event came before this ack and started the re-sync.
      if (data.data.resumed) this.counts.resumes.resumed += 1;
      else this.counts.resumes.notResumed += 1;
    } else {
      if (data && !data.success) this.counts.invalidFrames += 1;
      this.counts.resumes.failed += 1;
      this.recovery?.resync(device.index);
    }
    if (!device.socket || device.socket.readyState !== WebSocket.OPEN) return false;
    device.ready = true;
    this.outbox?.flush(device.index);
    return true;
  }

  /** Sends a command and waits (bounded) for its ack; `onAck` runs as the ack is read. */
  private command<T extends CommandType>(
    device: Device,
    type: T,
    data: CommandData<T>,
    timeoutMs: number,
    onAck: (ack: AckResult) => void = () => undefined,
  ): Promise<AckResult> {
    const socket = device.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN)
      return Promise.resolve({ ok: false, code: 'CLOSED' });
    const id = `c${++this.commandSeq}`;
    return new Promise<AckResult>((resolve) => {
      const timer = setTimeout(() => {
        device.commands.delete(id);
        resolve({ ok: false, code: 'TIMEOUT' });
      }, timeoutMs);
      device.commands.set(id, (ack) => {
        clearTimeout(timer);
        onAck(ack);
        resolve(ack);
      });
      const command: Command<T> = { type, id, data };
      socket.send(JSON.stringify(command));
    });
  }

  /** Pings sockets the server has been silent on; drops those that do not answer. */
  private watch(): void {
    const now = performance.now();
    for (const d of this.devices) {
      if (!d.ready || !d.socket || d.socket.readyState !== WebSocket.OPEN) continue;
      if (d.pingAt && now - d.pingAt > PING_TIMEOUT_MS) {
        this.counts.heartbeatTimeouts += 1;
        d.socket.terminate();
      } else if (!d.pingAt && now - d.heardAt > SILENCE_MS) {
        d.pingAt = now;
        d.socket.ping();
      }
    }
  }

  private onSendAck(device: Device, frame: unknown, at: number): void {
    const ack = ackFrameSchema.safeParse(frame);
    if (!ack.success) {
      this.counts.invalidFrames += 1;
      return;
    }
    const index = Number(ack.data.id);
    if (!Number.isInteger(index)) return;
    const msg = device.inflight.get(index) ?? this.ledger.get(index);
    device.inflight.delete(index);
    if (!ack.data.ok) {
      const { code, details } = ack.data.error;
      // Retryable: the outbox sends it again after the wait; otherwise the refusal is final.
      if (msg && msg.state === 'sent' && this.outbox?.refused(msg, code, retryAfterOf(details))) return;
      this.ledger.acked(index, at, { ok: false, code });
      return;
    }
    const data = ackDataSchemas['message:send'].safeParse(ack.data.data);
    if (!data.success) {
      this.counts.invalidFrames += 1;
      return;
    }
    const message = data.data.message;
    if (data.data.duplicate) this.counts.duplicateAcks += 1;
    this.ledger.acked(index, at, { ok: true, messageId: message.id });
    if (msg) this.ledger.noteId(msg, message.id);
    // The sender has its own message from the ack, as a real client puts it in its list.
    this.recovery?.observe(device.index, message.chatId, message.seq);
  }

  private onEvent(
    device: Device,
    frame: { type?: unknown; data?: unknown; position?: unknown },
    at: number,
  ): void {
    const type = typeof frame.type === 'string' ? frame.type : '(none)';
    this.counts.framesByType[type] = (this.counts.framesByType[type] ?? 0) + 1;
    if (type === 'message:new') {
      this.counts.byUrl[device.current]!.messagesReceived += 1;
      const event = parseEvent({ type, data: frame.data });
      if (event?.type !== 'message:new') {
        this.counts.invalidFrames += 1;
        return;
      }
      this.deliver(device.index, event.data.message, at, device.resuming ? 'resume' : 'live');
    } else if (type === 'sync:resync') {
      // The position to keep from now on; what came before is read over REST.
      this.counts.resyncs += 1;
      if (typeof frame.position === 'string') device.position = frame.position;
      this.recovery?.resync(device.index);
      return;
    }
    // Processed: the next resume starts after it (not while resuming: the resume's ack says).
    if (typeof frame.position === 'string' && !device.resuming) device.position = frame.position;
  }

  /** A message on a device, by any way: counted in the ledger, and its seq noted. */
  deliver(device: number, message: Message, at: number, source: Source): void {
    this.ledger.receive(device, message, at, this.phaseOpen, source);
    this.recovery?.observe(device, message.chatId, message.seq);
  }

  /**
   * Sends a scheduled message from its device. Reconnecting, a device that is down keeps
   * it until it is back (as a client's outbox does); otherwise it is not sent.
   */
  submit(msg: SentMessage): void {
    if (this.write(msg, true)) return;
    if (this.outbox && !this.closing) this.outbox.offline(msg);
    else this.ledger.notSent(msg);
  }

  /** Writes a message:send for `msg` on its device's socket; false when the device is not ready. */
  private write(msg: SentMessage, onSchedule: boolean): boolean {
    const device = this.devices[msg.senderDevice];
    if (!device?.ready || !device.socket || device.socket.readyState !== WebSocket.OPEN) return false;
    const command: Command<'message:send'> = {
      type: 'message:send',
      id: String(msg.index),
      data: {
        chatId: msg.chatId,
        clientMsgId: this.ledger.clientMsgId(msg.index),
        body: this.ledger.body(msg.index, this.options.messageSize),
      },
    };
    device.socket.send(JSON.stringify(command));
    device.inflight.set(msg.index, msg);
    msg.tries += 1;
    if (msg.state === 'scheduled') this.ledger.sent(msg, performance.now(), onSchedule);
    else this.ledger.resent(msg);
    return true;
  }

  /** The outbox will not write `msg` again: never written, refused for good, or left unanswered. */
  private giveUp(msg: SentMessage): void {
    if (msg.state === 'scheduled') this.ledger.notSent(msg);
    else if (msg.state === 'sent' && msg.lastCode) {
      this.ledger.acked(msg.index, performance.now(), { ok: false, code: msg.lastCode });
    }
    // Otherwise it stays "sent": unanswered.
  }

  /**
   * Waits (bounded) until nothing more comes by itself: reconnects done, sends written and
   * answered, REST reads finished. True if it got there.
   */
  async settle(until: number, stop: () => boolean = () => false): Promise<boolean> {
    while (performance.now() < until && !stop()) {
      if (this.quiet) return true;
      await sleep(50);
    }
    return this.quiet;
  }

  /** Closes every socket and waits (bounded) for them to go. */
  async close(timeoutMs = 5_000): Promise<void> {
    this.counts.connectedAtEnd ??= this.devices.filter((d) => d.ready).length;
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.outbox?.stop();
    this.recovery?.stop();
    const open = this.devices.filter((d) => d.socket && d.socket.readyState !== WebSocket.CLOSED);
    await Promise.race([
      Promise.all(
        open.map(
          (d) =>
            new Promise<void>((resolve) => {
              d.socket!.once('close', () => resolve());
              d.socket!.close(1000, 'load test done');
            }),
        ),
      ),
      new Promise((resolve) => setTimeout(resolve, timeoutMs)),
    ]);
    for (const d of open) if (d.socket!.readyState !== WebSocket.CLOSED) d.socket!.terminate();
    this.connectLatency.destroy();
  }
}
