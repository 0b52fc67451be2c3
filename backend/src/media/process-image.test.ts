// process-image: orientation, metadata stripping, sizes and formats of the variants,
// animation, placeholder, limits and errors. Fixtures are made here with sharp.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { processImage, type ProcessedImage } from './process-image.js';
import { MediaProcessingError } from './processing-error.js';

const MAX_PIXELS = 64_000_000;
let dir: string;
let n = 0;
const out = () => path.join(dir, `out-${++n}`);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'parley-image-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** 400×200, blue with a red 50×50 square at the top left (as stored, before orientation). */
function markedPixels(): Buffer {
  const raw = Buffer.alloc(400 * 200 * 3);
  for (let y = 0; y < 200; y++) {
    for (let x = 0; x < 400; x++) {
      const i = (y * 400 + x) * 3;
      if (x < 50 && y < 50) raw[i] = 255;
      else raw[i + 2] = 255;
    }
  }
  return raw;
}

const XMP =
  '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
  '<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.4N" ' +
  'exif:GPSLongitude="2,21.1E"/></rdf:RDF></x:xmpmeta>';

/** Tags in IFD0 of sharp's raw EXIF block ("Exif\0\0" + TIFF). */
function ifd0Tags(exif: Buffer): number[] {
  const tiff = exif.subarray(0, 4).toString('latin1') === 'Exif' ? exif.subarray(6) : exif;
  const le = tiff.toString('latin1', 0, 2) === 'II';
  const u16 = (o: number) => (le ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const u32 = (o: number) => (le ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  const ifd = u32(4);
  return Array.from({ length: u16(ifd) }, (_, i) => u16(ifd + 2 + i * 12));
}
const GPS_IFD_POINTER = 0x8825;

async function rgbAt(file: string, x: number, y: number): Promise<[number, number, number]> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i]!, data[i + 1]!, data[i + 2]!];
}
const isRed = ([r, g, b]: number[]) => r! > 200 && g! < 60 && b! < 60;
const isBlue = ([r, g, b]: number[]) => r! < 60 && g! < 60 && b! > 200;

function variant(result: ProcessedImage, name: 'thumbnail' | 'preview' | 'original') {
  const v = result.variants.find((x) => x.name === name);
  if (!v) throw new Error(`no ${name} variant`);
  return v;
}

/** Inserts a PNG chunk (e.g. tEXt) right after IHDR. */
function withPngChunk(png: Buffer, type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  const afterIhdr = 8 + 8 + 13 + 4;
  return Buffer.concat([png.subarray(0, afterIhdr), len, body, crc, png.subarray(afterIhdr)]);
}

