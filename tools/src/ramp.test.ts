import { describe, expect, it } from 'vitest';
import { findMaxRate, judgeStep, type RampConfig } from './ramp.js';

const config: RampConfig = {
  startRate: 25,
  factor: 1.5,
  maxSteps: 10,
  refineSteps: 2,
  maxRate: 5000,
  p99BoundMs: 100,
};

/** A pretend server: fine up to `capacity` messages/s, then p99 explodes. */
const server = (capacity: number) => async (rate: number) => ({
  rate,
  p99Ms: rate <= capacity ? 20 : 400,
  missing: 0,
  failedSends: 0,
  received: Math.round(rate * 10),
});

describe('ramp', () => {
  it('judges a step by p99, losses and failed sends', () => {
    const ok = { rate: 10, p99Ms: 50, missing: 0, failedSends: 0, received: 100 };
    expect(judgeStep(ok, 100).passed).toBe(true);
    expect(judgeStep({ ...ok, p99Ms: 101 }, 100).reason).toMatch(/p99/);
    expect(judgeStep({ ...ok, missing: 1 }, 100).reason).toMatch(/missing/);
    expect(judgeStep({ ...ok, failedSends: 2 }, 100).reason).toMatch(/sends failed/);
    expect(judgeStep({ ...ok, received: 0 }, 100).passed).toBe(false);
  });

  it('climbs until a step fails, then bisects towards the ceiling', async () => {
    const result = await findMaxRate(config, server(100));
    // 25 → 38 → 57 → 86 → 129 (fails) → 108 (fails) → 97 (passes): budget of 2 refinements.
    expect(result.steps.map((s) => s.rate)).toEqual([25, 38, 57, 86, 129, 108, 97]);
    expect(result.maxSustainedRate).toBe(97);
    expect(result.firstFailingRate).toBe(108);
    expect(result.stoppedBecause).toBe('refinement done');
  });

  it('steps down when even the first rate fails', async () => {
    const result = await findMaxRate(config, server(10));
    expect(result.steps[0]!.passed).toBe(false);
    expect(result.maxSustainedRate).not.toBeNull();
    expect(result.maxSustainedRate!).toBeLessThanOrEqual(10);
  });

  it('stops at the maximum rate when nothing fails, and never exceeds the step budget', async () => {
    const capped = await findMaxRate({ ...config, maxRate: 60 }, server(1e9));
    expect(capped.steps.map((s) => s.rate)).toEqual([25, 38, 57, 60]);
    expect(capped.firstFailingRate).toBeNull();
    expect(capped.stoppedBecause).toMatch(/ramp-max-rate/);

    let calls = 0;
    const few = await findMaxRate({ ...config, maxSteps: 3 }, async (rate) => {
      calls += 1;
      return server(1e9)(rate);
    });
    expect(calls).toBe(3);
    expect(few.steps).toHaveLength(3);
  });

  it('stops when asked to', async () => {
    let stop = false;
    const result = await findMaxRate(
      config,
      async (rate) => {
        stop = true;
        return server(1e9)(rate);
      },
      () => stop,
    );
    expect(result.steps).toHaveLength(1);
    expect(result.stoppedBecause).toBe('interrupted');
  });
});
