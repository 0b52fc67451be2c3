/**
 * The retry bookkeeping: the outbox with the ledger, wired the way the fleet wires them
 * (a write is the ledger's first `sent` or a `resent`; giving up is "not sent", a final
 * refusal, or "unanswered"), on a clock moved by hand.
 */
import { describe, expect, it } from 'vitest';
import { Outbox, type RetryPolicy } from './retry.js';
import { Ledger, PhaseStats, type DeliveredMessage, type SentMessage } from './stats.js';

function setup(policy: RetryPolicy = { maxTries: 5, timeoutMs: 60_000 }) {
  let now = 1_000;
  const ledger = new Ledger('lt:run:');
  // Chat A: devices 0 (the sender), 1 and 2.
  ledger.setChatDevices('A', [0, 1, 2]);
  const phase = new PhaseStats({ name: 'p', kind: 'steady', rate: 10, durationS: 1, rampUpS: 0 });
  phase.startAt = 0;
  const ready = new Set<number>([0]);
  const writes: { index: number; clientMsgId: string; at: number }[] = [];
  const givenUp: { index: number; reason: string }[] = [];
  const outbox = new Outbox<SentMessage>(
    policy,
    {
      write(msg) {
        if (!ready.has(msg.senderDevice)) return false;
        writes.push({ index: msg.index, clientMsgId: ledger.clientMsgId(msg.index), at: now });
        msg.tries += 1;
        if (msg.state === 'scheduled') ledger.sent(msg, now, false);
        else ledger.resent(msg);
        return true;
      },
      giveUp(msg, reason) {
        givenUp.push({ index: msg.index, reason });
        if (msg.state === 'scheduled') ledger.notSent(msg);
        else if (msg.state === 'sent' && msg.lastCode)
          ledger.acked(msg.index, now, { ok: false, code: msg.lastCode });
      },
    },
    () => now,
    () => 0,
  );
  const schedule = (at = now) => ledger.schedule(phase, 'A', 0, at);
  /** The fleet's first write: on schedule, or into the outbox when the device is down. */
  const submit = (msg: SentMessage) => {
    if (ready.has(0)) {
      msg.tries += 1;
      writes.push({ index: msg.index, clientMsgId: ledger.clientMsgId(msg.index), at: now });
      ledger.sent(msg, now);
    } else outbox.offline(msg);
  };
  const advance = (ms: number) => {
    now += ms;
  };
  const message = (msg: SentMessage, seq: number, id = `id-${msg.index}`): DeliveredMessage => ({
    id,
    chatId: 'A',
    seq,
    body: ledger.body(msg.index, 40),
  });
  return {
    ledger,
    phase,
    outbox,
    ready,
    writes,
    givenUp,
    schedule,
    submit,
    advance,
    message,
    now: () => now,
  };
}

