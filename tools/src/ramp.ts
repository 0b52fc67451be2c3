/**
 * The ramp: the highest sustained send rate at which p99 delivery latency stays under a
 * bound with nothing lost. It climbs by a factor per step until a step fails, then
 * bisects between the last pass and the first failure; if the very first step fails it
 * steps down instead. The step budget covers all of it, so the search always ends.
 */

export interface RampConfig {
  startRate: number;
  factor: number;
  maxSteps: number;
  refineSteps: number;
  maxRate: number;
  p99BoundMs: number;
}

/** What a step must show to pass. */
export interface StepMeasure {
  rate: number;
  p99Ms: number;
  missing: number;
  /** Sends refused, unanswered or not sent. */
  failedSends: number;
  /** Deliveries received; a step with nothing delivered proves nothing. */
  received: number;
}

export interface RampStep extends StepMeasure {
  passed: boolean;
  /** Why it failed; empty when it passed. */
  reason: string;
}

export interface RampResult {
  config: RampConfig;
  steps: RampStep[];
  /** Highest rate that passed; null when none did. */
  maxSustainedRate: number | null;
  /** Lowest rate that failed; null when none did (the ceiling was not found). */
  firstFailingRate: number | null;
  /** Why the search stopped. */
  stoppedBecause: string;
}

export function judgeStep(m: StepMeasure, p99BoundMs: number): RampStep {
  const reasons: string[] = [];
  if (m.received === 0) reasons.push('nothing delivered');
  if (m.p99Ms > p99BoundMs) reasons.push(`p99 ${m.p99Ms.toFixed(1)} ms > ${p99BoundMs} ms`);
  if (m.missing > 0) reasons.push(`${m.missing} deliveries missing`);
  if (m.failedSends > 0) reasons.push(`${m.failedSends} sends failed`);
  return { ...m, passed: reasons.length === 0, reason: reasons.join('; ') };
}

/** Rates are whole messages per second above 10/s, one decimal below. */
function tidy(rate: number): number {
  return rate >= 10 ? Math.round(rate) : Math.round(rate * 10) / 10;
}

export async function findMaxRate(
  config: RampConfig,
  runStep: (rate: number, stepNo: number) => Promise<StepMeasure>,
  shouldStop: () => boolean = () => false,
): Promise<RampResult> {
  const steps: RampStep[] = [];
  let best: number | null = null;
  let worst: number | null = null;
  let refined = 0;
  let rate = tidy(Math.min(config.startRate, config.maxRate));
  let stoppedBecause = `step budget (${config.maxSteps}) used`;
  const tried = new Set<number>();

  for (let step = 0; step < config.maxSteps; step++) {
    if (shouldStop()) {
      stoppedBecause = 'interrupted';
      break;
    }
    tried.add(rate);
    const result = judgeStep(await runStep(rate, step + 1), config.p99BoundMs);
    steps.push(result);
    if (result.passed) best = best === null ? rate : Math.max(best, rate);
    else worst = worst === null ? rate : Math.min(worst, rate);

    let next: number;
    if (worst === null) {
      // Still climbing.
      if (rate >= config.maxRate) {
        stoppedBecause = `reached --ramp-max-rate (${config.maxRate}/s) without failing`;
        break;
      }
      next = tidy(Math.min(config.maxRate, rate * config.factor));
    } else if (best === null) {
      // Failing from the start: look lower.
      next = tidy(rate / config.factor);
      if (next < 0.1) {
        stoppedBecause = 'failed even at the lowest rate';
        break;
      }
    } else {
      // Bracketed: bisect until the budget or the resolution (5 %) runs out.
      next = tidy((best + worst) / 2);
      if (refined >= config.refineSteps || worst - best <= Math.max(1, best * 0.05) || tried.has(next)) {
        stoppedBecause = refined >= config.refineSteps ? 'refinement done' : 'resolution reached';
        break;
      }
      refined += 1;
    }
    if (tried.has(next)) {
      stoppedBecause = 'no new rate to try';
      break;
    }
    rate = next;
  }
  return { config, steps, maxSustainedRate: best, firstFailingRate: worst, stoppedBecause };
}
