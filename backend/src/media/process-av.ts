/**
 * Audio and video processing for uploads, by running ffprobe and ffmpeg: whether they are
 * installed, a file's duration and size, a copy without container metadata, a poster frame
 * for videos, a waveform for voice notes, and a neutral poster for servers without ffmpeg.
 *
 * Every run is a child process started with an argument array (never a shell), with stdin
 * closed and -nostdin, a time limit after which it is killed (SIGKILL), a cap on what it may
 * print, one decoding thread (parallelism comes from the media workers), and inputs limited
 * to local files (-protocol_whitelist file) read by the demuxers of the formats we accept
 * (-format_whitelist): an upload cannot make ffmpeg open a URL or another file, as an HLS
 * playlist disguised as a video would. Failures throw MediaProcessingError.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { MediaProcessingError, errorDetail } from './processing-error.js';

export interface AvProbe {
  /** null when neither the container nor the packets tell. */
  durationMs: number | null;
  /** The displayed size of the first video stream (rotation and pixel aspect applied); null without video. */
  width: number | null;
  height: number | null;
  /** A real video stream (cover art in an audio file does not count). */
  hasVideo: boolean;
  hasAudio: boolean;
}

/** Time limit of one ffmpeg/ffprobe run. */
export const AV_TIMEOUT_MS = 60_000;
const POSTER_BOX = 1280;
/** ffmpeg's demuxers for MP4/QuickTime ("mov,mp4,…"), WebM/Matroska, Ogg and raw AAC. */
const DEMUXERS = 'mov,matroska,ogg,aac';
/** Options before -i on every run that reads an upload. */
const INPUT_GUARDS = ['-protocol_whitelist', 'file', '-format_whitelist', DEMUXERS];
/** How every ffprobe run starts: errors only, and the input guards. */
const PROBE_ARGS = ['-v', 'error', ...INPUT_GUARDS];
/** How every ffmpeg run starts: no stdin, errors only, the input guards. */
const FFMPEG_ARGS = ['-nostdin', ...PROBE_ARGS];

const detected = new Map<string, Promise<boolean>>();

/**
 * Whether both ffmpeg and ffprobe run (`-version`); the answer is cached per pair of paths
 * for the life of the process. Never throws.
 */
export function detectFfmpeg(ffmpegPath: string, ffprobePath: string): Promise<boolean> {
  const key = `${ffmpegPath}\0${ffprobePath}`;
  let answer = detected.get(key);
  if (!answer) {
    const works = (tool: string) =>
      runTool(tool, ['-version'], { timeoutMs: 10_000, maxStdoutBytes: 1 << 20 }).then(
        () => true,
        () => false,
      );
    answer = Promise.all([works(ffmpegPath), works(ffprobePath)]).then(([a, b]) => a && b);
    detected.set(key, answer);
  }
  return answer;
}

interface FfprobeStream {
  codec_type?: string;
  width?: number;
  height?: number;
  duration?: string;
  sample_aspect_ratio?: string;
  disposition?: { attached_pic?: number };
  tags?: { rotate?: string };
  side_data_list?: { rotation?: number }[];
}

/**
 * Duration, displayed size and stream kinds of an audio or video file
 * (`ffprobe -show_format -show_streams`). When the container has no duration — WebM from a
 * browser's MediaRecorder, the usual voice note, has none — it is read from the last packet.
 */
export async function probeAv(inputPath: string, ffprobePath: string): Promise<AvProbe> {
  const { stdout } = await runTool(
    ffprobePath,
    [...PROBE_ARGS, '-print_format', 'json', '-show_format', '-show_streams', '-i', fileUrl(inputPath)],
    { maxStdoutBytes: 4 << 20 },
  ).catch(blameInput);
  let parsed: { format?: { duration?: string }; streams?: FfprobeStream[] };
  try {
    parsed = JSON.parse(stdout.toString('utf8'));
  } catch (err) {
    throw new MediaProcessingError('tool_failed', { detail: `ffprobe printed no JSON: ${errorDetail(err)}` });
  }
  const streams = parsed.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const audio = streams.find((s) => s.codec_type === 'audio');
  if (!video && !audio) throw new MediaProcessingError('corrupt', { detail: 'no audio or video stream' });

  let durationMs = seconds(parsed.format?.duration);
  if (durationMs === null) {
    const streamDurations = streams.map((s) => seconds(s.duration)).filter((d): d is number => d !== null);
    durationMs = streamDurations.length
      ? Math.max(...streamDurations)
      : await durationFromPackets(inputPath, ffprobePath, video ? 'v:0' : 'a:0');
  }

  let width = video?.width ?? null;
  let height = video?.height ?? null;
  // Non-square pixels (anamorphic video) display wider or narrower than stored, as the poster does.
  const sar = /^(\d+):(\d+)$/.exec(video?.sample_aspect_ratio ?? '');
  if (width !== null && sar && Number(sar[1]) > 0 && Number(sar[2]) > 0) {
    width = Math.round((width * Number(sar[1])) / Number(sar[2]));
  }
  const rotation =
    video?.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation ??
    Number(video?.tags?.rotate ?? 0);
  if (Math.abs(rotation) % 180 === 90) [width, height] = [height, width];
  return { durationMs, width, height, hasVideo: Boolean(video), hasAudio: Boolean(audio) };
}

