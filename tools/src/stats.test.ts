import { afterEach, describe, expect, it } from 'vitest';
import { BIN_EDGES_MS, Ledger, LatencyRecorder, PhaseStats, type DeliveredMessage } from './stats.js';

const recorders: LatencyRecorder[] = [];
function recorder(): LatencyRecorder {
  const r = new LatencyRecorder();
  recorders.push(r);
  return r;
}
afterEach(() => recorders.splice(0).forEach((r) => r.destroy()));

/** HDR keeps 3 significant digits: a percentile is within 0.1 % of the true value. */
const close = (actual: number, expected: number) =>
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(expected * 0.002 + 0.001);

describe('LatencyRecorder', () => {
  it('reports the percentiles of a uniform distribution', () => {
    const r = recorder();
    for (let ms = 1; ms <= 10_000; ms++) r.record(ms);
    const s = r.summary();
    expect(s.count).toBe(10_000);
    expect(s.avg).toBe(5000.5);
    expect(s.min).toBe(1);
    expect(s.max).toBe(10_000);
    close(s.p50, 5000);
    close(s.p90, 9000);
    close(s.p95, 9500);
    close(s.p99, 9900);
    close(s.p999, 9990);
  });

  it('reports the percentiles of an exponential distribution (inverse CDF at even quantiles)', () => {
    const r = recorder();
    const mean = 20;
    const n = 100_000;
    for (let i = 0; i < n; i++) r.record(-Math.log(1 - (i + 0.5) / n) * mean);
    const s = r.summary();
    close(s.avg, mean);
    for (const [p, got] of [
      [50, s.p50],
      [90, s.p90],
      [99, s.p99],
      [99.9, s.p999],
    ] as const) {
      close(got, -Math.log(1 - p / 100) * mean);
    }
  });

  it('keeps sub-millisecond resolution (values are recorded in microseconds)', () => {
    const r = recorder();
    for (let i = 0; i < 1000; i++) r.record(0.25);
    const s = r.summary();
    expect(s.p50).toBe(0.25);
    expect(s.max).toBe(0.25);
  });

  it('gives zeros when nothing was recorded and a single value everywhere when one was', () => {
    expect(recorder().summary()).toEqual({
      count: 0,
      avg: 0,
      min: 0,
      p50: 0,
      p90: 0,
      p95: 0,
      p99: 0,
      p999: 0,
      max: 0,
    });
    const r = recorder();
    r.record(42);
    const s = r.summary();
    for (const v of [s.avg, s.min, s.p50, s.p99, s.p999, s.max]) close(v, 42);
  });

  it('puts every value in exactly one histogram bin, on the right side of its edges', () => {
    const r = recorder();
    const values = [0.01, 0.1, 0.5, 1, 9.99, 10, 250, 99_999, 100_000, 500_000];
    values.forEach((v) => r.record(v));
    const d = r.distribution();
    expect(d.counts.reduce((a, b) => a + b, 0)).toBe(values.length);
    // 10 ms is an edge: it belongs to the bin that starts at 10.
    expect(d.counts[BIN_EDGES_MS.indexOf(10)]).toBe(1);
    expect(d.counts.at(-2)).toBe(1); // 99.999 s is just below the last edge
    expect(d.counts.at(-1)).toBe(2); // 100 s and beyond
    expect(d.percentiles.at(-1)).toEqual({ p: 100, ms: 500_000 });
  });
});