describe('processImage: orientation and metadata', () => {
  let input: string;
  let result: ProcessedImage;

  beforeAll(async () => {
    input = path.join(dir, 'camera.jpg');
    await sharp(markedPixels(), { raw: { width: 400, height: 200, channels: 3 } })
      .jpeg({ quality: 95 })
      .withExif({
        IFD0: { Make: 'TestCam', Model: 'SecretPhone 9', ImageDescription: 'home address' },
        IFD3: {
          GPSLatitudeRef: 'N',
          GPSLatitude: '48/1 51/1 2400/100',
          GPSLongitudeRef: 'E',
          GPSLongitude: '2/1 21/1 0/1',
        },
      })
      .withMetadata({ orientation: 6 })
      .withXmp(XMP)
      .toFile(input);
    result = await processImage(input, out(), { keepOriginal: true, maxPixels: MAX_PIXELS });
  });

  it('the fixture really carries orientation 6, EXIF with a GPS block and XMP with GPS', async () => {
    const meta = await sharp(input).metadata();
    expect(meta.orientation).toBe(6);
    expect(ifd0Tags(meta.exif!)).toContain(GPS_IFD_POINTER);
    const bytes = (await readFile(input)).toString('latin1');
    for (const marker of ['Exif', 'TestCam', 'SecretPhone', 'GPSLatitude', 'xmpmeta'])
      expect(bytes).toContain(marker);
  });

  it('applies the orientation: 400×200 stored comes out 200×400 with the red corner at the top right', async () => {
    expect(result).toMatchObject({ width: 200, height: 400, animated: false });
    for (const name of ['preview', 'original'] as const) {
      const v = variant(result, name);
      expect([v.width, v.height]).toEqual([200, 400]); // never enlarged
      const meta = await sharp(v.path).metadata();
      expect([meta.width, meta.height]).toEqual([200, 400]);
      expect(isRed(await rgbAt(v.path, 190, 10))).toBe(true); // was top-left
      expect(isBlue(await rgbAt(v.path, 10, 10))).toBe(true);
      expect(isBlue(await rgbAt(v.path, 190, 390))).toBe(true);
    }
    const thumb = variant(result, 'thumbnail');
    expect([thumb.width, thumb.height]).toEqual([160, 320]);
    expect(isRed(await rgbAt(thumb.path, 152, 4))).toBe(true);
  });

  it('strips EXIF (with GPS), XMP, IPTC and ICC from every variant, down to the bytes', async () => {
    expect(result.variants.map((v) => v.name)).toEqual(['thumbnail', 'preview', 'original']);
    for (const v of result.variants) {
      expect(v.mime).toBe('image/jpeg');
      const meta = await sharp(v.path).metadata();
      expect(meta.format).toBe('jpeg');
      expect(meta.exif).toBeUndefined();
      expect(meta.xmp).toBeUndefined();
      expect(meta.iptc).toBeUndefined();
      expect(meta.orientation).toBeUndefined();
      expect(meta.hasProfile).toBe(false);
      const bytes = (await readFile(v.path)).toString('latin1');
      for (const marker of ['Exif', 'GPS', 'TestCam', 'SecretPhone', 'home address', 'xmpmeta', 'adobe']) {
        expect(bytes).not.toContain(marker);
      }
      expect(v.size).toBe((await stat(v.path)).size);
    }
  });

  it('writes the variants into outDir, with a tiny WebP placeholder', async () => {
    const v = variant(result, 'preview');
    expect(path.basename(v.path)).toBe('preview.jpg');
    expect(result.placeholder).toMatch(/^data:image\/webp;base64,[A-Za-z0-9+/]+=*$/);
    expect(result.placeholder.length).toBeLessThanOrEqual(1024);
    const tiny = Buffer.from(result.placeholder.split(',')[1]!, 'base64');
    const meta = await sharp(tiny).metadata();
    expect(meta.format).toBe('webp');
    expect(Math.max(meta.width, meta.height)).toBeLessThanOrEqual(16);
    expect(meta.height).toBeGreaterThan(meta.width); // oriented, like the image
  });
});