/**
 * Writes a JPEG poster of a video to outPath: the frame at 1 s, or the first frame when the
 * video is shorter; rotated as the video displays, square pixels, fit inside 1280×1280
 * (never enlarged). ffmpeg hands sharp a PNG frame and sharp writes the JPEG, so the poster
 * carries no metadata (not even ffmpeg's encoder comment).
 */
export async function videoPoster(
  inputPath: string,
  outPath: string,
  ffmpegPath: string,
): Promise<{ width: number; height: number }> {
  const frameAt = async (seek: string[]): Promise<Buffer> => {
    const { stdout } = await runTool(
      ffmpegPath,
      [
        ...FFMPEG_ARGS,
        '-threads',
        '1',
        ...seek,
        '-i',
        fileUrl(inputPath),
        '-map',
        '0:v:0',
        '-frames:v',
        '1',
        '-vf',
        `scale=iw*sar:ih,setsar=1,scale=w='min(${POSTER_BOX},iw)':h='min(${POSTER_BOX},ih)':force_original_aspect_ratio=decrease`,
        '-f',
        'image2pipe',
        '-c:v',
        'png',
        'pipe:1',
      ],
      { maxStdoutBytes: 64 << 20 },
    ).catch(blameInput);
    return stdout;
  };
  let frame = await frameAt(['-ss', '1']);
  // Seeking past the end of a video shorter than 1 s yields no frame: take the first.
  if (frame.length === 0) frame = await frameAt([]);
  if (frame.length === 0)
    throw new MediaProcessingError('corrupt', { detail: 'ffmpeg decoded no video frame' });
  try {
    const info = await sharp(frame, { failOn: 'error' })
      .jpeg({ quality: 82, progressive: true })
      .toFile(outPath);
    return { width: info.width, height: info.height };
  } catch (err) {
    throw new MediaProcessingError('corrupt', { detail: errorDetail(err), cause: err });
  }
}

/** The muxers a cleaned file is written with, by its (sniffed) type; the next is tried when one refuses the streams. */
const REMUXERS: Record<string, { formats: string[]; args: string[] }> = {
  'video/mp4': { formats: ['mp4'], args: ['-movflags', '+faststart'] },
  'audio/mp4': { formats: ['mp4'], args: ['-movflags', '+faststart'] },
  'video/quicktime': { formats: ['mov'], args: ['-movflags', '+faststart'] },
  // A "WebM" from a browser may hold H.264, which only the Matroska muxer takes.
  'video/webm': { formats: ['webm', 'matroska'], args: [] },
  'audio/webm': { formats: ['webm', 'matroska'], args: [] },
  'audio/ogg': { formats: ['ogg'], args: [] },
  'audio/aac': { formats: ['adts'], args: [] },
};

/**
 * Writes to outPath the same audio and video streams as inputPath (copied, not re-encoded)
 * without the container's metadata: global and per-stream tags (GPS location, device make
 * and model, creation time, titles), chapters, and data/subtitle tracks, which phones use
 * for more of the same. The display rotation (side data, not a tag) is kept. As a side
 * effect a browser-recorded WebM gains the duration and cues its recorder could not write,
 * so it seeks. `mime` is the sniffed type (sniffType); others throw 'unsupported'.
 */
