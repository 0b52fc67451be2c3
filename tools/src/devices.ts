/**
 * The devices: one WebSocket per (user, device), authenticated in the first frame like
 * every client. Incoming frames are routed here: acks of sends to the ledger, message:new
 * events to the ledger's delivery check, everything else only counted.
 */
import {
  ackDataSchemas,
  ackFrameSchema,
  parseEvent,
  type CommandData,
  type CommandType,
} from '@parley/contracts';
import WebSocket from 'ws';
import { mapConcurrent } from './api.js';
import { LatencyRecorder, type Ledger, type PhaseStats } from './stats.js';

export interface Device {
  index: number;
  user: number;
  /** Index of the server (--url) this device connects to. */
  node: number;
  socket: WebSocket | undefined;
  /** Authenticated and still open. */
  ready: boolean;
}

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
  /** sync:resync events: a device fell further behind than its inbox holds. */
  resyncs: number;
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

/** A send command as it goes on the wire: typed by the contract. */
interface Command<T extends CommandType> {
  type: T;
  id: string;
  data: CommandData<T>;
}

const AUTH_TIMEOUT_MS = 10_000;

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
    byUrl: [],
  };
  readonly connectLatency = new LatencyRecorder();
  private closing = false;

  constructor(
    private readonly targets: readonly Target[],
    private readonly ledger: Ledger,
    /** Is this phase still counting deliveries? */
    private readonly phaseOpen: (p: PhaseStats) => boolean,
  ) {
    if (targets.length === 0) throw new Error('Fleet: no server to connect to');
    this.counts.byUrl = targets.map((t) => ({
      url: t.url,
      attempted: 0,
      opened: 0,
      failed: 0,
      closedDuringRun: 0,
      messagesReceived: 0,
    }));
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
    await mapConcurrent(
      plan,
      concurrency,
      async ({ user, node }) => {
        const device: Device = { index: this.devices.length, user, node, socket: undefined, ready: false };
        const perUrl = this.counts.byUrl[node]!;
        this.devices.push(device);
        this.counts.attempted += 1;
        perUrl.attempted += 1;
        const t0 = performance.now();
        try {
          await this.open(device, tokens[user]!);
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
  }

  private open(device: Device, token: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // No compression: the server does not offer it, and the generator's CPU is precious.
      const socket = new WebSocket(this.targets[device.node]!.wsUrl, {
        perMessageDeflate: false,
        handshakeTimeout: AUTH_TIMEOUT_MS,
      });
      device.socket = socket;
      const timer = setTimeout(() => reject(new Error('auth: no ack within 10 s')), AUTH_TIMEOUT_MS);
      const fail = (reason: string) => {
        clearTimeout(timer);
        reject(new Error(reason));
      };
      socket.on('unexpected-response', (_req, res) => fail(`upgrade refused: HTTP ${res.statusCode}`));
      socket.on('error', (err) => {
        if (!device.ready) fail(`socket error: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
      });
      socket.on('open', () => {
        const auth: Command<'auth'> = { type: 'auth', id: 'auth', data: { token } };
        socket.send(JSON.stringify(auth));
      });
      socket.on('close', (code) => {
        if (device.ready) {
          device.ready = false;
          if (!this.closing) {
            this.counts.closedDuringRun += 1;
            this.counts.byUrl[device.node]!.closedDuringRun += 1;
            this.counts.closeCodes[code] = (this.counts.closeCodes[code] ?? 0) + 1;
          }
        } else fail(`closed before auth: ${code}`);
      });
      socket.on('message', (raw: WebSocket.RawData) => {
        const at = performance.now();
        let frame: { type?: unknown; id?: unknown; data?: unknown };
        try {
          frame = JSON.parse(raw.toString()) as typeof frame;
        } catch {
          this.counts.invalidFrames += 1;
          return;
        }
        if (frame.type === 'ack') {
          if (frame.id === 'auth' && !device.ready) {
            const ack = ackFrameSchema.safeParse(frame);
            clearTimeout(timer);
            if (ack.success && ack.data.ok && ackDataSchemas.auth.safeParse(ack.data.data).success) {
              device.ready = true;
              resolve();
            } else {
              reject(
                new Error(`auth refused: ${ack.success && !ack.data.ok ? ack.data.error.code : 'bad ack'}`),
              );
            }
            return;
          }
          this.onAck(frame, at);
          return;
        }
        this.onEvent(device, frame, at);
      });
    });
  }

  private onAck(frame: unknown, at: number): void {
    const ack = ackFrameSchema.safeParse(frame);
    if (!ack.success) {
      this.counts.invalidFrames += 1;
      return;
    }
    const index = Number(ack.data.id);
    if (!Number.isInteger(index)) return;
    if (!ack.data.ok) {
      this.ledger.acked(index, at, { ok: false, code: ack.data.error.code });
      return;
    }
    const data = ackDataSchemas['message:send'].safeParse(ack.data.data);
    if (!data.success) {
      this.counts.invalidFrames += 1;
      return;
    }
    this.ledger.acked(index, at, { ok: true, messageId: data.data.message.id });
  }

  private onEvent(device: Device, frame: { type?: unknown; data?: unknown }, at: number): void {
    const type = typeof frame.type === 'string' ? frame.type : '(none)';
    this.counts.framesByType[type] = (this.counts.framesByType[type] ?? 0) + 1;
    if (type === 'message:new') {
      this.counts.byUrl[device.node]!.messagesReceived += 1;
      const event = parseEvent({ type, data: frame.data });
      if (event?.type !== 'message:new') {
        this.counts.invalidFrames += 1;
        return;
      }
      this.ledger.receive(device.index, event.data.message, at, this.phaseOpen);
    } else if (type === 'sync:resync') {
      this.counts.resyncs += 1;
    }
  }

  /** Writes a message:send; false when the device is not connected. */
  send(device: Device, index: number, chatId: string, clientMsgId: string, body: string): boolean {
    if (!device.ready || !device.socket || device.socket.readyState !== WebSocket.OPEN) return false;
    const command: Command<'message:send'> = {
      type: 'message:send',
      id: String(index),
      data: { chatId, clientMsgId, body },
    };
    device.socket.send(JSON.stringify(command));
    return true;
  }

  /** Closes every socket and waits (bounded) for them to go. */
  async close(timeoutMs = 5_000): Promise<void> {
    this.closing = true;
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