describe('sending again after a drop', () => {
  it('writes an unacked send again once the device is back, with the same clientMsgId, and counts the ack once', () => {
    const t = setup();
    const msg = t.schedule();
    t.submit(msg);
    // The socket closes before the ack: the fleet hands the send to the outbox.
    t.ready.delete(0);
    t.outbox.closed(msg);
    t.outbox.tick();
    expect(t.writes).toHaveLength(1);
    expect(t.outbox.pending).toBe(1);
    // Back after 700 ms of reconnecting.
    t.advance(700);
    t.ready.add(0);
    t.outbox.flush(0);
    const [first, second] = t.writes.map((w) => w.clientMsgId);
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-0{12}$/);
    expect(second).toBe(first);
    expect(t.outbox.pending).toBe(0);
    // The server had committed the first write: the retry is answered as a duplicate with the original.
    t.ledger.acked(msg.index, t.now(), { ok: true, messageId: 'id-0' });
    t.ledger.acked(msg.index, t.now() + 1, { ok: true, messageId: 'id-0' });
    const c = t.phase.close();
    expect(c).toMatchObject({ scheduled: 1, sent: 1, acked: 1, retried: 1, resends: 1, unanswered: 0 });
    // Latency from the scheduled time, not from the retry (no coordinated omission).
    expect(t.phase.ack.summary()).toMatchObject({ count: 1, max: 700 });
    expect(t.ledger.duplicatesAfterDedupe()).toBe(0);
    t.phase.destroy();
  });

  it('keeps messages scheduled while the device is down, and writes them in schedule order when it is back', () => {
    const t = setup();
    t.ready.delete(0);
    const msgs = [t.schedule(), t.schedule(), t.schedule()];
    for (const m of [msgs[2]!, msgs[0]!, msgs[1]!]) t.outbox.offline(m);
    t.outbox.tick();
    expect(t.writes).toEqual([]);
    expect(t.phase.counts).toMatchObject({ scheduled: 3, sent: 0, notSent: 0 });
    expect(t.ledger.settled(t.phase)).toBe(false);
    t.advance(2_000);
    t.ready.add(0);
    t.outbox.tick();
    expect(t.writes.map((w) => w.index)).toEqual([0, 1, 2]);
    expect(t.phase.counts).toMatchObject({ sent: 3, retried: 0, resends: 0 });
    // Written late because the device was away: not the generator's send lag.
    expect(t.phase.maxSendLagMs).toBe(0);
    t.phase.destroy();
  });

  it('sends a retryable refusal again after the wait the server asked for, and a final refusal never', () => {
    const t = setup();
    const busy = t.schedule();
    const blocked = t.schedule();
    t.submit(busy);
    t.submit(blocked);
    expect(t.outbox.refused(busy, 'SERVICE_UNAVAILABLE', 1_000)).toBe(true);
    expect(t.outbox.refused(blocked, 'FORBIDDEN', undefined)).toBe(false);
    t.ledger.acked(blocked.index, t.now(), { ok: false, code: 'FORBIDDEN' });
    t.advance(999);
    t.outbox.tick();
    expect(t.writes.map((w) => w.index)).toEqual([0, 1]);
    t.advance(1);
    t.outbox.tick();
    expect(t.writes.map((w) => w.index)).toEqual([0, 1, 0]);
    expect(t.outbox.counts.refusals).toEqual({ SERVICE_UNAVAILABLE: 1 });
    t.ledger.acked(busy.index, t.now(), { ok: true, messageId: 'id-0' });
    expect(t.phase.close()).toMatchObject({
      acked: 1,
      rejected: 1,
      rejectCodes: { FORBIDDEN: 1 },
      retried: 1,
    });
    t.phase.destroy();
  });

  it('gives up after the most tries: the last refusal is the answer', () => {
    const t = setup({ maxTries: 3, timeoutMs: 60_000 });
    const msg = t.schedule();
    t.submit(msg);
    for (let i = 0; i < 2; i++) {
      t.outbox.refused(msg, 'RATE_LIMITED', 300);
      t.advance(400);
      t.outbox.tick();
    }
    expect(t.writes).toHaveLength(3);
    t.outbox.refused(msg, 'RATE_LIMITED', 300);
    expect(t.givenUp).toEqual([{ index: 0, reason: 'tries' }]);
    expect(t.outbox.pending).toBe(0);
    expect(t.phase.close()).toMatchObject({
      sent: 1,
      acked: 0,
      rejected: 1,
      rejectCodes: { RATE_LIMITED: 1 },
    });
    expect(t.outbox.counts.givenUp).toEqual({ tries: 1 });
    t.phase.destroy();
  });

  it('gives up once the time since the scheduled send is over: never written is "not sent", written is "unanswered"', () => {
    const t = setup({ maxTries: 10, timeoutMs: 5_000 });
    const written = t.schedule();
    t.submit(written);
    t.ready.delete(0);
    t.outbox.closed(written);
    const never = t.schedule();
    t.outbox.offline(never);
    t.advance(5_000);
    t.outbox.tick();
    expect(t.givenUp).toEqual([]);
    t.advance(1);
    t.outbox.tick();
    expect(t.givenUp.map((g) => g.reason)).toEqual(['timeout', 'timeout']);
    const c = t.phase.close();
    expect(c).toMatchObject({ scheduled: 2, sent: 1, notSent: 1, acked: 0, rejected: 0, unanswered: 1 });
    expect(c.scheduled).toBe(c.sent + c.notSent);
    expect(c.sent).toBe(c.acked + c.rejected + c.unanswered);
    // The unsent one will never be delivered; the unanswered one may have been stored, so
    // its two deliveries are still waited for.
    expect(t.phase.deliverable).toBe(2);
    t.phase.destroy();
  });

  it('gives up everything still waiting when the run ends', () => {
    const t = setup();
    t.ready.delete(0);
    const a = t.schedule();
    t.outbox.offline(a);
    t.outbox.stop();
    expect(t.givenUp).toEqual([{ index: 0, reason: 'stopped' }]);
    expect(t.outbox.pending).toBe(0);
    expect(t.phase.counts.notSent).toBe(1);
    t.phase.destroy();
  });
});

