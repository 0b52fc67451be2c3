/**
 * What a load test counts and how: latency recorders (HDR histograms in microseconds),
 * the per-phase counters, and the ledger that matches every delivery to the message it
 * belongs to, dedupes it per device and checks each device's order by seq.
 */
import { randomBytes } from 'node:crypto';
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
  /** Of received: replayed while the device resumed after a reconnect. */
  receivedByResume: number;
  /** Of received: fetched over REST (re-sync after sync:resync or a failed resume, or a seq gap). */
  receivedByRest: number;
  missing: number;
  /** The same message again on the same device (delivery is at least once). */
  duplicates: number;
  /** A device got a seq lower than one it had already seen in that chat. */
  outOfOrder: number;
  /** A run message on a device that is not a member of its chat (must be 0). */
  unexpected: number;
  /** The sender's own device received its message back (not a delivery). */
  echoes: number;
  /** Messages written more than once (same clientMsgId): after a drop or a retryable refusal. */
  retried: number;
  /** Writes after the first, over all messages. */
  resends: number;
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
    receivedByResume: 0,
    receivedByRest: 0,
    missing: 0,
    duplicates: 0,
    outOfOrder: 0,
    unexpected: 0,
    echoes: 0,
    retried: 0,
    resends: 0,
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

  /**
   * Missing and unanswered are what is left when the phase is closed. The answer is a
   * copy, so what still happens to the phase's messages later (a late ack, a retry given
   * up at the end) does not break its sums.
   */
  close(): PhaseCounts {
    const c = this.counts;
    c.missing = c.expected - c.received;
    c.unanswered = c.sent - c.acked - c.rejected;
    return { ...c, rejectCodes: { ...c.rejectCodes } };
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

/** How a device got a message: a live frame, a frame replayed on resume, or a REST fetch. */
export type Source = 'live' | 'resume' | 'rest';

/** A message of this run, from its scheduled time to its last delivery. */
export interface SentMessage {
  index: number;
  phase: PhaseStats;
  chatId: string;
  senderDevice: number;
  /** performance.now() of the scheduled send. */
  scheduledAt: number;
  state: 'scheduled' | 'sent' | 'acked' | 'rejected' | 'not-sent';
  /** The id the server gave it (from the ack or the first copy seen). */
  messageId: string | undefined;
  /** Other ids seen for the same message: the server stored it twice (must stay empty). */
  extraIds: string[] | undefined;
  /** Writes so far. */
  tries: number;
  /** The last retryable refusal, if any (what a message given up was last told). */
  lastCode: string | undefined;
  /** Recipient devices that have it, and how each got it first. */
  receivedBy: Map<number, Source>;
  /** How many recipient devices should get it. */
  recipients: number;
}

/** What the ledger made of one incoming message. */
export type Receipt =
  | 'delivery'
  | 'duplicate'
  | 'echo'
  | 'echo-duplicate'
  | 'unexpected'
  | 'foreign'
  /** Fetched over REST and already there: not a delivery, not a duplicate frame. */
  | 'known';

/** Every acked message looked for on every recipient device: how each got it, or not. */
export interface DeliveryVerdict {
  /** Messages acknowledged ok. */
  ackedMessages: number;
  /** Recipient devices of those messages. expected = live + resume + rest + missing. */
  expected: number;
  live: number;
  resume: number;
  rest: number;
  missing: number;
  /** (message index, device) of each missing delivery, at most MISSING_LIST_MAX. */
  missingList: { index: number; device: number }[];
  /** Messages the server stored under more than one id (a retry that made a second message). */
  duplicatesAfterDedupe: number;
}

/** Missing deliveries kept one by one for the final check; beyond this only counted. */
export const MISSING_LIST_MAX = 100_000;

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
  /** Over the whole run (phases' counts stop at their close): messages written again, and those writes. */
  retried = 0;
  resends = 0;
  /** message:new frames for a message the device already had, over the whole run. */
  duplicates = 0;
  lastReceiveAt = 0;

  /** Random per run: with the message index, each message's clientMsgId (see clientMsgId). */
  private readonly idPrefix = randomBytes(9).toString('hex');

  constructor(readonly tag: string) {}

  /**
   * The message's clientMsgId: a UUID made of a per-run random part and the index, the
   * same on every write (a retry returns the original), computed rather than stored.
   */
  clientMsgId(index: number): string {
    const p = this.idPrefix;
    const n = index.toString(16).padStart(12, '0');
    return `${p.slice(0, 8)}-${p.slice(8, 12)}-4${p.slice(12, 15)}-a${p.slice(15, 18)}-${n}`;
  }

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
      extraIds: undefined,
      tries: 0,
      lastCode: undefined,
      receivedBy: new Map(),
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

  /**
   * The first write of a message. `onSchedule` false: written later than scheduled because
   * its device was reconnecting, which is not the generator's lag.
   */
  sent(msg: SentMessage, at: number, onSchedule = true): void {
    msg.state = 'sent';
    const p = msg.phase;
    p.counts.sent += 1;
    p.second(msg.scheduledAt).sent += 1;
    if (onSchedule) p.maxSendLagMs = Math.max(p.maxSendLagMs, at - msg.scheduledAt);
  }

  /** A write after the first one, with the same clientMsgId (`tries` counts it already). */
  resent(msg: SentMessage): void {
    if (msg.tries === 2) {
      msg.phase.counts.retried += 1;
      this.retried += 1;
    }
    msg.phase.counts.resends += 1;
    this.resends += 1;
  }

  /** An id the server gave this message; a second, different one means it was stored twice. */
  noteId(msg: SentMessage, id: string): void {
    if (msg.messageId === undefined) msg.messageId = id;
    else if (msg.messageId !== id && !msg.extraIds?.includes(id)) (msg.extraIds ??= []).push(id);
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
      this.noteId(msg, result.messageId);
      p.counts.acked += 1;
      p.ack.record(at - msg.scheduledAt);
    } else {
      msg.state = 'rejected';
      p.counts.rejected += 1;
      p.deliverable -= msg.recipients;
      p.counts.rejectCodes[result.code] = (p.counts.rejectCodes[result.code] ?? 0) + 1;
    }
  }

  /**
   * A message on `device`: a message:new frame (live, or replayed on resume) or a message
   * fetched over REST. Other runs' and non-load-test messages are "foreign" (frames only).
   * A REST copy of something the device has is "known": fetching overlaps by design, so it
   * is neither a duplicate frame nor out of order.
   */
  receive(
    device: number,
    message: DeliveredMessage,
    at: number,
    phaseOpen: (p: PhaseStats) => boolean,
    source: Source = 'live',
  ): Receipt {
    const frame = source !== 'rest';
    if (frame) this.lastReceiveAt = at;
    const index = this.indexOf(message.body);
    const msg = index === undefined ? undefined : this.messages.get(index);
    if (!msg) {
      if (frame) this.foreign += 1;
      return 'foreign';
    }
    this.noteId(msg, message.id);
    const p = msg.phase;
    if (frame) {
      // Order is per device and chat: a lower seq after a higher one is out of order.
      let seen = this.lastSeq.get(device);
      if (!seen) this.lastSeq.set(device, (seen = new Map()));
      const last = seen.get(message.chatId) ?? 0;
      if (message.seq < last) p.counts.outOfOrder += 1;
      else seen.set(message.chatId, message.seq);
    }

    if (device === msg.senderDevice) {
      let echoes = this.echoed.get(device);
      if (!echoes) this.echoed.set(device, (echoes = new Set()));
      if (echoes.has(msg.index)) {
        if (!frame) return 'known';
        p.counts.duplicates += 1;
        this.duplicates += 1;
        return 'echo-duplicate';
      }
      echoes.add(msg.index);
      if (frame) p.counts.echoes += 1;
      return 'echo';
    }
    if (!this.chatDevices.get(msg.chatId)?.has(device)) {
      p.counts.unexpected += 1;
      return 'unexpected';
    }
    if (msg.receivedBy.has(device)) {
      if (!frame) return 'known';
      p.counts.duplicates += 1;
      this.duplicates += 1;
      return 'duplicate';
    }
    msg.receivedBy.set(device, source);
    if (source === 'rest') this.lastReceiveAt = at;
    if (!phaseOpen(p)) {
      this.late += 1;
      return 'delivery';
    }
    const latency = at - msg.scheduledAt;
    p.counts.received += 1;
    if (source === 'resume') p.counts.receivedByResume += 1;
    else if (source === 'rest') p.counts.receivedByRest += 1;
    p.delivery.record(latency);
    const s = p.second(msg.scheduledAt);
    s.received += 1;
    s.rec.record(latency);
    return 'delivery';
  }

  /**
   * True when every scheduled message is written (or given up), every written one is
   * answered, and every deliverable copy arrived.
   */
  settled(p: PhaseStats): boolean {
    const c = p.counts;
    return (
      c.sent + c.notSent === c.scheduled && c.acked + c.rejected === c.sent && c.received >= p.deliverable
    );
  }

  /** Ids beyond the first seen for the same message: the server stored a message twice. */
  duplicatesAfterDedupe(): number {
    let n = 0;
    for (const msg of this.messages.values()) n += msg.extraIds?.length ?? 0;
    return n;
  }

  /** The devices that should get messages of `chatId` (the sender's own device included). */
  devicesOf(chatId: string): ReadonlySet<number> {
    return this.chatDevices.get(chatId) ?? new Set();
  }

  /** Every message acknowledged ok, by chat. */
  ackedByChat(): Map<string, SentMessage[]> {
    const out = new Map<string, SentMessage[]>();
    for (const msg of this.messages.values()) {
      if (msg.state !== 'acked') continue;
      const list = out.get(msg.chatId);
      if (list) list.push(msg);
      else out.set(msg.chatId, [msg]);
    }
    return out;
  }

  /**
   * Every acked message on every recipient device (the sender's other devices included):
   * how it got there first (live, replayed on resume, over REST), or that it did not.
   * Late copies count: this is the state at the end, not a phase's.
   */
  verdict(): DeliveryVerdict {
    const v: DeliveryVerdict = {
      ackedMessages: 0,
      expected: 0,
      live: 0,
      resume: 0,
      rest: 0,
      missing: 0,
      missingList: [],
      duplicatesAfterDedupe: 0,
    };
    for (const msg of this.messages.values()) {
      if (msg.extraIds) v.duplicatesAfterDedupe += msg.extraIds.length;
      if (msg.state !== 'acked') continue;
      v.ackedMessages += 1;
      for (const device of this.chatDevices.get(msg.chatId) ?? []) {
        if (device === msg.senderDevice) continue;
        v.expected += 1;
        const source = msg.receivedBy.get(device);
        if (source) v[source] += 1;
        else {
          v.missing += 1;
          if (v.missingList.length < MISSING_LIST_MAX) v.missingList.push({ index: msg.index, device });
        }
      }
    }
    return v;
  }

  indexOf(body: string): number | undefined {
    if (!body.startsWith(this.tag)) return undefined;
    const end = body.indexOf(':', this.tag.length);
    if (end < 0) return undefined;
    const n = Number(body.slice(this.tag.length, end));
    return Number.isInteger(n) ? n : undefined;
  }
}
