/**
 * What a load test counts and how: latency recorders (HDR histograms in microseconds),
 * the per-phase counters, and the ledger that matches every delivery to the message it
 * belongs to, dedupes it per device and checks each device's order by seq.
 */
import { build, type Histogram } from 'hdr-histogram-js';

/** Latencies are recorded in microseconds; HDR keeps 3 significant digits (0.1 % error). */
const HIGHEST_US = 3_600_000_000;

export interface LatencySummary {
  count: number;
  /** Milliseconds. Exact (kept as a running sum), not from the histogram. */
  avg: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  /** Exact. */
  max: number;
}

/** Log-spaced bins from 0.1 ms to 100 s, ten per decade: the histogram chart. */
export const BIN_EDGES_MS: number[] = Array.from({ length: 61 }, (_, i) => round3(0.1 * 10 ** (i / 10)));

export interface Distribution {
  /** Lower edge of each bin, ms; the first bin also holds everything below it. */
  edgesMs: number[];
  counts: number[];
  /** Latency at each percentile, for the percentile chart. */
  percentiles: { p: number; ms: number }[];
}

const CHART_PERCENTILES = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];

export class LatencyRecorder {
  private readonly hist: Histogram;
  private readonly bins = new Array<number>(BIN_EDGES_MS.length).fill(0);
  private sumMs = 0;
  private minMs = Infinity;
  private maxMs = 0;

  constructor(significantDigits: 1 | 2 | 3 = 3) {
    this.hist = build({
      bitBucketSize: 32,
      lowestDiscernibleValue: 1,
      highestTrackableValue: HIGHEST_US,
      numberOfSignificantValueDigits: significantDigits,
    });
  }

  get count(): number {
    return this.hist.totalCount;
  }

  record(ms: number): void {
    const value = Math.max(0, ms);
    this.hist.recordValue(Math.min(HIGHEST_US, Math.round(value * 1000)));
    this.sumMs += value;
    if (value < this.minMs) this.minMs = value;
    if (value > this.maxMs) this.maxMs = value;
    this.bins[binIndex(value)]! += 1;
  }

  /** Milliseconds at a percentile (0–100); 0 when nothing was recorded. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    if (p >= 100) return this.maxMs;
    // HDR answers with the top of the value's bucket, which can pass the exact maximum.
    return Math.min(this.maxMs, this.hist.getValueAtPercentile(p) / 1000);
  }

  summary(): LatencySummary {
    const n = this.count;
    return {
      count: n,
      avg: n ? round3(this.sumMs / n) : 0,
      min: n ? round3(this.minMs) : 0,
      p50: round3(this.percentile(50)),
      p90: round3(this.percentile(90)),
      p95: round3(this.percentile(95)),
      p99: round3(this.percentile(99)),
      p999: round3(this.percentile(99.9)),
      max: round3(this.maxMs),
    };
  }

  distribution(): Distribution {
    return {
      edgesMs: BIN_EDGES_MS,
      counts: [...this.bins],
      percentiles: this.count
        ? CHART_PERCENTILES.map((p) => ({ p, ms: round3(p === 0 ? this.minMs : this.percentile(p)) }))
        : [],
    };
  }

  destroy(): void {
    this.hist.destroy();
  }
}

function binIndex(ms: number): number {
  if (ms <= BIN_EDGES_MS[0]!) return 0;
  const i = Math.floor(10 * Math.log10(ms / 0.1) + 1e-9);
  return Math.min(BIN_EDGES_MS.length - 1, Math.max(0, i));
}

export function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** One second of a phase, by scheduled send time. */
export interface TimelinePoint {
  /** Seconds since the phase started. */
  t: number;
  sent: number;
  received: number;
  p50: number;
  p99: number;
  max: number;
}

export interface PhaseCounts {
  /** Messages the schedule called for. */
  scheduled: number;
  /** Written to a socket. scheduled = sent + notSent. */
  sent: number;
  /** The sender's device was not connected at its scheduled time. */
  notSent: number;
  /** Acknowledged ok. sent = acked + rejected + unanswered. */
  acked: number;
  /** Acknowledged with an error (see rejectCodes). */
  rejected: number;
  /** No ack by the end of the drain. */
  unanswered: number;
  rejectCodes: Record<string, number>;
  /** Recipient devices over all scheduled messages (the sending device excluded). */
  expected: number;
  /** Distinct (message, device) deliveries. expected = received + missing. */
  received: number;
  missing: number;
  /** The same message again on the same device (delivery is at least once). */
  duplicates: number;
  /** A device got a seq lower than one it had already seen in that chat. */
  outOfOrder: number;
  /** A run message on a device that is not a member of its chat (must be 0). */
  unexpected: number;
  /** The sender's own device received its message back (not a delivery). */
  echoes: number;
}

export interface PhaseSpec {
  name: string;
  kind: 'steady' | 'spike' | 'ramp-step';
  rate: number;
  durationS: number;
  rampUpS: number;
}

/** Counters and recorders of one phase. */
export class PhaseStats {
  readonly counts: PhaseCounts = {
    scheduled: 0,
    sent: 0,
    notSent: 0,
    acked: 0,
    rejected: 0,
    unanswered: 0,
    rejectCodes: {},
    expected: 0,
    received: 0,
    missing: 0,
    duplicates: 0,
    outOfOrder: 0,
    unexpected: 0,
    echoes: 0,
  };
  readonly delivery = new LatencyRecorder();
  readonly ack = new LatencyRecorder();
  /** Largest delay between a message's scheduled time and its actual write (the generator's lag). */
  maxSendLagMs = 0;
  private readonly seconds = new Map<number, { sent: number; received: number; rec: LatencyRecorder }>();
  /** performance.now() at the phase's time zero. */
  startAt = 0;
  /** Deliveries that can still come: recipients of messages neither refused nor left unsent. */
  deliverable = 0;

