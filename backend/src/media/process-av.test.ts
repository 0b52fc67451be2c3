// process-av: ffmpeg/ffprobe detection, probing, posters, waveforms and the guarded runner.
// Fixtures are made here with ffmpeg's lavfi sources; the ffmpeg tests skip (saying so)
// only where ffmpeg/ffprobe are not installed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import {
  detectFfmpeg,
  genericPoster,
  probeAv,
  runTool,
  stripAvMetadata,
  videoPoster,
  voiceWaveform,
} from './process-av.js';
import { MediaProcessingError } from './processing-error.js';

const FFMPEG = 'ffmpeg';
const FFPROBE = 'ffprobe';
const hasFfmpeg = await detectFfmpeg(FFMPEG, FFPROBE);
if (!hasFfmpeg) {
  console.warn(
    'process-av.test: ffmpeg/ffprobe not found on PATH — the ffmpeg tests are SKIPPED (apt-get install ffmpeg)',
  );
}
const describeAv = hasFfmpeg ? describe : describe.skip;

const run = promisify(execFile);
let dir: string;
const file = (name: string) => path.join(dir, name);

/** ffmpeg with lavfi inputs; `args` are the rest of the command line. */
async function ffmpeg(...args: string[]): Promise<Buffer> {
  const { stdout } = await run(FFMPEG, ['-nostdin', '-v', 'error', '-y', ...args], {
    encoding: 'buffer',
    maxBuffer: 64 << 20,
  });
  return stdout;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'parley-av-'));
  if (!hasFfmpeg) return;
  const testsrc = (spec: string) => ['-f', 'lavfi', '-i', `testsrc=${spec}`];
  const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
  // Red until 0.95 s, blue after: tells a poster taken at 1 s from one of the first frame.
  const redThenBlue = (d: number) => [
    '-f',
    'lavfi',
    '-i',
    `color=c=black:s=160x120:r=10:d=${d},format=yuv444p,geq=r='if(lt(T,0.95),255,0)':g=0:b='if(lt(T,0.95),0,255)'`,
  ];
  await ffmpeg(
    ...testsrc('duration=2:size=320x240:rate=10'),
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2'],
    ...x264,
    ...['-c:a', 'aac', '-shortest', file('video.mp4')],
  );
  await ffmpeg('-i', file('video.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', file('rotated.mp4'));
  // A phone video's kind of metadata: GPS location, device, and a display rotation.
  await ffmpeg(
    ...['-i', file('video.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90'],
    ...['-metadata', 'location=+48.8577+002.2950/', '-metadata', 'make=SecretPhone'],
    ...['-movflags', 'use_metadata_tags', file('tagged.mp4')],
  );
  await ffmpeg(...testsrc('duration=1.5:size=1920x1080:rate=5'), ...x264, file('big.mp4'));
  await ffmpeg(
    ...testsrc('duration=1:size=320x240:rate=5'),
    '-vf',
    'setsar=2/1',
    ...x264,
    file('anamorphic.mp4'),
  );
  await ffmpeg(...redThenBlue(2), ...x264, file('colour-2s.mp4'));
  await ffmpeg(...redThenBlue(0.5), ...x264, file('colour-short.mp4'));
  await ffmpeg(
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2'],
    ...['-c:a', 'libopus', '-metadata', 'title=SecretTitle', '-metadata:s:a:0', 'DEVICE=SecretMic'],
    file('voice.ogg'),
  );
  // Written to a pipe, as a browser's MediaRecorder does: the WebM has no duration in its header.
  const webm = await ffmpeg(
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2'],
    ...['-c:a', 'libopus', '-f', 'webm', 'pipe:1'],
  );
  await writeFile(file('voice.webm'), webm);
  // Silence for 1 s, then a loud tone for 1 s.
  await ffmpeg(
    ...['-f', 'lavfi', '-i', "aevalsrc='if(lt(t,1),0,0.5*sin(2*PI*440*t))':d=2:s=48000"],
    ...['-c:a', 'libopus', file('ramp.ogg')],
  );
  await writeFile(
    file('garbage.mp4'),
    Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256)),
  );
  // An HLS playlist posing as a video: ffmpeg's hls demuxer would read the listed file.
  await writeFile(
    file('playlist.mp4'),
    '#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n',
  );
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const expectMediaError = async (promise: Promise<unknown>, codes: string[]) => {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MediaProcessingError);
  expect(codes).toContain((err as MediaProcessingError).code);
  // What users may see names no path and quotes no tool output.
  expect((err as MediaProcessingError).reason).not.toContain(dir);
  expect((err as MediaProcessingError).reason).not.toMatch(/ffmpeg|ffprobe/i);
  return err as MediaProcessingError;
};

