/**
 * The open-loop send schedule: message i of a phase has a fixed send time computed up
 * front from the rate (and the ramp-up), never from when earlier replies arrived. Latency
 * is measured from that time, so a server that falls behind cannot slow the schedule down
 * and hide its own slowness (coordinated omission).
 */

export interface RateShape {
  /** Messages per second once ramped up. */
  rate: number;
  /** Seconds of the phase. */
  durationS: number;
  /** Seconds over which the rate rises linearly from 0 to `rate`, inside `durationS`. */
  rampUpS: number;
}

/**
 * Messages due by `t` seconds into the phase: the integral of the rate. With a ramp-up R
 * the rate at t < R is rate·t/R, so N(t) = rate·t²/(2R); after it N grows by rate per second.
 */
export function dueBy(shape: RateShape, t: number): number {
  const { rate, rampUpS: r } = shape;
  const end = Math.min(Math.max(t, 0), shape.durationS);
  if (r <= 0) return rate * end;
  if (end <= r) return (rate * end * end) / (2 * r);
  return (rate * r) / 2 + rate * (end - r);
}

/** Whole messages in the phase. */
export function totalMessages(shape: RateShape): number {
  return Math.floor(dueBy(shape, shape.durationS) + 1e-9);
}

/** Seconds into the phase at which message `i` (0-based) is due: the inverse of dueBy at i. */
export function sendTime(shape: RateShape, i: number): number {
  const { rate, rampUpS: r } = shape;
  if (r <= 0) return i / rate;
  const rampMessages = (rate * r) / 2;
  if (i <= rampMessages) return Math.sqrt((2 * r * i) / rate);
  return r + (i - rampMessages) / rate;
}

/** A small seeded PRNG (mulberry32), so a run's send pattern can be repeated with --seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Fisher–Yates with the seeded generator. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