export async function stripAvMetadata(
  inputPath: string,
  outPath: string,
  ffmpegPath: string,
  mime: string,
): Promise<void> {
  const remux = REMUXERS[mime];
  if (!remux) throw new MediaProcessingError('unsupported', { detail: `no remuxer for ${mime}` });
  let lastError: unknown;
  for (const format of remux.formats) {
    try {
      await runTool(ffmpegPath, [
        ...FFMPEG_ARGS,
        '-i',
        fileUrl(inputPath),
        ...['-map', '0:v?', '-map', '0:a?', '-c', 'copy'],
        ...['-map_metadata', '-1', '-map_chapters', '-1', '-fflags', '+bitexact'],
        ...remux.args,
        ...['-f', format, '-y', fileUrl(outPath)],
      ]).catch(blameInput);
      return;
    } catch (err) {
      lastError = err;
      await rm(outPath, { force: true });
    }
  }
  throw lastError;
}

/** Samples per block of peaks while streaming (10 ms at 8 kHz); bars are made from blocks. */
const BLOCK_SAMPLES = 80;

/**
 * The waveform of a voice note: the audio decoded to 8 kHz mono 16-bit PCM, cut into `bars`
 * equal spans, each span's peak |sample| scaled from 0–32768 to 0–255 (absolute, not
 * normalised to the loudest bar: a quiet recording looks quiet; the client may normalise).
 * Decoding is streamed: memory holds one peak per 10 ms, not the audio.
 */
export async function voiceWaveform(inputPath: string, ffmpegPath: string, bars = 64): Promise<number[]> {
  if (!Number.isInteger(bars) || bars < 1 || bars > 1024)
    throw new RangeError('bars must be an integer in 1..1024');
  const peaks: number[] = [];
  let blockPeak = 0;
  let inBlock = 0;
  let carry: Buffer | null = null; // an odd byte left over between chunks
  const onStdout = (chunk: Buffer) => {
    let data = carry ? Buffer.concat([carry, chunk]) : chunk;
    carry = null;
    if (data.length % 2 === 1) {
      carry = data.subarray(data.length - 1);
      data = data.subarray(0, data.length - 1);
    }
    for (let i = 0; i < data.length; i += 2) {
      const sample = Math.abs(data.readInt16LE(i));
      if (sample > blockPeak) blockPeak = sample;
      if (++inBlock === BLOCK_SAMPLES) {
        peaks.push(blockPeak);
        blockPeak = 0;
        inBlock = 0;
      }
    }
  };
  await runTool(
    ffmpegPath,
    [
      ...FFMPEG_ARGS,
      '-threads',
      '1',
      '-i',
      fileUrl(inputPath),
      '-map',
      '0:a:0',
      '-ac',
      '1',
      '-ar',
      '8000',
      '-c:a',
      'pcm_s16le',
      '-f',
      's16le',
      'pipe:1',
    ],
    { onStdout },
  ).catch(blameInput);
  if (inBlock > 0) peaks.push(blockPeak);
  if (peaks.length === 0) throw new MediaProcessingError('corrupt', { detail: 'no audio samples decoded' });

  const out: number[] = [];
  for (let bar = 0; bar < bars; bar++) {
    const start = Math.floor((bar * peaks.length) / bars);
    const end = Math.max(start + 1, Math.floor(((bar + 1) * peaks.length) / bars));
    let peak = 0;
    for (let i = start; i < end; i++) peak = Math.max(peak, peaks[i]!);
    out.push(Math.min(255, Math.round((peak * 255) / 32768)));
  }
  return out;
}

const GENERIC_POSTER_SVG = Buffer.from(
  `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360" viewBox="0 0 640 360">
  <rect width="640" height="360" fill="#2b2d31"/>
  <circle cx="320" cy="180" r="56" fill="#3f4248"/>
  <path d="M302 148 L302 212 L352 180 Z" fill="#e3e5e8"/>
</svg>`,
);

/** Writes a neutral 640×360 JPEG poster (dark grey, a play triangle): videos on servers without ffmpeg. */
export async function genericPoster(outPath: string): Promise<{ width: number; height: number }> {
  const info = await sharp(GENERIC_POSTER_SVG).jpeg({ quality: 82 }).toFile(outPath);
  return { width: info.width, height: info.height };
}

// ---------------------------------------------------------------------------------------

export interface RunToolOptions {
  /** Kill the process (SIGKILL) and fail with 'timeout' after this long. Default AV_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Fail (and kill) when collected stdout grows past this. Default 16 MiB. */
  maxStdoutBytes?: number;
  /** Stream stdout here instead of collecting it (then no stdout cap applies). */
  onStdout?: (chunk: Buffer) => void;
}