describe('detectFfmpeg', () => {
  it('is false for tools that are not there, and caches its answer', async () => {
    expect(await detectFfmpeg('/nonexistent/ffmpeg', '/nonexistent/ffprobe')).toBe(false);
    expect(detectFfmpeg('/nonexistent/ffmpeg', FFPROBE)).toBe(detectFfmpeg('/nonexistent/ffmpeg', FFPROBE));
  });

  (hasFfmpeg ? it : it.skip)('is true where ffmpeg and ffprobe run', async () => {
    expect(await detectFfmpeg(FFMPEG, FFPROBE)).toBe(true);
  });
});

describeAv('probeAv', () => {
  it('reads duration, size and streams of a 2-second video with sound', async () => {
    const probe = await probeAv(file('video.mp4'), FFPROBE);
    expect(probe).toMatchObject({ width: 320, height: 240, hasVideo: true, hasAudio: true });
    expect(probe.durationMs).toBeGreaterThanOrEqual(1900);
    expect(probe.durationMs).toBeLessThanOrEqual(2100);
  });

  it('reports the displayed size of a rotated phone video and of non-square pixels', async () => {
    expect(await probeAv(file('rotated.mp4'), FFPROBE)).toMatchObject({ width: 240, height: 320 });
    // 320×240 stored with 2:1 pixels displays 640×240, and so does its poster.
    expect(await probeAv(file('anamorphic.mp4'), FFPROBE)).toMatchObject({ width: 640, height: 240 });
    expect(await videoPoster(file('anamorphic.mp4'), file('poster-sar.jpg'), FFMPEG)).toEqual({
      width: 640,
      height: 240,
    });
  });

  it('finds the duration of a WebM voice note whose header has none, from its packets', async () => {
    const { stdout } = await run(FFPROBE, [
      '-v',
      'error',
      '-print_format',
      'json',
      '-show_format',
      file('voice.webm'),
    ]);
    expect(JSON.parse(stdout).format.duration).toBeUndefined();

    const probe = await probeAv(file('voice.webm'), FFPROBE);
    expect(probe).toMatchObject({ width: null, height: null, hasVideo: false, hasAudio: true });
    expect(probe.durationMs).toBeGreaterThanOrEqual(1900);
    expect(probe.durationMs).toBeLessThanOrEqual(2100);
  });

  it('reads an Ogg Opus voice note', async () => {
    const probe = await probeAv(file('voice.ogg'), FFPROBE);
    expect(probe).toMatchObject({ hasVideo: false, hasAudio: true });
    expect(Math.abs(probe.durationMs! - 2000)).toBeLessThanOrEqual(100);
  });

  it('throws MediaProcessingError for garbage and for an HLS playlist posing as a video', async () => {
    await expectMediaError(probeAv(file('garbage.mp4'), FFPROBE), ['corrupt']);
    const err = await expectMediaError(probeAv(file('playlist.mp4'), FFPROBE), ['corrupt']);
    // Refused at the demuxer whitelist, before the hls demuxer could open anything.
    expect(err.message).toMatch(/not on whitelist/);
  });

  it('says tool_missing when ffprobe is not at the path given', async () => {
    await expectMediaError(probeAv(file('video.mp4'), '/nonexistent/ffprobe'), ['tool_missing']);
  });
});

