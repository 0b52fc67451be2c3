/**
 * One WebSocket per tab to /ws (specs/protocol.md): authenticate in the first frame, keep
 * the last processed inbox position, reconnect with backoff and resume from that position.
 * Commands carry ids and resolve with their ack; events are parsed with the contract's
 * schemas and handed to `onEvent`. Once events are applied the client acknowledges the last
 * position (`sync:ack`, coalesced): only then do the messages in them count as delivered.
 * The client knows nothing about stores: the messaging session decides what an event or a
 * re-sync means.
 */
import {
  type CommandData,
  type CommandType,
  type ServerEvent,
  ackDataSchemas,
  ackFrameSchema,
  ephemeralEventTypes,
  eventFrameSchema,
  parseEvent,
} from '@parley/contracts';
import type { z } from 'zod';

export type ConnectionState = 'idle' | 'connecting' | 'online' | 'reconnecting' | 'closed';
export type AckData<T extends CommandType> = z.infer<(typeof ackDataSchemas)[T]>;

/** A refused command (the ack's error code), or a transport failure: DISCONNECTED, TIMEOUT, NOT_CONNECTED. */
export class RealtimeError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'RealtimeError';
  }
  /** True when the command may not have reached the server: the caller can fall back to REST. */
  get isTransport(): boolean {
    return this.code === 'DISCONNECTED' || this.code === 'TIMEOUT' || this.code === 'NOT_CONNECTED';
  }
}

/** The part of the browser WebSocket the client uses (tests pass a fake). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type ResyncReason = 'first_connection' | 'position_unknown' | 'position_trimmed' | 'overflow';

export interface RealtimeOptions {
  url: string;
  getToken: () => string | null;
  /** Exchanges the refresh cookie for a new access token; null when signed out. */
  refreshToken: () => Promise<string | null>;
  onEvent: (event: ServerEvent) => void;
  /** The client must rebuild its state from REST: first connection, or the server lost our position. */
  onResync: (reason: ResyncReason) => void;
  onStateChange?: (state: ConnectionState) => void;
  /** No token could be had (the refresh failed, so the user is signed out): the client has stopped. */
  onAuthFailed?: () => void;
  createSocket?: (url: string) => SocketLike;
  ackTimeoutMs?: number;
  /** 0..1; replaceable for deterministic tests. */
  random?: () => number;
}

const OPEN = 1;
const ephemeral = new Set<string>(ephemeralEventTypes);
/**
 * Acknowledgements: the first one waits ACK_DELAY_MS (frames that arrive together are
 * acknowledged together), then at most one every ACK_INTERVAL_MS while events keep coming;
 * the last one of a burst follows within that interval.
 */
const ACK_DELAY_MS = 20;
const ACK_INTERVAL_MS = 150;
const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 10_000;

/** Reconnect delay for the n-th attempt (0-based): 0.5 s doubling to 10 s, with "equal jitter". */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
  return Math.round(base / 2 + (random() * base) / 2);
}

interface PendingAck {
  type: CommandType;
  resolve: (data: unknown) => void;
  reject: (err: RealtimeError) => void;
  timer: ReturnType<typeof setTimeout>;
  socket: SocketLike;
}

