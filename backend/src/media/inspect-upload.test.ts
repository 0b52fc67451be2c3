// inspect-upload: type sniffing from magic bytes, size limits, display names and the
// header-only pixel check. Fixtures are made here (sharp, hand-built headers, a tiny zip writer).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { SNIFF_BYTES, checkImagePixels, safeDisplayName, sizeLimitFor, sniffType } from './inspect-upload.js';
import { MediaProcessingError } from './processing-error.js';
import { pngFile } from '../../test/support/media.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'parley-inspect-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const solid = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 20, g: 120, b: 220 } } });

/** A zip archive with stored (uncompressed) entries, enough for file-type's zip and OOXML detection. */
function zip(entries: { name: string; data: Buffer | string }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const data = Buffer.isBuffer(entry.data) ? entry.data : Buffer.from(entry.data, 'utf8');
    const crc = zlib.crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const DOCX_CONTENT_TYPES =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
  '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
  '<Default Extension="xml" ContentType="application/xml"/>' +
  '<Override PartName="/word/document.xml" ' +
  'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>';

/** A compound file (legacy Office, MSI) header whose root entry carries `clsid` (16 bytes). */
function compoundFile(clsid: Buffer): Buffer {
  const file = Buffer.alloc(1536);
  Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(file, 0);
  file.writeUInt16LE(0x003e, 24); // minor version
  file.writeUInt16LE(0x0003, 26); // major version 3
  file.writeUInt16LE(0xfffe, 28); // little-endian
  file.writeUInt16LE(9, 30); // 512-byte sectors
  file.writeUInt32LE(0, 48); // directory starts at sector 0 (file offset 512)
  Buffer.from('Root Entry', 'utf16le').copy(file, 512);
  clsid.copy(file, 512 + 80);
  return file;
}
const clsid = (hex: string) => Buffer.from(hex.replace(/-/g, ''), 'hex');
// {00020906-0000-0000-C000-000000000046} (Word) and {000C1084-…} (MSI), as stored little-endian.
const WORD_CLSID = clsid('06090200-0000-0000-c000-000000000046');
const MSI_CLSID = clsid('84100c00-0000-0000-c000-000000000046');

describe('sniffType', () => {
  it('recognises JPEG, PNG, GIF and WebP as images by their bytes, whatever the name says', async () => {
    const png = await solid(8, 8).png().toBuffer();
    expect(await sniffType(png, { name: 'notes.txt' })).toEqual({
      mime: 'image/png',
      ext: 'png',
      kind: 'image',
    });
    expect(await sniffType(await solid(8, 8).jpeg().toBuffer())).toEqual({
      mime: 'image/jpeg',
      ext: 'jpg',
      kind: 'image',
    });
    expect(await sniffType(await solid(8, 8).gif().toBuffer())).toMatchObject({
      mime: 'image/gif',
      kind: 'image',
    });
    expect(await sniffType(await solid(8, 8).webp().toBuffer())).toMatchObject({
      mime: 'image/webp',
      kind: 'image',
    });
    // A voice intent does not turn a picture into a voice note.
    expect(await sniffType(png, { voice: true })).toMatchObject({ kind: 'image' });
  });

  it('refuses image formats outside the list (TIFF, AVIF) even though sharp could read them', async () => {
    expect(await sniffType(await solid(8, 8).tiff().toBuffer())).toBeNull();
    expect(await sniffType(await solid(8, 8).avif().toBuffer())).toBeNull();
  });

  it('refuses executables: ELF, PE (MZ) and Mach-O', async () => {
    const elf = Buffer.alloc(128);
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(elf);
    elf.writeUInt16LE(2, 16); // ET_EXEC
    elf.writeUInt16LE(0x3e, 18); // x86-64
    const pe = Buffer.alloc(256);
    pe.write('MZ', 0, 'latin1');
    pe.writeUInt32LE(0x80, 0x3c);
    pe.write('PE\0\0', 0x80, 'latin1');
    const macho = Buffer.alloc(64);
    macho.writeUInt32LE(0xfeedfacf, 0);
    for (const bytes of [elf, pe, macho]) expect(await sniffType(bytes, { name: 'cat.png' })).toBeNull();
  });

  it('refuses SVG and HTML in every disguise, and XML', async () => {
    const markup = [
      '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
      '\uFEFF  \n<SVG xmlns="http://www.w3.org/2000/svg"/>',
      '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
      '<!-- Generator: Illustrator -->\n<svg width="10"/>',
      '<!DOCTYPE html><title>x</title>',
      '\t<html><body>hi</body></html>',
      '<script>alert(document.cookie)</script>',
      '<?xml version="1.0"?><note>plain xml</note>',
    ];
    for (const text of markup)
      expect(await sniffType(Buffer.from(text, 'utf8'), { name: 'a.txt' })).toBeNull();
  });

  it('accepts plain UTF-8 text, with a display extension from a short whitelist of the name', async () => {
    const text = Buffer.from('Grüße aus Köln 👋\nline two\r\n\ttabbed\n', 'utf8');
    expect(await sniffType(text)).toEqual({ mime: 'text/plain', ext: 'txt', kind: 'file' });
    expect(await sniffType(text, { name: 'README.MD' })).toEqual({
      mime: 'text/plain',
      ext: 'md',
      kind: 'file',
    });
    expect(await sniffType(text, { name: 'data.csv' })).toMatchObject({ ext: 'csv' });
    expect(await sniffType(text, { name: 'page.html' })).toMatchObject({
      mime: 'text/plain',
      ext: 'txt',
    });
    expect(await sniffType(text, { name: 'run.exe' })).toMatchObject({ ext: 'txt' });
    // Markdown that merely starts with a tag is still text.
    expect(await sniffType(Buffer.from('<p align="center">Logo</p>\n# Title\n'))).toMatchObject({
      mime: 'text/plain',
    });
  });

  it('tells text from binary: NUL bytes, stray control bytes, invalid UTF-8 and UTF-16 are not text', async () => {
    expect(await sniffType(Buffer.from('abc\0def'))).toBeNull();
    expect(await sniffType(Buffer.from([0x61, 0x62, 0x03, 0x04, 0x63]))).toBeNull();
    expect(await sniffType(Buffer.from('caf\xe9 latin-1', 'latin1'))).toBeNull();
    expect(
      await sniffType(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('hello', 'utf16le')])),
    ).toBeNull();
  });

  it('forgives a multi-byte character cut by the end of the head, and looks at SNIFF_BYTES only', async () => {
    const long = Buffer.from('€'.repeat(2000), 'utf8'); // 6000 bytes; 4100 is not a multiple of 3
    expect(SNIFF_BYTES % 3).not.toBe(0);
    expect(await sniffType(long.subarray(0, SNIFF_BYTES))).toMatchObject({ mime: 'text/plain' });
    // Bytes past the head are ignored, even a NUL.
    expect(
      await sniffType(Buffer.concat([Buffer.from('a'.repeat(SNIFF_BYTES)), Buffer.from([0])])),
    ).toMatchObject({
      mime: 'text/plain',
    });
  });

  it('recognises PDF, zip and docx (also a docx whose telling entries lie beyond the head)', async () => {
    expect(await sniffType(Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\nendobj\n'))).toEqual({
      mime: 'application/pdf',
      ext: 'pdf',
      kind: 'file',
    });
    const archive = zip([{ name: 'hello.txt', data: 'hello' }]);
    expect(await sniffType(archive)).toEqual({ mime: 'application/zip', ext: 'zip', kind: 'file' });

    const docx = zip([
      { name: '[Content_Types].xml', data: DOCX_CONTENT_TYPES },
      { name: 'word/document.xml', data: '<w:document/>' },
    ]);
    expect(await sniffType(docx, { name: 'report.docx' })).toEqual({
      mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      ext: 'docx',
      kind: 'file',
    });

    // A big first entry pushes [Content_Types].xml out of the head: still accepted, as a zip
    // shown with its own name's extension.
    const bigFirst = zip([
      { name: 'docProps/thumbnail.jpeg', data: Buffer.alloc(8000, 7) },
      { name: '[Content_Types].xml', data: DOCX_CONTENT_TYPES },
      { name: 'word/document.xml', data: '<w:document/>' },
    ]);
    expect(await sniffType(bigFirst.subarray(0, SNIFF_BYTES), { name: 'big.docx' })).toEqual({
      mime: 'application/zip',
      ext: 'docx',
      kind: 'file',
    });
    expect(await sniffType(bigFirst.subarray(0, SNIFF_BYTES), { name: 'big.exe' })).toMatchObject({
      ext: 'zip',
    });
  });

  it('accepts legacy Office compound files but not MSI installers', async () => {
    expect(await sniffType(compoundFile(WORD_CLSID), { name: 'old.doc' })).toEqual({
      mime: 'application/x-cfb',
      ext: 'doc',
      kind: 'file',
    });
    expect(await sniffType(compoundFile(MSI_CLSID), { name: 'setup.doc' })).toBeNull();
  });

  it('sorts audio and video containers into video and voice, with the voice intent where bytes cannot tell', async () => {
    const ftyp = (brand: string) => {
      const box = Buffer.alloc(32);
      box.writeUInt32BE(32, 0);
      box.write('ftyp', 4, 'latin1');
      box.write(brand, 8, 'latin1');
      box.write('isomiso2mp41', 16, 'latin1');
      return box;
    };
    // EBML header with DocType "webm".
    const webm = Buffer.from([
      0x1a, 0x45, 0xdf, 0xa3, 0x8f, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84, 0x77, 0x65, 0x62, 0x6d, 0x42,
      0x87, 0x81, 0x04, 0x18, 0x53, 0x80, 0x67, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ]);
    const ogg = (codec: string) => {
      const page = Buffer.alloc(64);
      page.write('OggS', 0, 'latin1');
      page.write(codec, 28, 'latin1');
      return page;
    };

    expect(await sniffType(ftyp('isom'))).toEqual({ mime: 'video/mp4', ext: 'mp4', kind: 'video' });
    expect(await sniffType(ftyp('isom'), { voice: true })).toEqual({
      mime: 'audio/mp4',
      ext: 'm4a',
      kind: 'voice',
    });
    expect(await sniffType(ftyp('qt  '))).toEqual({ mime: 'video/quicktime', ext: 'mov', kind: 'video' });
    expect(await sniffType(ftyp('M4A '))).toEqual({ mime: 'audio/mp4', ext: 'm4a', kind: 'file' });
    expect(await sniffType(ftyp('M4A '), { voice: true })).toMatchObject({ kind: 'voice' });

    expect(await sniffType(webm)).toEqual({ mime: 'video/webm', ext: 'webm', kind: 'video' });
    expect(await sniffType(webm, { voice: true })).toEqual({
      mime: 'audio/webm',
      ext: 'webm',
      kind: 'voice',
    });

    expect(await sniffType(ogg('OpusHead'))).toEqual({ mime: 'audio/ogg', ext: 'ogg', kind: 'voice' });
    expect(await sniffType(ogg('\x01vorbis'))).toEqual({ mime: 'audio/ogg', ext: 'ogg', kind: 'voice' });
    expect(await sniffType(ogg('\x80theora'))).toBeNull();
  });

  it('refuses unknown binary data and other archive formats', async () => {
    const noise = Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 7919 + 13) % 256));
    expect(await sniffType(noise)).toBeNull();
    expect(await sniffType(zlib.gzipSync(Buffer.from('hello')))).toBeNull();
  });
});