describeAv('stripAvMetadata', () => {
  const probeTags = async (f: string) => {
    const { stdout } = await run(FFPROBE, [
      '-v',
      'error',
      '-print_format',
      'json',
      '-show_format',
      '-show_streams',
      f,
    ]);
    return stdout;
  };

  it('removes location and device tags from a phone video, keeping its streams and rotation', async () => {
    const before = await probeTags(file('tagged.mp4'));
    expect(before).toContain('SecretPhone');
    expect(before).toContain('48.8577');
    const out = file('clean.mp4');
    await stripAvMetadata(file('tagged.mp4'), out, FFMPEG, 'video/mp4');
    const json = await probeTags(out);
    expect(json).not.toContain('SecretPhone');
    expect(json).not.toContain('48.8577');
    expect(json).not.toMatch(/"encoder": "Lavf/);
    const bytes = (await readFile(out)).toString('latin1');
    expect(bytes).not.toContain('SecretPhone');
    expect(bytes).not.toContain('48.8577');
    const probe = await probeAv(out, FFPROBE);
    expect(probe).toMatchObject({ width: 240, height: 320, hasVideo: true, hasAudio: true });
    expect(Math.abs(probe.durationMs! - 2000)).toBeLessThanOrEqual(100);
  });

  it('removes stream and file tags from an Ogg voice note', async () => {
    expect(await probeTags(file('voice.ogg'))).toContain('SecretMic');
    const out = file('clean.ogg');
    await stripAvMetadata(file('voice.ogg'), out, FFMPEG, 'audio/ogg');
    expect(await probeTags(out)).not.toMatch(/Secret/);
    expect((await voiceWaveform(out, FFMPEG, 8)).every((bar) => bar > 20)).toBe(true);
  });

  it('gives a browser-recorded WebM the duration its header lacked', async () => {
    const out = file('clean.webm');
    await stripAvMetadata(file('voice.webm'), out, FFMPEG, 'audio/webm');
    const { stdout } = await run(FFPROBE, ['-v', 'error', '-print_format', 'json', '-show_format', out]);
    expect(Math.abs(Number(JSON.parse(stdout).format.duration) * 1000 - 2000)).toBeLessThanOrEqual(100);
  });

  it('refuses types it has no muxer for, and damaged input', async () => {
    await expectMediaError(stripAvMetadata(file('video.mp4'), file('c1.bin'), FFMPEG, 'application/pdf'), [
      'unsupported',
    ]);
    await expectMediaError(stripAvMetadata(file('garbage.mp4'), file('c2.mp4'), FFMPEG, 'video/mp4'), [
      'corrupt',
    ]);
  });
});

describeAv('videoPoster', () => {
  it('writes a stripped JPEG of the video’s size', async () => {
    const out = file('poster.jpg');
    expect(await videoPoster(file('video.mp4'), out, FFMPEG)).toEqual({ width: 320, height: 240 });
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 320, 240]);
    expect(meta.exif).toBeUndefined();
    expect(meta.comments).toBeUndefined();
    expect((await readFile(out)).toString('latin1')).not.toMatch(/Lavc|Lavf/);
  });

  it('takes the frame at 1 s, or the first frame of a shorter video', async () => {
    const blueAt1s = file('poster-2s.jpg');
    await videoPoster(file('colour-2s.mp4'), blueAt1s, FFMPEG);
    const { data: late } = await sharp(blueAt1s).raw().toBuffer({ resolveWithObject: true });
    expect(late[2]!).toBeGreaterThan(200); // blue
    expect(late[0]!).toBeLessThan(60);

    const short = file('poster-short.jpg');
    expect(await videoPoster(file('colour-short.mp4'), short, FFMPEG)).toEqual({ width: 160, height: 120 });
    const { data: early } = await sharp(short).raw().toBuffer({ resolveWithObject: true });
    expect(early[0]!).toBeGreaterThan(200); // red
  });

  it('fits inside 1280 and follows the rotation', async () => {
    expect(await videoPoster(file('big.mp4'), file('poster-big.jpg'), FFMPEG)).toEqual({
      width: 1280,
      height: 720,
    });
    expect(await videoPoster(file('rotated.mp4'), file('poster-rot.jpg'), FFMPEG)).toEqual({
      width: 240,
      height: 320,
    });
  });

  it('throws MediaProcessingError for a voice note (no video) and for garbage', async () => {
    await expectMediaError(videoPoster(file('voice.ogg'), file('x.jpg'), FFMPEG), ['corrupt']);
    await expectMediaError(videoPoster(file('garbage.mp4'), file('y.jpg'), FFMPEG), [
      'tool_failed',
      'corrupt',
    ]);
  });
});

