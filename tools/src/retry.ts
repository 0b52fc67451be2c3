/**
 * Sends that have to go again, as a real client keeps them: a message whose ack did not
 * come because the socket closed, one refused with a retryable code (SERVICE_UNAVAILABLE,
 * RATE_LIMITED: after the wait the server asked for), and one scheduled while its device
 * was reconnecting. Each waits here for its device to be back (and for its wait to pass),
 * then is written again with the same clientMsgId, so the server stores it once; a
 * duplicate ack returns the original. Bounded: at most `maxTries` writes per message, and
 * nothing is sent again once `timeoutMs` have passed since its scheduled time. Latency
 * stays measured from that scheduled time.
 *
 * The outbox only keeps time and order; `write` and `giveUp` (the fleet) do the rest, and
 * `tick` is driven by a timer in the fleet (or by hand in tests).
 */
import { RETRYABLE_SEND_CODES, retryAfterDelay } from './backoff.js';

export interface RetryPolicy {
  /** Most writes of one message, the first included (1 = never sent again). */
  maxTries: number;
  /** Nothing is sent again this long after the message's scheduled time. */
  timeoutMs: number;
}

/** What the outbox needs of a message. */
export interface Retryable {
  index: number;
  senderDevice: number;
  /** performance.now() of its scheduled send. */
  scheduledAt: number;
  /** Writes so far. */
  tries: number;
  /** The last retryable refusal, if any. */
  lastCode: string | undefined;
}

export interface OutboxHooks<M extends Retryable> {
  /** Writes the message on its device's socket; false when the device is not ready. */
  write(msg: M): boolean;
  /** The message will not be sent again (tries or time used up, or the run is ending). */
  giveUp(msg: M, reason: GiveUpReason): void;
}

export type GiveUpReason = 'tries' | 'timeout' | 'stopped';

interface Held<M> {
  msg: M;
  /** Not written before this time (performance.now()). */
  notBefore: number;
}

export interface OutboxCounts {
  /** Messages held because their device was down at their scheduled time. */
  heldOffline: number;
  /** Messages whose socket closed before their ack. */
  heldClosed: number;
  /** Retryable refusals, by code. */
  refusals: Record<string, number>;
  /** Messages given up, by reason. */
  givenUp: Record<string, number>;
}

export class Outbox<M extends Retryable> {
  /** Per device: its waiting messages by index (written in index order, i.e. schedule order). */
  private readonly held = new Map<number, Map<number, Held<M>>>();
  private size = 0;
  readonly counts: OutboxCounts = { heldOffline: 0, heldClosed: 0, refusals: {}, givenUp: {} };

  constructor(
    private readonly policy: RetryPolicy,
    private readonly hooks: OutboxHooks<M>,
    private readonly now: () => number = () => performance.now(),
    private readonly random: () => number = Math.random,
  ) {}

  /** Messages waiting to be written. */
  get pending(): number {
    return this.size;
  }

  /** Its device is down now: the message waits for the device to be back. */
  offline(msg: M): void {
    this.counts.heldOffline += 1;
    this.hold(msg, this.now());
  }

  /** Written, but the socket closed before the ack: sent again once the device is back. */
  closed(msg: M): void {
    this.counts.heldClosed += 1;
    this.hold(msg, this.now());
  }

  /**
   * Refused. A retryable code waits for what the server asked (bounded, jittered); any
   * other code is final: false, and the caller records the refusal.
   */
  refused(msg: M, code: string, retryAfterMs: number | undefined): boolean {
    if (!RETRYABLE_SEND_CODES.has(code)) return false;
    this.counts.refusals[code] = (this.counts.refusals[code] ?? 0) + 1;
    msg.lastCode = code;
    this.hold(msg, this.now() + retryAfterDelay(retryAfterMs, this.random));
    return true;
  }

  /**
   * Keeps the message for another write, unless its tries or its time are used up: then
   * it is given up at once.
   */
  private hold(msg: M, notBefore: number): void {
    const why = this.exhausted(msg, notBefore);
    if (why) {
      this.drop(msg, why);
      return;
    }
    let mine = this.held.get(msg.senderDevice);
    if (!mine) this.held.set(msg.senderDevice, (mine = new Map()));
    if (!mine.has(msg.index)) this.size += 1;
    mine.set(msg.index, { msg, notBefore });
  }

  private exhausted(msg: M, at: number): GiveUpReason | undefined {
    if (msg.tries >= this.policy.maxTries) return 'tries';
    if (at - msg.scheduledAt > this.policy.timeoutMs) return 'timeout';
    return undefined;
  }

  private drop(msg: M, reason: GiveUpReason): void {
    this.counts.givenUp[reason] = (this.counts.givenUp[reason] ?? 0) + 1;
    this.hooks.giveUp(msg, reason);
  }

  /** The device is back: writes what is due now, in schedule order. */
  flush(device: number): void {
    const mine = this.held.get(device);
    if (!mine) return;
    const now = this.now();
    const due = [...mine.values()]
      .filter((h) => h.notBefore <= now)
      .sort((a, b) => a.msg.index - b.msg.index);
    for (const h of due) {
      if (!this.hooks.write(h.msg)) return; // down again: the rest keep waiting
      mine.delete(h.msg.index);
      this.size -= 1;
    }
    if (mine.size === 0) this.held.delete(device);
  }

  /**
   * Gives up what has waited past its time, then writes whatever is due on devices that
   * are ready (`write` says which are).
   */
  tick(): void {
    const now = this.now();
    for (const [device, mine] of this.held) {
      for (const [index, h] of mine) {
        if (now - h.msg.scheduledAt > this.policy.timeoutMs) {
          mine.delete(index);
          this.size -= 1;
          this.drop(h.msg, 'timeout');
        }
      }
      if (mine.size === 0) this.held.delete(device);
      else this.flush(device);
    }
  }

  /** The run is ending: everything still waiting is given up. */
  stop(): void {
    for (const mine of this.held.values()) for (const h of mine.values()) this.drop(h.msg, 'stopped');
    this.held.clear();
    this.size = 0;
  }
}