describe('sizeLimitFor', () => {
  it('gives images their own limit and everything else the file limit', () => {
    const limits = { imageMaxBytes: 10, fileMaxBytes: 50 };
    expect(sizeLimitFor('image', limits)).toBe(10);
    expect(sizeLimitFor('voice', limits)).toBe(50);
    expect(sizeLimitFor('video', limits)).toBe(50);
    expect(sizeLimitFor('file', limits)).toBe(50);
  });
});

describe('safeDisplayName', () => {
  it('keeps the base name only, never a path', () => {
    expect(safeDisplayName('../../etc/passwd', 'txt')).toBe('passwd.txt');
    expect(safeDisplayName('C:\\Users\\me\\Holiday.JPG', 'jpg')).toBe('Holiday.JPG');
    expect(safeDisplayName('photo.jpeg', 'jpg')).toBe('photo.jpeg');
  });

  it('removes control, bidi and zero-width characters', () => {
    // "invoice‮fdp.exe" displays as "invoiceexe.pdf" without the removal.
    expect(safeDisplayName('invoice\u202Efdp.exe', 'pdf')).toBe('invoicefdp.exe.pdf');
    expect(safeDisplayName('a\u200Bb\u200D\u2066c\uFEFF.pdf', 'pdf')).toBe('abc.pdf');
    expect(safeDisplayName('line\none\r\t\x07.txt', 'txt')).toBe('lineone.txt');
  });

  it('replaces characters that break Content-Disposition or Windows, folds spaces, trims dots', () => {
    expect(safeDisplayName('a"b<c>|d?*:.txt', 'txt')).toBe('a_b_c__d___.txt');
    expect(safeDisplayName('  many    spaces \u00A0 here .txt', 'txt')).toBe('many spaces here .txt');
    expect(safeDisplayName('..hidden', 'txt')).toBe('hidden.txt');
    expect(safeDisplayName('name. . .', 'pdf')).toBe('name.pdf');
  });

  it('appends the real extension when the name claims another type', () => {
    expect(safeDisplayName('page.html', 'txt')).toBe('page.html.txt');
    expect(safeDisplayName('cat.png', 'jpg')).toBe('cat.png.jpg');
    expect(safeDisplayName('README', 'md')).toBe('README.md');
  });

  it('falls back to file.<ext> and sanitises the extension too', () => {
    expect(safeDisplayName(undefined, 'png')).toBe('file.png');
    expect(safeDisplayName('', 'png')).toBe('file.png');
    expect(safeDisplayName(' ../ ', 'png')).toBe('file.png');
    expect(safeDisplayName('\u202E\u200B', 'pdf')).toBe('file.pdf');
    expect(safeDisplayName('x', '../evil')).toBe('x.bin');
  });

  it('cuts long names to 200 characters, keeping the extension and whole characters', () => {
    const long = safeDisplayName(`${'x'.repeat(300)}.pdf`, 'pdf');
    expect(long).toHaveLength(200);
    expect(long.endsWith('x.pdf')).toBe(true);

    const emoji = safeDisplayName(`${'😀'.repeat(300)}.txt`, 'txt');
    expect(Array.from(emoji)).toHaveLength(200);
    expect(emoji.endsWith('😀.txt')).toBe(true);
    expect(() => encodeURIComponent(emoji)).not.toThrow(); // no lone surrogate
    expect(safeDisplayName('bad\uD800name.txt', 'txt')).toBe('bad\uFFFDname.txt');
  });
});