describeAv('voiceWaveform', () => {
  it('gives 64 bars of the tone’s peak by default (a 1/8-scale sine ≈ 32 of 255)', async () => {
    for (const voice of ['voice.ogg', 'voice.webm']) {
      const bars = await voiceWaveform(file(voice), FFMPEG);
      expect(bars).toHaveLength(64);
      for (const bar of bars) {
        expect(Number.isInteger(bar)).toBe(true);
        expect(bar).toBeGreaterThanOrEqual(24);
        expect(bar).toBeLessThanOrEqual(42);
      }
    }
  });

  it('follows the loudness over time', async () => {
    const bars = await voiceWaveform(file('ramp.ogg'), FFMPEG, 10);
    expect(bars).toHaveLength(10);
    for (const quiet of bars.slice(0, 4)) expect(quiet).toBeLessThan(8);
    for (const loud of bars.slice(6)) {
      expect(loud).toBeGreaterThan(110);
      expect(loud).toBeLessThanOrEqual(255);
    }
  });

  it('throws for a file without sound, and for a bar count out of range', async () => {
    await expectMediaError(voiceWaveform(file('big.mp4'), FFMPEG), ['corrupt']);
    await expect(voiceWaveform(file('voice.ogg'), FFMPEG, 0)).rejects.toThrow(RangeError);
  });
});

describe('genericPoster', () => {
  it('writes a dark 640×360 JPEG with a light play triangle in the middle', async () => {
    const out = file('generic.jpg');
    expect(await genericPoster(out)).toEqual({ width: 640, height: 360 });
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([640, 360]);
    const at = (x: number, y: number) => data[(y * info.width + x) * info.channels]!;
    expect(at(5, 5)).toBeLessThan(70);
    expect(at(315, 180)).toBeGreaterThan(200);
    expect((await sharp(out).metadata()).format).toBe('jpeg');
  });
});

describe('runTool', () => {
  it('kills a process that runs over its time limit', async () => {
    const started = Date.now();
    const err = await expectMediaError(runTool('sleep', ['5'], { timeoutMs: 200 }), ['timeout']);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err.reason).toBe('The file took too long to process.');
  });

  it('fails on a non-zero exit with stderr in the message only, and on a missing program', async () => {
    const err = await expectMediaError(runTool('sh', ['-c', 'echo broken pipe detail >&2; exit 3']), [
      'tool_failed',
    ]);
    expect(err.message).toContain('broken pipe detail');
    expect(err.reason).not.toContain('broken');
    await expectMediaError(runTool('/nonexistent/tool', []), ['tool_missing']);
  });

  it('stops a program that prints more than allowed', async () => {
    const err = await expectMediaError(
      runTool('head', ['-c', '100000', '/dev/zero'], { maxStdoutBytes: 1000 }),
      ['tool_failed'],
    );
    expect(err.message).toContain('more than 1000 bytes');
  });

  it('passes arguments as they are, never through a shell', async () => {
    const { stdout } = await runTool('printf', ['%s|', '$(echo hi)', 'a;b', '*']);
    expect(stdout.toString()).toBe('$(echo hi)|a;b|*|');
  });
});