export function defaultSocketUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/ws`;
}

export class RealtimeClient {
  private socket: SocketLike | null = null;
  private ready = false;
  private stopped = true;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private nextId = 1;
  private pending = new Map<string, PendingAck>();
  private lastPosition: string | null = null;
  /** The socket whose auth was acked: events on it are acknowledged (replays too). */
  private authedSocket: SocketLike | null = null;
  /** The last position acknowledged on `authedSocket`, when, and the pending acknowledgement. */
  private ackedPosition: string | null = null;
  private ackedAt = -Infinity;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  /**
   * A lost position is told twice: the resume ack says resumed:false and a sync:resync
   * event follows (it can even be processed first). Whichever comes first triggers the
   * re-sync; the other is the same news.
   */
  private resumeResync: 'none' | 'byAck' | 'byEvent' = 'none';
  private resumeInFlight = false;
  private currentState: ConnectionState = 'idle';
  private hasBeenOnline = false;
  private readonly onBrowserOnline = () => {
    if (this.reconnectTimer) this.connectNow();
  };
  /**
   * The browser lost the network: a socket may take long to notice (no close event until
   * TCP gives up), so it is closed now; reconnecting (and the banner) starts at once.
   */
  private readonly onBrowserOffline = () => {
    const socket = this.socket;
    if (!socket) return;
    try {
      socket.close(4001, 'browser offline');
    } catch {
      // Already closing.
    }
    // Handled now, not when the browser gets round to the close event.
    socket.onclose?.({ code: 4001 });
  };

  constructor(private readonly options: RealtimeOptions) {}

  get state(): ConnectionState {
    return this.currentState;
  }
  /** Authenticated and able to take commands. */
  get isReady(): boolean {
    return this.ready && this.socket?.readyState === OPEN;
  }
  /** The last inbox position processed (sent in sync:resume). */
  get position(): string | null {
    return this.lastPosition;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (typeof window !== 'undefined') {
      window.addEventListener('online', this.onBrowserOnline);
      window.addEventListener('offline', this.onBrowserOffline);
    }
    this.connect();
  }

  /** Close for good (logout, page teardown): no reconnect, pending commands fail. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (typeof window !== 'undefined') {
      window.removeEventListener('online', this.onBrowserOnline);
      window.removeEventListener('offline', this.onBrowserOffline);
    }
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.forgetAcks();
    const socket = this.socket;
    this.socket = null;
    this.ready = false;
    this.failPending(null, 'DISCONNECTED', 'The connection was closed.');
    if (socket) {
      detach(socket);
      try {
        socket.close(1000, 'client closing');
      } catch {
        // Already closed.
      }
    }
    this.setState('closed');
  }

  /** Send a command once authenticated; resolves with the ack data or rejects with RealtimeError. */
  request<T extends CommandType>(type: T, data: CommandData<T>, timeoutMs?: number): Promise<AckData<T>> {
    if (!this.isReady || !this.socket) {
      return Promise.reject(new RealtimeError('NOT_CONNECTED', 'Not connected.'));
    }
    return this.send(this.socket, type, data, timeoutMs) as Promise<AckData<T>>;
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.options.onStateChange?.(state);
  }

  private connectNow(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    this.setState(this.hasBeenOnline || this.attempt > 0 ? 'reconnecting' : 'connecting');
    let socket: SocketLike;
    try {
      socket = (this.options.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike))(
        this.options.url,
      );
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    this.ready = false;
    this.forgetAcks();
    this.resumeResync = 'none';
    this.resumeInFlight = false;
    socket.onopen = () => {
      if (socket === this.socket) void this.authenticate(socket);
    };
    socket.onmessage = (ev) => {
      if (socket === this.socket) this.receive(socket, ev.data);
    };
    socket.onerror = () => {
      // A close event follows; reconnecting happens there.
    };
    socket.onclose = () => {
      if (socket !== this.socket) return;
      detach(socket);
      this.socket = null;
      this.ready = false;
      this.forgetAcks();
      this.failPending(socket, 'DISCONNECTED', 'The connection was lost.');
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    this.setState('reconnecting');
    const delay = backoffDelay(this.attempt, this.options.random);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  private async authenticate(socket: SocketLike): Promise<void> {
    let token = this.options.getToken() ?? (await this.options.refreshToken());
    let refreshed = false;
    for (;;) {
      if (socket !== this.socket) return;
      if (!token) return this.authFailed();
      try {
        const ack = await this.send(socket, 'auth', { token });
        if (socket !== this.socket) return;
        // From here on the server keeps what it sends this socket until we acknowledge it;
        // nothing before counts (a position from before is not this socket's).
        this.authedSocket = socket;
        this.ackedPosition = this.lastPosition ?? ack.position;
        if (!this.lastPosition) {
          this.lastPosition = ack.position;
          this.becomeReady();
          this.options.onResync('first_connection');
          return;
        }
        break;
      } catch (err) {
        if (socket !== this.socket) return;
        if (err instanceof RealtimeError && err.code === 'TOKEN_INVALID' && !refreshed) {
          refreshed = true;
          token = await this.options.refreshToken();
          continue;
        }
        // Refused again, or another failure: start over with backoff on a new socket.
        socket.close(4000, 'auth failed');
        return;
      }
    }
    try {
      this.resumeInFlight = true;
      const resume = await this.send(socket, 'sync:resume', { position: this.lastPosition });
      if (socket !== this.socket) return;
      this.resumeInFlight = false;
      this.lastPosition = resume.position;
      this.becomeReady();
      if (!resume.resumed) {
        if (this.resumeResync === 'byEvent') this.resumeResync = 'none';
        else {
          this.resumeResync = 'byAck';
          this.options.onResync('position_unknown');
        }
      }
    } catch {
      if (socket === this.socket) socket.close(4000, 'resume failed');
    }
  }

  private becomeReady(): void {
    this.ready = true;
    this.attempt = 0;
    this.hasBeenOnline = true;
    this.setState('online');
  }

  private authFailed(): void {
    this.stop();
    this.options.onAuthFailed?.();
  }

  private send<T extends CommandType>(
    socket: SocketLike,
    type: T,
    data: CommandData<T>,
    timeoutMs = this.options.ackTimeoutMs ?? 10_000,
  ): Promise<AckData<T>> {
    const id = String(this.nextId++);
    return new Promise<AckData<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RealtimeError('TIMEOUT', 'The server did not answer in time.'));
      }, timeoutMs);
      this.pending.set(id, {
        type,
        resolve: resolve as (data: unknown) => void,
        reject,
        timer,
        socket,
      });
      try {
        socket.send(JSON.stringify({ type, id, data }));
      } catch {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new RealtimeError('DISCONNECTED', 'The connection was lost.'));
      }
    });
  }

  private failPending(socket: SocketLike | null, code: string, message: string): void {
    for (const [id, p] of this.pending) {
      if (socket && p.socket !== socket) continue;
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new RealtimeError(code, message));
    }
  }

  private receive(socket: SocketLike, raw: unknown): void {
    let frame: unknown;
    try {
      frame = JSON.parse(typeof raw === 'string' ? raw : String(raw));
    } catch {
      return;
    }
    const type = (frame as { type?: unknown } | null)?.type;
    if (type === 'ack') return this.receiveAck(frame);
    if (type === 'error') return;
    const parsed = eventFrameSchema.safeParse(frame);
    if (!parsed.success) return;
    const event = parseEvent({ type: parsed.data.type, data: parsed.data.data });
    if (event) {
      if (event.type === 'sync:resync') {
        if (this.resumeResync === 'byAck') this.resumeResync = 'none';
        else {
          if (this.resumeInFlight) this.resumeResync = 'byEvent';
          this.options.onResync(event.data.reason);
        }
      } else {
        if (this.resumeResync === 'byAck' && !ephemeral.has(event.type)) this.resumeResync = 'none';
        this.options.onEvent(event);
      }
    }
    // Ephemeral events carry the current position unchanged, so keeping it is always right.
    if (socket === this.socket) {
      this.lastPosition = parsed.data.position;
      this.scheduleAck();
    }
  }

  /** An acknowledgement of the last position processed, coalesced (see ACK_DELAY_MS). */
  private scheduleAck(): void {
    if (this.ackTimer || !this.authedSocket || this.lastPosition === this.ackedPosition) return;
    const wait = Math.max(ACK_DELAY_MS, this.ackedAt + ACK_INTERVAL_MS - Date.now());
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      this.sendAck();
    }, wait);
  }

  /** `sync:ack` without an id: no answer comes, and none is needed (the next one covers a lost one). */
  private sendAck(): void {
    const socket = this.authedSocket;
    const position = this.lastPosition;
    if (!socket || socket !== this.socket || socket.readyState !== OPEN) return;
    if (!position || position === this.ackedPosition) return;
    try {
      socket.send(JSON.stringify({ type: 'sync:ack', data: { position } satisfies CommandData<'sync:ack'> }));
    } catch {
      return; // closing: the close handler follows
    }
    this.ackedPosition = position;
    this.ackedAt = Date.now();
  }

  /** A socket ended or a new one starts: what was not acknowledged is the next socket's replay. */
  private forgetAcks(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    this.authedSocket = null;
    this.ackedPosition = null;
    this.ackedAt = -Infinity;
  }

  private receiveAck(frame: unknown): void {
    const parsed = ackFrameSchema.safeParse(frame);
    if (!parsed.success) return;
    const ack = parsed.data;
    const pending = this.pending.get(ack.id);
    if (!pending) return;
    this.pending.delete(ack.id);
    clearTimeout(pending.timer);
    if (!ack.ok) {
      pending.reject(new RealtimeError(ack.error.code, ack.error.message, ack.error.details));
      return;
    }
    const data = ackDataSchemas[pending.type].safeParse(ack.data);
    if (data.success) pending.resolve(data.data);
    else pending.reject(new RealtimeError('INVALID_ACK', 'The server sent an unexpected answer.'));
  }
}

function detach(socket: SocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  socket.onerror = null;
}