describe('checkImagePixels', () => {
  it('reads one frame’s oriented size and the frame count from the header', async () => {
    const plain = path.join(dir, 'plain.png');
    await solid(100, 50).png().toFile(plain);
    expect(await checkImagePixels(plain, 5000)).toEqual({ ok: true, width: 100, height: 50, pages: 1 });
    expect(await checkImagePixels(plain, 4999)).toEqual({ ok: false, width: 100, height: 50 });

    const rotated = path.join(dir, 'rotated.jpg');
    await solid(400, 200).jpeg().withMetadata({ orientation: 6 }).toFile(rotated);
    expect(await checkImagePixels(rotated, 1e6)).toEqual({ ok: true, width: 200, height: 400, pages: 1 });
  });

  it('counts every frame of an animation', async () => {
    // Frames must differ: the GIF encoder merges identical ones.
    const frames = Buffer.alloc(60 * 40 * 4 * 3);
    for (let i = 0; i < frames.length; i++) frames[i] = Math.floor(i / (60 * 40 * 3)) * 60;
    const anim = path.join(dir, 'anim.gif');
    await sharp(frames, { raw: { width: 60, height: 160, channels: 3, pageHeight: 40 } })
      .gif({ delay: [100, 100, 100, 100] })
      .toFile(anim);
    expect(await checkImagePixels(anim, 60 * 40 * 4)).toEqual({ ok: true, width: 60, height: 40, pages: 4 });
    expect(await checkImagePixels(anim, 60 * 40 * 4 - 1)).toEqual({ ok: false, width: 60, height: 40 });
  });

  it('refuses a 30000×30000 decompression bomb fast, without decoding it', async () => {
    const bomb = path.join(dir, 'bomb.png');
    await writeFile(bomb, await pngBomb(30000, 30000));
    expect((await stat(bomb)).size).toBeLessThan(1_000_000);

    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    const result = await checkImagePixels(bomb, 64_000_000);
    const elapsed = performance.now() - started;
    const grew = process.memoryUsage().rss - rssBefore;

    expect(result).toEqual({ ok: false, width: 30000, height: 30000 });
    expect(elapsed).toBeLessThan(1000);
    // Decoding would take 900 MB (one byte per pixel).
    expect(grew).toBeLessThan(50 * 1024 * 1024);
  });

  it('throws MediaProcessingError for a file that is not an image', async () => {
    const junk = path.join(dir, 'junk.png');
    await writeFile(junk, Buffer.from('not an image at all'));
    const err = await checkImagePixels(junk, 1e6).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaProcessingError);
    expect((err as MediaProcessingError).code).toBe('corrupt');
    expect((err as MediaProcessingError).reason).not.toContain(dir);
  });
});

/**
 * A valid 1-bit greyscale PNG of width × height black pixels: the rows are all zero bytes,
 * which deflate ~1000:1, so 30000×30000 (900 M pixels) is ~110 KB. Deflated as a stream from
 * one reused zero buffer, so making it does not itself take the memory it would unpack to.
 */
async function pngBomb(width: number, height: number): Promise<Buffer> {
  const rowBytes = 1 + Math.ceil(width / 8);
  const deflate = zlib.createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on('data', (c: Buffer) => parts.push(c));
  const ended = new Promise((resolve) => deflate.on('end', resolve));
  const zeros = Buffer.alloc(1 << 20);
  for (let left = rowBytes * height; left > 0; left -= zeros.length) {
    deflate.write(zeros.subarray(0, Math.min(left, zeros.length)));
  }
  deflate.end();
  await ended;
  return pngFile({ width, height, bitDepth: 1, colorType: 0 /* greyscale */ }, Buffer.concat(parts));
}