describe('processImage: sizes and formats', () => {
  it('fits large images inside 320 and 1280 and leaves the original full size', async () => {
    const input = path.join(dir, 'large.jpg');
    await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#8a5' } })
      .jpeg()
      .toFile(input);
    const result = await processImage(input, out(), { keepOriginal: true, maxPixels: MAX_PIXELS });
    expect(result.variants.map((v) => [v.name, v.width, v.height])).toEqual([
      ['thumbnail', 320, 213],
      ['preview', 1280, 853],
      ['original', 3000, 2000],
    ]);
  });

  it('writes a capped original for standard quality (originalMaxPx), full size when keepOriginal', async () => {
    const input = path.join(dir, 'wide.jpg');
    await sharp({ create: { width: 4000, height: 1000, channels: 3, background: '#468' } })
      .jpeg()
      .toFile(input);
    const standard = await processImage(input, out(), {
      keepOriginal: false,
      originalMaxPx: 2560,
      maxPixels: MAX_PIXELS,
    });
    expect([variant(standard, 'original').width, variant(standard, 'original').height]).toEqual([2560, 640]);
    const full = await processImage(input, out(), {
      keepOriginal: true,
      originalMaxPx: 2560,
      maxPixels: MAX_PIXELS,
    });
    expect([variant(full, 'original').width, variant(full, 'original').height]).toEqual([4000, 1000]);
    // Never enlarged.
    const small = path.join(dir, 'small-standard.jpg');
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#468' } })
      .jpeg()
      .toFile(small);
    const capped = await processImage(small, out(), {
      keepOriginal: false,
      originalMaxPx: 2560,
      maxPixels: MAX_PIXELS,
    });
    expect([variant(capped, 'original').width, variant(capped, 'original').height]).toEqual([300, 200]);
  });

  it('writes no original unless asked', async () => {
    const input = path.join(dir, 'small.jpg');
    await sharp({ create: { width: 64, height: 48, channels: 3, background: '#123' } })
      .jpeg()
      .toFile(input);
    const outDir = out();
    const result = await processImage(input, outDir, { keepOriginal: false, maxPixels: MAX_PIXELS });
    expect(result.variants.map((v) => v.name)).toEqual(['thumbnail', 'preview']);
    expect((await readdir(outDir)).sort()).toEqual(['preview.jpg', 'thumbnail.jpg']);
  });

  it('keeps transparency: PNG with alpha stays PNG, and drops PNG text chunks', async () => {
    const rgba = Buffer.alloc(100 * 100 * 4);
    for (let i = 0; i < 100 * 100; i++) {
      rgba[i * 4] = 200;
      rgba[i * 4 + 3] = i % 100 < 50 ? 0 : 255; // left half transparent
    }
    const png = await sharp(rgba, { raw: { width: 100, height: 100, channels: 4 } })
      .png()
      .toBuffer();
    const input = path.join(dir, 'alpha.png');
    await writeFile(input, withPngChunk(png, 'tEXt', Buffer.from('Comment\0SecretComment', 'latin1')));
    expect((await sharp(input).metadata()).comments).toEqual([{ keyword: 'Comment', text: 'SecretComment' }]);

    const result = await processImage(input, out(), { keepOriginal: true, maxPixels: MAX_PIXELS });
    for (const v of result.variants) {
      expect(v.mime).toBe('image/png');
      const meta = await sharp(v.path).metadata();
      expect(meta.hasAlpha).toBe(true);
      expect(meta.comments).toBeUndefined();
      expect((await readFile(v.path)).toString('latin1')).not.toContain('SecretComment');
      const { data, info } = await sharp(v.path).raw().toBuffer({ resolveWithObject: true });
      expect(data[3]).toBe(0); // top-left pixel still transparent
      expect(data[(info.width - 1) * 4 + 3]).toBe(255);
    }
  });

  it('turns an opaque PNG into JPEG thumbnail and preview but keeps a lossless PNG original', async () => {
    const input = path.join(dir, 'opaque.png');
    await sharp({ create: { width: 500, height: 300, channels: 3, background: '#0a0' } })
      .png()
      .toFile(input);
    const result = await processImage(input, out(), { keepOriginal: true, maxPixels: MAX_PIXELS });
    expect(result.variants.map((v) => [v.name, v.mime, path.extname(v.path)])).toEqual([
      ['thumbnail', 'image/jpeg', '.jpg'],
      ['preview', 'image/jpeg', '.jpg'],
      ['original', 'image/png', '.png'],
    ]);
    expect((await sharp(variant(result, 'preview').path).metadata()).chromaSubsampling).toBe('4:4:4');
  });

  it('keeps WebP as WebP and turns a still GIF into PNG', async () => {
    const webp = path.join(dir, 'still.webp');
    await sharp({ create: { width: 400, height: 400, channels: 3, background: '#abc' } })
      .webp()
      .toFile(webp);
    const fromWebp = await processImage(webp, out(), { keepOriginal: true, maxPixels: MAX_PIXELS });
    expect(fromWebp.variants.map((v) => v.mime)).toEqual(['image/webp', 'image/webp', 'image/webp']);
    expect(fromWebp.animated).toBe(false);

    const gif = path.join(dir, 'still.gif');
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#f00' } })
      .gif()
      .toFile(gif);
    const fromGif = await processImage(gif, out(), { keepOriginal: true, maxPixels: MAX_PIXELS });
    expect(fromGif.variants.map((v) => v.mime)).toEqual(['image/png', 'image/png', 'image/png']);
  });

  it('converts colours from an embedded profile (Display P3) to sRGB and drops the profile', async () => {
    const raw = Buffer.alloc(20 * 20 * 3);
    for (let i = 0; i < raw.length; i += 3) raw.set([200, 100, 50], i);
    const input = path.join(dir, 'p3.jpg');
    // sharp converts the sRGB pixels to P3 and tags them: stored values differ from the colour.
    await sharp(raw, { raw: { width: 20, height: 20, channels: 3 } })
      .withIccProfile('p3')
      .jpeg({ quality: 100 })
      .toFile(input);
    const stored = await sharp(input, { ignoreIcc: true }).raw().toBuffer();
    expect(Math.abs(stored[0]! - 200)).toBeGreaterThan(8);

    const result = await processImage(input, out(), { keepOriginal: true, maxPixels: MAX_PIXELS });
    const original = variant(result, 'original').path;
    expect((await sharp(original).metadata()).hasProfile).toBe(false);
    const [r, g, b] = await rgbAt(original, 10, 10);
    expect(Math.abs(r - 200)).toBeLessThanOrEqual(4);
    expect(Math.abs(g - 100)).toBeLessThanOrEqual(4);
    expect(Math.abs(b - 50)).toBeLessThanOrEqual(4);
  });
  it('turns a CMYK JPEG (print files) into sRGB', async () => {
    const input = path.join(dir, 'cmyk.jpg');
    await sharp({ create: { width: 50, height: 40, channels: 3, background: '#cc3333' } })
      .toColourspace('cmyk')
      .jpeg({ quality: 95 })
      .toFile(input);
    expect((await sharp(input).metadata()).space).toBe('cmyk');
    const result = await processImage(input, out(), { keepOriginal: false, maxPixels: MAX_PIXELS });
    const preview = variant(result, 'preview').path;
    const meta = await sharp(preview).metadata();
    expect([meta.space, meta.channels]).toEqual(['srgb', 3]);
    const [r, g, b] = await rgbAt(preview, 25, 20);
    expect(r).toBeGreaterThan(150);
    expect(Math.max(g, b)).toBeLessThan(110);
  });
});

