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
 * the test's sandbox does not take for typed arrays. `again` reads the first picture that
 * many times over and gives, after each read, its text, the size of OpenCV's WebAssembly
 * heap, and where in that heap a 32 MB block goes: past every block in use (no hole left
 * inside by a picture of this size is that large), so it tells how much of the heap is in
 * use, where the heap's size only moves when it doubles.
 */
const CHILD = `
  import { createRequire } from 'node:module';
  import { buffer } from 'node:stream/consumers';
  const { loadOcrPipeline } = await import(process.env.OCR_PIPELINE);
  const cv = createRequire(process.env.OCR_PIPELINE)('@techstark/opencv-js');
  const request = JSON.parse((await buffer(process.stdin)).toString());
  const images = request.images.map((i) => ({ ...i, data: Buffer.from(i.data, 'base64') }));
  const ocr = await loadOcrPipeline();
  let result;
  if (request.job === 'upsideDown') result = await ocr.upsideDown(images);
  else if (request.job === 'read') {
    result = await Promise.all(images.map((image) => ocr.read({ ...image, channels: 4 })));
  } else {
    result = [];
    for (let n = 0; n < request.again; n += 1) {
      const lines = await ocr.read({ ...images[0], channels: 4 });
      const probe = cv._malloc(32 << 20);
      cv._free(probe);
      result.push({ text: lines.map((l) => l.text).join('\\n'), heap: cv.HEAPU8.length, inUse: probe });
    }
  }
  process.stdout.write(JSON.stringify(result));
`;
function inChild<T>(job: 'upsideDown' | 'read' | 'again', images: RgbaImage[], again = 0): Promise<T> {
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
        again,
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

/** A full page of text: 30 lines on 1200×1600, as a photographed or scanned page. */
const WORDS = 'harbour ledger invoice customs export cleared platform manifest waybill receipt'.split(' ');
const fullPage = () =>
  rendered(
    1200,
    1600,
    Array.from({ length: 30 }, (_, n) => {
      const words = Array.from({ length: 5 }, (_, k) => WORDS[(n * 7 + k * 3) % WORDS.length]);
      return (
        `<text x="40" y="${70 + n * 50}" font-family="DejaVu Sans" font-size="30">` +
        `${String(n + 1).padStart(2, '0')} ${words.join(' ')} ${1000 + n * 37}</text>`
      );
    }).join(''),
  );

describe('memory', () => {
  // OpenCV's WebAssembly heap never shrinks: whatever the line cutting leaves in it stays
  // until the process ends (up to its 1 GB ceiling, where cutting lines out fails). Reading
  // the page again must leave no more of it in use than the reads before. splitIntoLineImages,
  // which line-boxes.ts replaced, fails this: it left each line's image behind, and what was
  // in use went from 18 MB after the third read to 59 MB after the twentieth (about 2.3 MB
  // a read of this page), while the heap's size stayed at its first 128 MB throughout.
  it('reads a full page 20 times: the same text each time, and no more of the OpenCV heap in use', async () => {
    const reads = await inChild<{ text: string; heap: number; inUse: number }[]>(
      'again',
      [await fullPage()],
      20,
    );
    expect(reads[0]!.text.split('\n')).toHaveLength(30);
    expect(reads[0]!.text).toMatch(/harbour customs platform receipt/);
    for (const [n, read] of reads.entries())
      expect({ n, text: read.text }).toEqual({ n, text: reads[0]!.text });
    // After the first reads: allowance for what OpenCV sets up once.
    const settled = reads[2]!;
    expect(reads.slice(2).map((r) => r.heap)).toEqual(reads.slice(2).map(() => settled.heap));
    expect(reads.slice(2).map((r) => r.inUse)).toEqual(reads.slice(2).map(() => settled.inUse));
  }, 300_000);
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