describe('Ledger', () => {
  const message = (index: number, chatId: string, seq: number, id = `m${index}`): DeliveredMessage => ({
    id,
    chatId,
    seq,
    body: `lt:run:${index}: filler`,
  });

  function setup() {
    const ledger = new Ledger('lt:run:');
    // Chat A: devices 0 (sender), 1, 2. Chat B: devices 0 and 3.
    ledger.setChatDevices('A', [0, 1, 2]);
    ledger.setChatDevices('B', [0, 3]);
    const phase = new PhaseStats({ name: 'p', kind: 'steady', rate: 10, durationS: 1, rampUpS: 0 });
    phase.startAt = 0;
    return { ledger, phase, open: () => true };
  }

  it('writes the run tag and index at the start of the body, padded to the size', () => {
    const ledger = new Ledger('lt:abc:');
    const body = ledger.body(17, 64);
    expect(body).toHaveLength(64);
    expect(ledger.indexOf(body)).toBe(17);
    expect(ledger.indexOf('hello')).toBeUndefined();
    expect(ledger.indexOf('lt:other:3: x')).toBeUndefined();
  });

  it('gives every message its own clientMsgId, a UUID, the same each time it is asked', () => {
    const a = new Ledger('lt:a:');
    const b = new Ledger('lt:b:');
    const ids = [0, 1, 255, 2 ** 40].map((i) => a.clientMsgId(i));
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(4);
    expect(a.clientMsgId(255)).toBe(ids[2]);
    // Another run: other ids for the same indexes.
    expect(b.clientMsgId(0)).not.toBe(ids[0]);
  });

  it('counts add up: scheduled = sent + not sent, sent = acked + rejected + unanswered, expected = received + missing', () => {
    const { ledger, phase, open } = setup();
    const a = ledger.schedule(phase, 'A', 0, 0);
    const b = ledger.schedule(phase, 'A', 0, 10);
    const c = ledger.schedule(phase, 'B', 0, 20);
    const d = ledger.schedule(phase, 'B', 0, 30);
    const e = ledger.schedule(phase, 'A', 0, 40);
    [a, b, c, e].forEach((m) => ledger.sent(m, m.scheduledAt + 1));
    ledger.notSent(d);
    ledger.acked(a.index, 5, { ok: true, messageId: 'm0' });
    ledger.acked(b.index, 15, { ok: true, messageId: 'm1' });
    ledger.acked(c.index, 25, { ok: false, code: 'RATE_LIMITED' });
    // e is never answered.
    expect(ledger.receive(1, message(a.index, 'A', 1), 8, open)).toBe('delivery');
    expect(ledger.receive(2, message(a.index, 'A', 1), 9, open)).toBe('delivery');
    expect(ledger.receive(1, message(b.index, 'A', 2), 18, open)).toBe('delivery');
    const counts = phase.close();
    expect(counts).toMatchObject({
      scheduled: 5,
      sent: 4,
      notSent: 1,
      acked: 2,
      rejected: 1,
      unanswered: 1,
      rejectCodes: { RATE_LIMITED: 1 },
      expected: 2 + 2 + 1 + 1 + 2,
      received: 3,
      missing: 5,
      duplicates: 0,
      outOfOrder: 0,
    });
    expect(counts.scheduled).toBe(counts.sent + counts.notSent);
    expect(counts.sent).toBe(counts.acked + counts.rejected + counts.unanswered);
    expect(counts.expected).toBe(counts.received + counts.missing);
    // Latency runs from the scheduled time, not from the ack.
    expect(phase.delivery.summary()).toMatchObject({ count: 3, min: 8, max: 9 });
    expect(phase.ack.summary()).toMatchObject({ count: 2, min: 5, max: 5 });
    phase.destroy();
  });

  it('counts a second copy on the same device as a duplicate, not a delivery', () => {
    const { ledger, phase, open } = setup();
    const m = ledger.schedule(phase, 'A', 0, 0);
    ledger.sent(m, 0);
    expect(ledger.receive(1, message(m.index, 'A', 1), 5, open)).toBe('delivery');
    expect(ledger.receive(1, message(m.index, 'A', 1), 6, open)).toBe('duplicate');
    expect(ledger.receive(2, message(m.index, 'A', 1), 7, open)).toBe('delivery');
    const counts = phase.close();
    expect(counts).toMatchObject({ received: 2, duplicates: 1, missing: 0, outOfOrder: 0 });
    phase.destroy();
  });

  it('counts a lower seq after a higher one on a device as out of order, per chat', () => {
    const { ledger, phase, open } = setup();
    const ms = [0, 1, 2].map((i) => ledger.schedule(phase, 'A', 0, i));
    const other = ledger.schedule(phase, 'B', 0, 3);
    [...ms, other].forEach((m) => ledger.sent(m, 0));
    ledger.receive(1, message(ms[0]!.index, 'A', 1), 5, open);
    ledger.receive(1, message(ms[2]!.index, 'A', 3), 6, open);
    // seq 2 after seq 3 on device 1: out of order (but still delivered).
    expect(ledger.receive(1, message(ms[1]!.index, 'A', 2), 7, open)).toBe('delivery');
    // Device 2 sees them in order; another chat's seq 1 is not compared with chat A's.
    ledger.receive(2, message(ms[0]!.index, 'A', 1), 5, open);
    ledger.receive(2, message(ms[1]!.index, 'A', 2), 6, open);
    ledger.receive(3, message(other.index, 'B', 1), 6, open);
    const counts = phase.close();
    expect(counts.outOfOrder).toBe(1);
    expect(counts.received).toBe(6);
    expect(counts.duplicates).toBe(0);
    phase.destroy();
  });

  it("tells the sender's own echo, non-members, other traffic and late deliveries apart", () => {
    const { ledger, phase, open } = setup();
    const m = ledger.schedule(phase, 'B', 0, 0);
    ledger.sent(m, 0);
    expect(ledger.receive(0, message(m.index, 'B', 1), 2, open)).toBe('echo');
    expect(ledger.receive(0, message(m.index, 'B', 1), 3, open)).toBe('echo-duplicate');
    expect(ledger.receive(1, message(m.index, 'B', 1), 3, open)).toBe('unexpected');
    expect(ledger.receive(3, { id: 'x', chatId: 'B', seq: 9, body: 'hello from a human' }, 3, open)).toBe(
      'foreign',
    );
    expect(ledger.receive(3, message(m.index, 'B', 1), 4, () => false)).toBe('delivery');
    const counts = phase.close();
    expect(counts).toMatchObject({ echoes: 1, duplicates: 1, unexpected: 1, received: 0, missing: 1 });
    expect(ledger.foreign).toBe(1);
    expect(ledger.late).toBe(1);
    phase.destroy();
  });

  it('is settled once every sent message is answered and every deliverable copy arrived', () => {
    const { ledger, phase, open } = setup();
    const a = ledger.schedule(phase, 'B', 0, 0);
    const b = ledger.schedule(phase, 'A', 0, 0);
    ledger.sent(a, 0);
    ledger.sent(b, 0);
    expect(ledger.settled(phase)).toBe(false);
    ledger.acked(a.index, 1, { ok: true, messageId: 'a' });
    ledger.acked(b.index, 1, { ok: false, code: 'RATE_LIMITED' });
    expect(ledger.settled(phase)).toBe(false);
    ledger.receive(3, message(a.index, 'B', 1), 2, open);
    // b was refused: its two deliveries will never come and are not waited for.
    expect(ledger.settled(phase)).toBe(true);
    // An ack for a message that is no longer waiting changes nothing.
    ledger.acked(b.index, 3, { ok: true, messageId: 'b' });
    expect(phase.close()).toMatchObject({ acked: 1, rejected: 1, missing: 2 });
    phase.destroy();
  });

  it('groups the timeline by second of scheduled send time', () => {
    const { ledger, phase, open } = setup();
    const a = ledger.schedule(phase, 'A', 0, 100);
    const b = ledger.schedule(phase, 'A', 0, 1500);
    ledger.sent(a, 100);
    ledger.sent(b, 1500);
    ledger.receive(1, message(a.index, 'A', 1), 120, open);
    ledger.receive(2, message(a.index, 'A', 1), 140, open);
    ledger.receive(1, message(b.index, 'A', 2), 1600, open);
    const tl = phase.timeline();
    expect(tl.map((p) => [p.t, p.sent, p.received])).toEqual([
      [0, 1, 2],
      [1, 1, 1],
    ]);
    expect(tl[0]!.max).toBeCloseTo(40, 0);
    expect(tl[1]!.p50).toBeCloseTo(100, 0);
    phase.destroy();
  });
});