  constructor(readonly spec: PhaseSpec) {}

  second(scheduledAt: number) {
    const t = Math.max(0, Math.floor((scheduledAt - this.startAt) / 1000));
    let s = this.seconds.get(t);
    if (!s) {
      s = { sent: 0, received: 0, rec: new LatencyRecorder(2) };
      this.seconds.set(t, s);
    }
    return s;
  }

  /** Missing and unanswered are what is left when the phase is closed. */
  close(): PhaseCounts {
    const c = this.counts;
    c.missing = c.expected - c.received;
    c.unanswered = c.sent - c.acked - c.rejected;
    return c;
  }

  timeline(): TimelinePoint[] {
    return [...this.seconds.entries()]
      .sort(([a], [b]) => a - b)
      .map(([t, s]) => ({
        t,
        sent: s.sent,
        received: s.received,
        p50: round3(s.rec.percentile(50)),
        p99: round3(s.rec.percentile(99)),
        max: round3(s.rec.percentile(100)),
      }));
  }

  destroy(): void {
    this.delivery.destroy();
    this.ack.destroy();
    for (const s of this.seconds.values()) s.rec.destroy();
  }
}

/** A message of this run, from its scheduled time to its last delivery. */
export interface SentMessage {
  index: number;
  phase: PhaseStats;
  chatId: string;
  senderDevice: number;
  /** performance.now() of the scheduled send. */
  scheduledAt: number;
  state: 'scheduled' | 'sent' | 'acked' | 'rejected' | 'not-sent';
  messageId: string | undefined;
  /** Recipient devices that have it. */
  receivedBy: Set<number>;
  /** How many recipient devices should get it. */
  recipients: number;
}

/** What the ledger made of one incoming message:new frame. */
export type Receipt = 'delivery' | 'duplicate' | 'echo' | 'echo-duplicate' | 'unexpected' | 'foreign';

/** The fields of a delivered message the ledger needs (a subset of the contract's Message). */
export interface DeliveredMessage {
  id: string;
  chatId: string;
  seq: number;
  body: string;
}

/**
 * Every message of the run by index, and what each device has seen. Message bodies start
 * with `<tag><index>:` so a delivery finds its record without waiting for the ack.
 */
export class Ledger {
  private readonly messages = new Map<number, SentMessage>();
  private readonly chatDevices = new Map<string, Set<number>>();
  /** Per device: chatId → highest seq seen. */
  private readonly lastSeq = new Map<number, Map<string, number>>();
  /** Per device: message indexes seen as echoes (the sender's own device). */
  private readonly echoed = new Map<number, Set<number>>();
  private next = 0;
  /** Deliveries for a message whose phase had already been closed. */
  late = 0;
  /** message:new frames not from this run (other traffic on the server). */
  foreign = 0;
  lastReceiveAt = 0;

  constructor(readonly tag: string) {}

  /** The devices that are members of a chat: the sender's other devices included. */
  setChatDevices(chatId: string, devices: Iterable<number>): void {
    this.chatDevices.set(chatId, new Set(devices));
  }