describe('processImage: animation', () => {
  /** 4 different frames of 60×40 (RGBA, left strip transparent), 100–400 ms each. */
  async function animation(file: string, format: 'gif' | 'webp') {
    const frames = Buffer.alloc(60 * 40 * 4 * 4);
    for (let p = 0; p < 4; p++) {
      for (let i = 0; i < 60 * 40; i++) {
        const o = (p * 60 * 40 + i) * 4;
        frames.set([p * 60, (i % 60) * 4, 100, i % 60 < 10 ? 0 : 255], o);
      }
    }
    const img = sharp(frames, { raw: { width: 60, height: 160, channels: 4, pageHeight: 40 } });
    const delay = [100, 200, 300, 400];
    await (format === 'gif' ? img.gif({ delay, loop: 0 }) : img.webp({ delay, loop: 0 })).toFile(file);
  }

  it('an animated GIF comes out as animated GIFs with every frame and its delay', async () => {
    const input = path.join(dir, 'anim.gif');
    await animation(input, 'gif');
    const result = await processImage(input, out(), { keepOriginal: true, maxPixels: MAX_PIXELS });
    expect(result).toMatchObject({ width: 60, height: 40, animated: true });
    for (const v of result.variants) {
      expect(v.mime).toBe('image/gif');
      expect([v.width, v.height]).toEqual([60, 40]);
      const meta = await sharp(v.path).metadata();
      expect(meta.pages).toBe(4);
      expect(meta.delay).toEqual([100, 200, 300, 400]);
    }
    expect(result.placeholder.startsWith('data:image/webp;base64,')).toBe(true);
  });

  it('an animated WebP stays animated WebP; frames are resized, not stacked', async () => {
    const input = path.join(dir, 'big-anim.webp');
    const frames = Buffer.alloc(800 * 600 * 3 * 3);
    for (let i = 0; i < frames.length; i++) frames[i] = Math.floor(i / (800 * 600 * 3)) * 100;
    await sharp(frames, { raw: { width: 800, height: 1800, channels: 3, pageHeight: 600 } })
      .webp({ delay: [50, 50, 50], loop: 0 })
      .toFile(input);
    const result = await processImage(input, out(), { keepOriginal: false, maxPixels: MAX_PIXELS });
    const thumb = variant(result, 'thumbnail');
    expect([thumb.mime, thumb.width, thumb.height]).toEqual(['image/webp', 320, 240]);
    const meta = await sharp(thumb.path).metadata();
    expect([meta.pages, meta.width, meta.height]).toEqual([3, 320, 240]);
  });

  it('counts all frames against maxPixels', async () => {
    const input = path.join(dir, 'anim-limit.gif');
    await animation(input, 'gif');
    const err = await processImage(input, out(), { keepOriginal: false, maxPixels: 60 * 40 * 4 - 1 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MediaProcessingError);
    expect((err as MediaProcessingError).code).toBe('too_many_pixels');
  });
});

describe('processImage: refusals', () => {
  it('throws MediaProcessingError for a truncated JPEG and leaves no files behind', async () => {
    const noise = await sharp({
      create: {
        width: 600,
        height: 400,
        channels: 3,
        background: '#000',
        noise: { type: 'gaussian', mean: 128, sigma: 50 },
      },
    })
      .jpeg()
      .toBuffer();
    const input = path.join(dir, 'truncated.jpg');
    await writeFile(input, noise.subarray(0, Math.floor(noise.length * 0.6)));
    const outDir = out();
    const err = await processImage(input, outDir, { keepOriginal: true, maxPixels: MAX_PIXELS }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MediaProcessingError);
    expect((err as MediaProcessingError).code).toBe('corrupt');
    expect((err as MediaProcessingError).reason).toBe('The file is damaged or incomplete.');
    expect(await readdir(outDir)).toEqual([]);
  });

  it('throws for bytes that are no image, and for formats outside JPEG/PNG/GIF/WebP', async () => {
    const junk = path.join(dir, 'junk.jpg');
    await writeFile(junk, Buffer.from('\xff\xd8\xff\xe0 this is not really a jpeg', 'latin1'));
    await expect(
      processImage(junk, out(), { keepOriginal: false, maxPixels: MAX_PIXELS }),
    ).rejects.toMatchObject({
      name: 'MediaProcessingError',
      code: 'corrupt',
    });

    const tiff = path.join(dir, 'scan.tiff');
    await sharp({ create: { width: 10, height: 10, channels: 3, background: '#fff' } })
      .tiff()
      .toFile(tiff);
    await expect(
      processImage(tiff, out(), { keepOriginal: false, maxPixels: MAX_PIXELS }),
    ).rejects.toMatchObject({
      code: 'unsupported',
    });
  });

  it('refuses images over maxPixels before decoding them', async () => {
    const input = path.join(dir, 'wide.png');
    await sharp({ create: { width: 2000, height: 1000, channels: 3, background: '#000' } })
      .png()
      .toFile(input);
    await expect(
      processImage(input, out(), { keepOriginal: false, maxPixels: 1_999_999 }),
    ).rejects.toMatchObject({
      code: 'too_many_pixels',
      reason: 'The image is too large.',
    });
  });
});

describe('processImage: memory', () => {
  it('processes 10 large photos at once without memory running away', async () => {
    // One noisy 6 MP photo (noise: nothing compresses, the worst case for encoders), ten copies.
    const first = path.join(dir, 'batch-0.jpg');
    await sharp({
      create: {
        width: 3000,
        height: 2000,
        channels: 3,
        background: '#000',
        noise: { type: 'gaussian', mean: 110, sigma: 30 },
      },
    })
      .jpeg({ quality: 85 })
      .toFile(first);
    const inputs = [first];
    for (let i = 1; i < 10; i++) {
      inputs.push(path.join(dir, `batch-${i}.jpg`));
      await copyFile(first, inputs[i]!);
    }
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    try {
      const results = await Promise.all(
        inputs.map((file) => processImage(file, out(), { keepOriginal: true, maxPixels: MAX_PIXELS })),
      );
      expect(results.every((r) => r.variants.length === 3 && r.width === 3000)).toBe(true);
    } finally {
      clearInterval(sampler);
    }
    // Ten 6 MP images decoded whole would be 180 MB of pixels alone, before encoders; with
    // libjpeg's optimised Huffman tables on the full-size JPEGs this measured ~390 MB, without ~140 MB.
    expect(peak - before).toBeLessThan(220 * 1024 * 1024);
  });
});
