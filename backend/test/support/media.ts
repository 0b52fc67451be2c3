/**
 * Media for tests, made by the tests themselves (nothing binary is committed): photos with
 * EXIF orientation and GPS, a decompression bomb's header, an executable's, EICAR; and
 * uploading them like the web app does (multipart/form-data).
 */
import { randomUUID } from 'node:crypto';
import zlib from 'node:zlib';
import sharp from 'sharp';
import type { TestUser } from './factories.js';
import type { Client, Reply } from './http.js';
import { waitUntil } from './wait.js';

/** A JPEG as a phone takes it: stored 400×200 (wider than tall), EXIF orientation 6 (turn
 * right to view: 200×400 upright), GPS coordinates, a camera model. The top-left quarter
 * is red, the rest blue, so orientation can be checked by colour. */
export async function phonePhoto(width = 400, height = 200): Promise<Buffer> {
  const red = await sharp({
    create: { width: width / 2, height: height / 2, channels: 3, background: { r: 255, g: 0, b: 0 } },
  })
    .png()
    .toBuffer();
  return (
    sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 255 } } })
      .composite([{ input: red, top: 0, left: 0 }])
      .withExif({
        IFD0: { Make: 'ParleyPhone', Model: 'Model GPS-1' },
        IFD3: {
          GPSLatitudeRef: 'N',
          GPSLatitude: '48/1 51/1 2406/100',
          GPSLongitudeRef: 'E',
          GPSLongitude: '2/1 17/1 4000/100',
        },
      })
      // Orientation goes in through withMetadata (sharp writes its own, over withExif's).
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 90 })
      .toBuffer()
  );
}

export async function pngImage(width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 1 } } })
    .png()
    .toBuffer();
}

/** One PNG chunk: length, type, data, CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A PNG whose header claims width × height pixels (a decompression bomb as far as any
 * decoder is concerned) with a few bytes of data: refusing it must not decode it. */
export function pngBomb(width = 50_000, height = 50_000): Buffer {
  return pngFile(
    { width, height, bitDepth: 8, colorType: 2 /* RGB */ },
    Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]),
  );
}

/** A PNG file from its header fields and its (deflated) image data. */
export function pngFile(
  header: { width: number; height: number; bitDepth: number; colorType: number },
  idat: Buffer,
): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(header.width, 0);
  ihdr.writeUInt32BE(header.height, 4);
  ihdr[8] = header.bitDepth;
  ihdr[9] = header.colorType;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The start of a Linux executable, padded: what a renamed program looks like. */
export function elfExecutable(): Buffer {
  const b = Buffer.alloc(8192, 0);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]).copy(b);
  return b;
}

export interface UploadOptions {
  name?: string;
  type?: string;
  fields?: Record<string, string>;
}

/** POST /api/media (or /api/media/bulk with several files). */
export async function upload(
  baseUrl: string,
  user: TestUser,
  files: { bytes: Buffer; name?: string; type?: string }[] | Buffer,
  opts: UploadOptions & { bulk?: boolean } = {},
): Promise<Reply> {
  const list = Buffer.isBuffer(files) ? [{ bytes: files, name: opts.name, type: opts.type }] : files;
  const form = new FormData();
  for (const [k, v] of Object.entries(opts.fields ?? {})) form.append(k, v);
  for (const f of list) {
    form.append(
      'file',
      new Blob([f.bytes], { type: f.type ?? 'application/octet-stream' }),
      f.name ?? 'file.bin',
    );
  }
  const res = await fetch(`${baseUrl}/api/media${opts.bulk ? '/bulk' : ''}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${user.accessToken}` },
    body: form,
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** Uploads and expects 201; returns the media. */
export async function uploaded(baseUrl: string, user: TestUser, bytes: Buffer, opts: UploadOptions = {}) {
  const res = await upload(baseUrl, user, bytes, opts);
  if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${res.text}`);
  return res.body as { id: string; status: string; urls: Record<string, string> } & Record<string, any>;
}

/** The media as `user` sees it once it is no longer pending. */
export async function settled(api: Client, user: TestUser, mediaId: string) {
  let media: any;
  await waitUntil(
    'the upload to be processed',
    async () => {
      const res = await api.get(`/api/media/${mediaId}`, { token: user.accessToken });
      media = res.body;
      return res.status === 200 && media.status !== 'pending';
    },
    120_000,
    50,
  );
  return media as { id: string; status: string; urls: Record<string, string> } & Record<string, any>;
}

/** Sends a message carrying uploads. */
export function sendWithAttachments(api: Client, user: TestUser, chatId: string, ids: string[], body = '') {
  return api.post(
    `/api/chats/${chatId}/messages`,
    { clientMsgId: randomUUID(), body, attachments: ids },
    { token: user.accessToken },
  );
}

/** GET a signed URL (relative to the server): status, headers, bytes. */
export async function download(baseUrl: string, url: string, headers: Record<string, string> = {}) {
  const res = await fetch(baseUrl + url, { headers });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}
