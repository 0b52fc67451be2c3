/**
 * What one user may do, on each node, besides sending messages (sends have their own
 * limiter, shared by the nodes): every WebSocket command type and every REST write route
 * has its own allowance (a steady rate plus a burst per minute), and REST reads share one.
 * In memory on purpose: these protect the node a client is on (its event loop and its
 * share of the database pool) and are checked for every frame, so a Redis round trip each
 * would cost more than it saves. A user on N nodes gets N allowances (specs/security.md).
 */
import { createSendLimiter, type SendLimiter } from './rate-limit.js';

export interface Budgets {
  /** One socket opened (authenticated) by the user. */
  connect(userId: string): ReturnType<SendLimiter['take']>;
  /** One use of `kind` (a command type, or a REST route) by the user, if there is one left. */
  command(userId: string, kind: string): ReturnType<SendLimiter['take']>;
  /** One REST read by the user. */
  read(userId: string): ReturnType<SendLimiter['take']>;
}

export function createBudgets(opts: {
  commands: { perSecond: number; burstPerMinute: number };
  reads: { perSecond: number; burstPerMinute: number };
  connects: { perSecond: number; burstPerMinute: number };
  /** All command types of a user together (on the embedded database every one takes the event loop). */
  total: { perSecond: number; burstPerMinute: number };
}): Budgets {
  const commands = createSendLimiter({ name: 'command', ...opts.commands });
  const total = createSendLimiter({ name: 'command-total', ...opts.total });
  const reads = createSendLimiter({ name: 'read', ...opts.reads });
  const connects = createSendLimiter({ name: 'connect', ...opts.connects });
  return {
    connect: (userId) => connects.take(userId),
    async command(userId, kind) {
      const own = await commands.take(`${userId}:${kind}`);
      return own.ok ? total.take(userId) : own;
    },
    read: (userId) => reads.take(userId),
  };
}

/**
 * A token bucket for one socket's frames, checked before a frame is even parsed: a client
 * flooding frames costs the node a counter, not a JSON parse and a validation each.
 * (Synchronous and per socket, so a few lines here rather than a limiter's promise.)
 */
export class FrameBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.at = now();
  }

  /** False when the socket has sent more than its rate allows. */
  take(): boolean {
    if (this.waitMs() > 0) return false;
    this.spend();
    return true;
  }

  /** Takes a frame that `waitMs` has just allowed (0). */
  spend(): void {
    this.tokens -= 1;
  }

  /** Milliseconds until a frame may go (0: now). Takes nothing. */
  waitMs(): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.perSecond) * 1000;
  }
}

/**
 * How many commands of one user run at once, over all the user's sockets on this node: the
 * rest wait their turn (in arrival order), so a user with many sockets gets no bigger share
 * of the event loop and the database than one with a single socket.
 */
export class UserSlots {
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  constructor(private readonly perUser: number) {}

  async run<T>(userId: string, task: () => Promise<T>): Promise<T> {
    if ((this.running.get(userId) ?? 0) >= this.perUser) {
      await new Promise<void>((resolve) => {
        const queue = this.waiting.get(userId) ?? [];
        queue.push(resolve);
        this.waiting.set(userId, queue);
      });
    } else {
      this.running.set(userId, (this.running.get(userId) ?? 0) + 1);
    }
    try {
      return await task();
    } finally {
      const queue = this.waiting.get(userId);
      const next = queue?.shift();
      if (queue && queue.length === 0) this.waiting.delete(userId);
      if (next)
        next(); // the slot passes on as it is
      else {
        const left = (this.running.get(userId) ?? 1) - 1;
        if (left > 0) this.running.set(userId, left);
        else this.running.delete(userId);
      }
    }
  }
}
