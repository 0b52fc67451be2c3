import { describe, expect, it } from 'vitest';
import { dueBy, seededRandom, sendTime, shuffled, totalMessages } from './schedule.js';

describe('open-loop schedule', () => {
  it('spaces messages evenly at a constant rate', () => {
    const shape = { rate: 50, durationS: 60, rampUpS: 0 };
    expect(totalMessages(shape)).toBe(3000);
    expect(sendTime(shape, 0)).toBe(0);
    expect(sendTime(shape, 1)).toBeCloseTo(0.02, 9);
    expect(sendTime(shape, 2999)).toBeCloseTo(59.98, 9);
    expect(dueBy(shape, 10)).toBe(500);
    // Nothing is due after the end, however late we ask.
    expect(dueBy(shape, 1e9)).toBe(3000);
  });

  it('ramps the rate up linearly and then holds it', () => {
    const shape = { rate: 100, durationS: 30, rampUpS: 10 };
    // Half the full rate's messages during the ramp, then full rate.
    expect(dueBy(shape, 10)).toBeCloseTo(500, 9);
    expect(totalMessages(shape)).toBe(500 + 20 * 100);
    // Rate at the middle of the ramp is half: messages 5 s apart.. check the derivative.
    expect(dueBy(shape, 5.01) - dueBy(shape, 4.99)).toBeCloseTo(100 * 0.5 * 0.02, 6);
    expect(dueBy(shape, 20.01) - dueBy(shape, 19.99)).toBeCloseTo(2, 6);
  });

  it('sendTime inverts dueBy, so message i is due exactly when i messages are', () => {
    for (const shape of [
      { rate: 7, durationS: 20, rampUpS: 0 },
      { rate: 100, durationS: 30, rampUpS: 10 },
      { rate: 0.5, durationS: 100, rampUpS: 40 },
    ]) {
      const total = totalMessages(shape);
      let previous = -1;
      for (let i = 0; i < total; i++) {
        const t = sendTime(shape, i);
        expect(t).toBeGreaterThan(previous);
        expect(t).toBeLessThanOrEqual(shape.durationS);
        expect(dueBy(shape, t)).toBeCloseTo(i, 6);
        previous = t;
      }
    }
  });

  it('repeats the same send pattern for the same seed', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const items = Array.from({ length: 100 }, (_, i) => i);
    const s = shuffled(items, seededRandom(1));
    expect([...s].sort((x, y) => x - y)).toEqual(items);
    expect(s).not.toEqual(items);
  });
});