  body(index: number, size: number): string {
    const head = `${this.tag}${index}:`;
    // Filler that looks like text and compresses like text.
    const filler = ' the quick brown fox jumps over the lazy dog';
    let body = head;
    while (body.length < size) body += filler;
    return body.slice(0, Math.max(size, head.length));
  }

  schedule(phase: PhaseStats, chatId: string, senderDevice: number, scheduledAt: number): SentMessage {
    const members = this.chatDevices.get(chatId);
    const recipients = members ? members.size - (members.has(senderDevice) ? 1 : 0) : 0;
    const msg: SentMessage = {
      index: this.next++,
      phase,
      chatId,
      senderDevice,
      scheduledAt,
      state: 'scheduled',
      messageId: undefined,
      receivedBy: new Set(),
      recipients,
    };
    this.messages.set(msg.index, msg);
    phase.counts.scheduled += 1;
    phase.counts.expected += recipients;
    phase.deliverable += recipients;
    return msg;
  }

  get(index: number): SentMessage | undefined {
    return this.messages.get(index);
  }

  sent(msg: SentMessage, at: number): void {
    msg.state = 'sent';
    const p = msg.phase;
    p.counts.sent += 1;
    p.second(msg.scheduledAt).sent += 1;
    p.maxSendLagMs = Math.max(p.maxSendLagMs, at - msg.scheduledAt);
  }

  notSent(msg: SentMessage): void {
    msg.state = 'not-sent';
    msg.phase.counts.notSent += 1;
    msg.phase.deliverable -= msg.recipients;
  }

  /** An ack arrived; answers for messages in any other state than "sent" are ignored. */
  acked(
    index: number,
    at: number,
    result: { ok: true; messageId: string } | { ok: false; code: string },
  ): void {
    const msg = this.messages.get(index);
    if (!msg || msg.state !== 'sent') return;
    const p = msg.phase;
    if (result.ok) {
      msg.state = 'acked';
      msg.messageId = result.messageId;
      p.counts.acked += 1;
      p.ack.record(at - msg.scheduledAt);
    } else {
      msg.state = 'rejected';
      p.counts.rejected += 1;
      p.deliverable -= msg.recipients;
      p.counts.rejectCodes[result.code] = (p.counts.rejectCodes[result.code] ?? 0) + 1;
    }
  }

  /** A message:new on `device`. Other runs' and non-load-test messages are "foreign". */
  receive(
    device: number,
    message: DeliveredMessage,
    at: number,
    phaseOpen: (p: PhaseStats) => boolean,
  ): Receipt {
    this.lastReceiveAt = at;
    const index = this.indexOf(message.body);
    const msg = index === undefined ? undefined : this.messages.get(index);
    if (!msg) {
      this.foreign += 1;
      return 'foreign';
    }
    const p = msg.phase;
    // Order is per device and chat: a lower seq after a higher one is out of order.
    let seen = this.lastSeq.get(device);
    if (!seen) this.lastSeq.set(device, (seen = new Map()));
    const last = seen.get(message.chatId) ?? 0;
    if (message.seq < last) p.counts.outOfOrder += 1;
    else seen.set(message.chatId, message.seq);

    if (device === msg.senderDevice) {
      let echoes = this.echoed.get(device);
      if (!echoes) this.echoed.set(device, (echoes = new Set()));
      if (echoes.has(msg.index)) {
        p.counts.duplicates += 1;
        return 'echo-duplicate';
      }
      echoes.add(msg.index);
      p.counts.echoes += 1;
      return 'echo';
    }
    if (!this.chatDevices.get(msg.chatId)?.has(device)) {
      p.counts.unexpected += 1;
      return 'unexpected';
    }
    if (msg.receivedBy.has(device)) {
      p.counts.duplicates += 1;
      return 'duplicate';
    }
    msg.receivedBy.add(device);
    if (!phaseOpen(p)) {
      this.late += 1;
      return 'delivery';
    }
    const latency = at - msg.scheduledAt;
    p.counts.received += 1;
    p.delivery.record(latency);
    const s = p.second(msg.scheduledAt);
    s.received += 1;
    s.rec.record(latency);
    return 'delivery';
  }

  /** True when every sent message of the phase is answered and fully delivered. */
  settled(p: PhaseStats): boolean {
    const c = p.counts;
    return c.acked + c.rejected === c.sent && c.received >= p.deliverable;
  }

  indexOf(body: string): number | undefined {
    if (!body.startsWith(this.tag)) return undefined;
    const end = body.indexOf(':', this.tag.length);
    if (end < 0) return undefined;
    const n = Number(body.slice(this.tag.length, end));
    return Number.isInteger(n) ? n : undefined;
  }
}
