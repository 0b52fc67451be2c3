/**
 * The OCR's steps with the real models, without the server: the direction classifier tells
 * a line the right way up from the same line upside down, and a page reads the same whichever
 * way it is turned. (media-analysis.test.ts covers the whole way, from upload to search.)
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import sharp from 'sharp';
import { decodeLine, joinLevels, turnHalf, type OcrLine, type RgbaImage } from './ocr-pipeline.js';

/**
 * The models run in a child process, as in the analysis process: onnxruntime hands back
 * typed arrays of Node's own realm, which the copy of onnxruntime-common jest loads into
 * the test's sandbox does not take for typed arrays.
 */
const CHILD = `
  import { buffer } from 'node:stream/consumers';
  const { loadOcrPipeline } = await import(process.env.OCR_PIPELINE);
  const request = JSON.parse((await buffer(process.stdin)).toString());
  const images = request.images.map((i) => ({ ...i, data: Buffer.from(i.data, 'base64') }));
  const ocr = await loadOcrPipeline();
  const result = request.job === 'upsideDown'
    ? await ocr.upsideDown(images)
    : await Promise.all(images.map((image) => ocr.read({ ...image, channels: 4 })));
  process.stdout.write(JSON.stringify(result));
`;
function inChild<T>(job: 'upsideDown' | 'read', images: RgbaImage[]): Promise<T> {
  const require = createRequire(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['--import', pathToFileURL(require.resolve('tsx/esm')).href, '--input-type=module', '-e', CHILD],
      {
        env: { ...process.env, OCR_PIPELINE: new URL('./ocr-pipeline.ts', import.meta.url).href },
        maxBuffer: 16 << 20,
      },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout) as T)),
    );
    child.stdin!.end(
      JSON.stringify({
        job,
        images: images.map((i) => ({ ...i, data: Buffer.from(i.data).toString('base64') })),
      }),
    );
  });
}

/** Text rendered black on white, as sharp decodes it (RGBA). */
async function rendered(width: number, height: number, body: string, turn = 0): Promise<RgbaImage> {
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<rect width="100%" height="100%" fill="#ffffff"/>${body}</svg>`,
  );
  const { data, info } = await sharp(svg)
    .rotate(turn)
    .ensureAlpha(1)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

const line = () =>
  rendered(
    560,
    64,
    `<text x="12" y="46" font-family="DejaVu Sans" font-size="36">Quarterly invoice 4711</text>`,
  );
const page = (turn: number) =>
  rendered(
    900,
    220,
    `<text x="30" y="90" font-family="DejaVu Sans" font-size="48">Harbour customs 8812</text>` +
      `<text x="30" y="170" font-family="DejaVu Sans" font-size="40">Cleared for export</text>`,
    turn,
  );

describe('the direction classifier', () => {
  it('tells a line the right way up from the same line upside down', async () => {
    const upright = await line();
    const [right, upside] = await inChild<number[]>('upsideDown', [upright, turnHalf(upright)]);
    expect(right).toBeLessThan(0.1);
    expect(upside).toBeGreaterThan(0.9);
  });
});

describe('reading a page', () => {
  const turns = [0, 90, 180, 270];
  let read: OcrLine[][];
  beforeAll(async () => {
    read = await inChild<OcrLine[][]>('read', await Promise.all(turns.map(page)));
  });

  it('reads the same lines the right way up, turned a quarter either way and upside down', () => {
    for (const [n, turn] of turns.entries()) {
      const text = read[n]!.map((l) => l.text).join(' | ');
      expect({ turn, text }).toEqual({ turn, text: expect.stringMatching(/Harbour customs 8812/) });
      expect({ turn, text }).toEqual({ turn, text: expect.stringMatching(/Cleared for export/) });
    }
  });

  it('upright lines are kept top to bottom, one line per level', () => {
    expect(read[0]!.map((l) => l.text)).toEqual(['Harbour customs 8812', 'Cleared for export']);
    for (const l of read[0]!) expect(l.score).toBeGreaterThan(0.9);
  });
});

describe('decoding and joining', () => {
  it('drops "no character" and repeats, and scores the characters kept', () => {
    // Classes: 0 none, 1 'a', 2 'b'. Steps: a a none a b → "aab".
    const steps = [
      [0.1, 0.8, 0.1],
      [0.1, 0.6, 0.3],
      [0.9, 0.05, 0.05],
      [0.2, 0.7, 0.1],
      [0.1, 0.2, 0.7],
    ];
    const decoded = decodeLine(Float32Array.from(steps.flat()), steps.length, 3, ['a', 'b']);
    expect(decoded.text).toBe('aab');
    expect(decoded.score).toBeCloseTo((0.8 + 0.7 + 0.7) / 3, 5);
  });

  it('joins pieces of one level left to right, levels top to bottom', () => {
    const box = (x: number, y: number) => [
      [x, y],
      [x + 100, y],
      [x + 100, y + 30],
      [x, y + 30],
    ];
    const joined = joinLevels([
      { text: 'second', score: 0.8, box: box(10, 100) },
      { text: 'world', score: 0.9, box: box(200, 12) },
      { text: 'hello', score: 0.7, box: box(10, 10) },
    ]);
    expect(joined.map((l) => l.text)).toEqual(['hello world', 'second']);
    expect(joined[0]!.score).toBeCloseTo(0.8, 5);
  });
});
