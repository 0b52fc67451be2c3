/** A voice note's waveform: WAVEFORM_BARS peaks, 0–255, scaled to the loudest. */
import { WAVEFORM_BARS } from '@parley/contracts';

/** Peaks of the samples (every channel), one per bar, the loudest bar 255. */
export function peaksOf(channels: readonly Float32Array[], bars = WAVEFORM_BARS): number[] {
  const length = channels[0]?.length ?? 0;
  const raw = new Array<number>(bars).fill(0);
  if (length === 0) return raw;
  for (let bar = 0; bar < bars; bar += 1) {
    const start = Math.floor((bar * length) / bars);
    const end = Math.max(start + 1, Math.floor(((bar + 1) * length) / bars));
    let peak = 0;
    for (const samples of channels) {
      for (let i = start; i < end && i < samples.length; i += 1) {
        const v = Math.abs(samples[i] ?? 0);
        if (v > peak) peak = v;
      }
    }
    raw[bar] = peak;
  }
  const loudest = Math.max(...raw);
  if (loudest <= 0) return raw.map(() => 0);
  return raw.map((p) => Math.min(255, Math.round((p / loudest) * 255)));
}

type AudioContextClass = typeof AudioContext;

/** Decode a recording and measure it; null when the browser cannot decode it. */
export async function analyseRecording(
  blob: Blob,
): Promise<{ waveform: number[]; durationMs: number } | null> {
  const Ctx: AudioContextClass | undefined =
    globalThis.AudioContext ??
    (globalThis as unknown as { webkitAudioContext?: AudioContextClass }).webkitAudioContext;
  if (!Ctx) return null;
  const ctx = new Ctx();
  try {
    const audio = await ctx.decodeAudioData(await blob.arrayBuffer());
    const channels = Array.from({ length: audio.numberOfChannels }, (_, i) => audio.getChannelData(i));
    return { waveform: peaksOf(channels), durationMs: Math.round(audio.duration * 1000) };
  } catch {
    return null;
  } finally {
    void ctx.close().catch(() => {});
  }
}