/**
 * Runs a program with an argument array (no shell), stdin closed, and a time limit.
 * Resolves with stdout when it exits 0; otherwise throws MediaProcessingError:
 * 'tool_missing' (not found / not executable), 'timeout', 'tool_failed' (non-zero exit,
 * output too large; the last of stderr goes in the message for the logs).
 */
export function runTool(
  command: string,
  args: string[],
  opts: RunToolOptions = {},
): Promise<{ stdout: Buffer; stderr: string }> {
  const timeoutMs = opts.timeoutMs ?? AV_TIMEOUT_MS;
  const maxStdout = opts.maxStdoutBytes ?? 16 << 20;
  const name = path.basename(command);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
    });
    const chunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    let failure: MediaProcessingError | null = null;
    let settled = false;

    const stop = (err: MediaProcessingError) => {
      failure ??= err;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () => stop(new MediaProcessingError('timeout', { detail: `${name} ran over ${timeoutMs} ms` })),
      timeoutMs,
    );

    child.stdout.on('data', (chunk: Buffer) => {
      if (failure) return;
      if (opts.onStdout) {
        try {
          opts.onStdout(chunk);
        } catch (err) {
          stop(new MediaProcessingError('tool_failed', { detail: errorDetail(err), cause: err }));
        }
        return;
      }
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxStdout) {
        stop(
          new MediaProcessingError('tool_failed', { detail: `${name} printed more than ${maxStdout} bytes` }),
        );
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4096);
    });

    const finish = (err: MediaProcessingError | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve({ stdout: Buffer.concat(chunks), stderr });
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code === 'ENOENT' || err.code === 'EACCES' ? 'tool_missing' : 'tool_failed';
      finish(new MediaProcessingError(code, { detail: `${name}: ${errorDetail(err)}`, cause: err }));
    });
    child.on('close', (code, signal) => {
      if (failure) return finish(failure);
      if (code === 0) return finish(null);
      const last = stderr.trim().split('\n').slice(-2).join(' | ');
      finish(
        new MediaProcessingError('tool_failed', {
          detail: `${name} exited ${code ?? signal}${last ? `: ${last}` : ''}`,
        }),
      );
    });
  });
}

/** What ffmpeg/ffprobe print when the input itself is at fault (not the tool): 'corrupt'. */
const BAD_INPUT =
  /Invalid data found|moov atom not found|not on whitelist|matches no streams|does not contain any stream|End of file|Error while decoding/i;

/** Reclassifies a tool failure caused by the input as 'corrupt' (user sees "damaged" rather than "could not be processed"). */
function blameInput(err: unknown): never {
  if (err instanceof MediaProcessingError && err.code === 'tool_failed' && BAD_INPUT.test(err.message)) {
    throw new MediaProcessingError('corrupt', { detail: err.message, cause: err });
  }
  throw err;
}

/**
 * The duration of a stream from its last packet (pts + duration), for containers that do not
 * record one. Reads packet headers only, no decoding.
 */
async function durationFromPackets(
  inputPath: string,
  ffprobePath: string,
  stream: string,
): Promise<number | null> {
  const { stdout } = await runTool(
    ffprobePath,
    [
      ...PROBE_ARGS,
      '-select_streams',
      stream,
      '-show_entries',
      'packet=pts_time,duration_time',
      '-of',
      'csv=p=0',
      '-i',
      fileUrl(inputPath),
    ],
    { maxStdoutBytes: 32 << 20 },
  ).catch(blameInput);
  let endMs = 0;
  for (const line of stdout.toString('utf8').split('\n')) {
    const [pts, dur] = line.split(',');
    const start = seconds(pts);
    if (start !== null) endMs = Math.max(endMs, start + (seconds(dur) ?? 0));
  }
  return endMs > 0 ? endMs : null;
}

/** ffprobe's seconds ("2.000000", "N/A", undefined) as whole milliseconds, or null. */
function seconds(value: string | undefined): number | null {
  if (value === undefined) return null;
  const s = Number.parseFloat(value);
  return Number.isFinite(s) && s >= 0 ? Math.round(s * 1000) : null;
}

/**
 * An input for ffmpeg that is always a local file: "file:" + absolute path, so a name that
 * starts with "-" or looks like "concat:" or "http:" is still just a file.
 */
function fileUrl(inputPath: string): string {
  return `file:${path.resolve(inputPath)}`;
}