describe('the ledger under failures', () => {
  it('tells live, resumed and REST deliveries apart, and REST copies of known messages are not duplicates', () => {
    const t = setup();
    const [a, b, c] = [t.schedule(), t.schedule(), t.schedule()];
    for (const m of [a, b, c]) t.submit(m);
    for (const m of [a, b, c]) t.ledger.acked(m.index, t.now(), { ok: true, messageId: `id-${m.index}` });
    const open = () => true;
    expect(t.ledger.receive(1, t.message(a, 1), 1_010, open, 'live')).toBe('delivery');
    expect(t.ledger.receive(1, t.message(b, 2), 1_020, open, 'resume')).toBe('delivery');
    // Replayed again on the next resume: a raw duplicate (deduped by id).
    expect(t.ledger.receive(1, t.message(b, 2), 1_030, open, 'resume')).toBe('duplicate');
    expect(t.ledger.receive(1, t.message(c, 3), 1_040, open, 'rest')).toBe('delivery');
    expect(t.ledger.receive(1, t.message(a, 1), 1_050, open, 'rest')).toBe('known');
    expect(t.ledger.receive(2, t.message(a, 1), 1_060, open, 'rest')).toBe('delivery');
    const counts = t.phase.close();
    expect(counts).toMatchObject({ received: 4, receivedByResume: 1, receivedByRest: 2, duplicates: 1 });
    const v = t.ledger.verdict();
    expect(v).toMatchObject({ ackedMessages: 3, expected: 6, live: 1, resume: 1, rest: 2, missing: 2 });
    expect(v.missingList).toEqual([
      { index: b.index, device: 2 },
      { index: c.index, device: 2 },
    ]);
    expect(v.duplicatesAfterDedupe).toBe(0);
    t.phase.destroy();
  });

  it('counts a message stored under a second id as a duplicate after dedupe', () => {
    const t = setup();
    const a = t.schedule();
    t.submit(a);
    t.ledger.acked(a.index, t.now(), { ok: true, messageId: 'id-first' });
    t.ledger.receive(1, t.message(a, 1, 'id-first'), 1_010, () => true);
    // A retry the server did not recognise: the same body again, as another message.
    t.ledger.receive(1, t.message(a, 2, 'id-second'), 1_020, () => true);
    t.ledger.receive(2, t.message(a, 2, 'id-second'), 1_020, () => true);
    expect(t.ledger.duplicatesAfterDedupe()).toBe(1);
    expect(t.ledger.verdict().duplicatesAfterDedupe).toBe(1);
    t.phase.destroy();
  });

  it('is not settled while a message waits in the outbox, even when everything sent is answered', () => {
    const t = setup();
    const a = t.schedule();
    t.submit(a);
    t.ledger.acked(a.index, t.now(), { ok: true, messageId: 'id-0' });
    t.ledger.receive(1, t.message(a, 1), 1_010, () => true);
    t.ledger.receive(2, t.message(a, 1), 1_010, () => true);
    expect(t.ledger.settled(t.phase)).toBe(true);
    t.ready.delete(0);
    const b = t.schedule();
    t.outbox.offline(b);
    expect(t.ledger.settled(t.phase)).toBe(false);
    t.phase.destroy();
  });
});
