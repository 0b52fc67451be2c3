/**
 * Photos for the media benchmark, made here (nothing binary is committed): JPEGs that
 * compress like camera pictures — smooth colour gradients, a mid-frequency texture, fine
 * texture and per-pixel sensor grain — with the EXIF a phone writes (orientation, camera
 * model, GPS). The same seed gives the same picture; pictures are cached under
 * artifacts/bench/media-photos/ so a second run does not make them again.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { root } from './run-server.mjs';

/** Change when the pictures change, so cached ones are made again. */
const VERSION = 1;
const cacheDir = path.join(root, 'artifacts', 'bench', 'media-photos');

/** xorshift32: fast, seedable, good enough for texture. */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** Random pixels at w × h, enlarged (cubic) to W × H: smooth variation at that scale. */
async function smoothNoise(w, h, channels, W, H, random) {
  const raw = Buffer.allocUnsafe(w * h * channels);
  for (let i = 0; i < raw.length; i++) raw[i] = (random() * 256) | 0;
  return sharp(raw, { raw: { width: w, height: h, channels } })
    .resize(W, H, { kernel: 'cubic', fit: 'fill' })
    .raw()
    .toBuffer();
}

/** The layers of one picture (the slow part); `combine` turns them into pixels for a grain. */
async function layers(width, height, seed) {
  const random = rng(Math.imul(seed, 2654435761));
  return {
    low: await smoothNoise(Math.ceil(width / 400), Math.ceil(height / 400), 3, width, height, random),
    mid: await smoothNoise(Math.ceil(width / 24), Math.ceil(height / 24), 1, width, height, random),
    fine: await smoothNoise(Math.ceil(width / 3), Math.ceil(height / 3), 1, width, height, random),
  };
}

function combine({ low, mid, fine }, width, height, seed, grain) {
  const out = Buffer.allocUnsafe(width * height * 3);
  let x = Math.imul(seed, 7919) >>> 0 || 1;
  for (let p = 0, i = 0; p < width * height; p++) {
    const texture = (mid[p] - 128) * 0.35 + (fine[p] - 128) * 0.25;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const g = (((x & 255) - 128) * grain) / 128;
    for (let c = 0; c < 3; c++, i++) {
      const v = low[i] + texture + (c === 1 ? g : g * 0.8);
      out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

async function encode(pixels, width, height, { quality, orientation }) {
  return (
    sharp(pixels, { raw: { width, height, channels: 3 } })
      .withExif({
        IFD0: { Make: 'ParleyBench', Model: 'Bench Camera 1' },
        IFD3: {
          GPSLatitudeRef: 'N',
          GPSLatitude: '48/1 51/1 2406/100',
          GPSLongitudeRef: 'E',
          GPSLongitude: '2/1 17/1 4000/100',
        },
      })
      // sharp writes its own orientation tag over withExif's: set it through withMetadata.
      .withMetadata({ orientation })
      .jpeg({ quality })
      .toBuffer()
  );
}

/**
 * A JPEG of width × height (stored so; `orientation` 6 shows it turned right, as a phone
 * held upright writes it), quality `quality`, grain `grain` (0–30; more grain, more bytes).
 * With `maxBytes` (and `minBytes`), the grain is moved (a few tries) until the file's size
 * falls within them; the quality is lowered if that is not enough.
 */
export async function photo({
  width,
  height,
  seed,
  grain = 6,
  quality = 90,
  orientation = 1,
  minBytes = 0,
  maxBytes = Infinity,
}) {
  const key = createHash('sha256')
    .update(JSON.stringify({ VERSION, width, height, seed, grain, quality, orientation, minBytes, maxBytes }))
    .digest('hex')
    .slice(0, 16);
  const cached = path.join(cacheDir, `${key}.jpg`);
  if (existsSync(cached)) return readFileSync(cached);

  const base = await layers(width, height, seed);
  let g = grain;
  let q = quality;
  let bytes;
  for (let attempt = 0; attempt < 12; attempt++) {
    bytes = await encode(combine(base, width, height, seed, g), width, height, { quality: q, orientation });
    if (bytes.length > maxBytes) {
      if (g > 2) g = Math.max(2, g * 0.85);
      else q -= 2;
    } else if (bytes.length < minBytes && g < 40) {
      g = g * 1.12;
    } else {
      break;
    }
  }
  if (bytes.length > maxBytes) {
    throw new Error(`could not make a ${width}×${height} photo under ${maxBytes} bytes`);
  }
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(`${cached}.tmp`, bytes);
  renameSync(`${cached}.tmp`, cached);
  return bytes;
}
