/**
 * One behaviour suite for both object stores, so files under a directory (the embedded
 * default) and an S3 bucket (s3rver here, S3/MinIO in production) keep answering the same:
 * puts, whole and ranged reads, stat, download, remove, missing keys, refused keys,
 * overwrites and a 5 MB object as a stream. Then what only one of them does: the local
 * store's atomic writes and its root, and S3's presigned PUT taken by a real HTTP PUT.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { startS3 } from '../../test/support/s3.js';
import type { ObjectStoreSettings } from './config.js';
import { createObjectStore } from './object-store-factory.js';
import { ObjectNotFoundError, type ObjectStore } from './object-store.js';

interface Backend {
  kind: 'local' | 's3';
  start(): Promise<{ settings: ObjectStoreSettings; stop(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    kind: 'local',
    async start() {
      const parent = await mkdtemp(path.join(os.tmpdir(), 'parley-store-'));
      // A directory that does not exist yet: init() must make it.
      return {
        settings: { kind: 'local', dir: path.join(parent, 'media') },
        stop: () => rm(parent, { recursive: true }),
      };
    },
  },
  { kind: 's3', start: startS3 },
];

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Keys no store may accept: traversal, absolute, upper case, empty and other odd shapes. */
const badKeys = [
  '',
  '../outside',
  'media/../../outside',
  '/etc/passwd',
  'Media/x',
  'media/X.png',
  'media//x',
  'media/x/',
  '.hidden',
  'media/./x',
  'media\\x',
  'media/x\u0000',
];

describe.each(backends)('$kind object store', (backend) => {
  let store: ObjectStore;
  let settings: ObjectStoreSettings;
  let stopBackend: () => Promise<void>;
  let scratch: string; // local files to put from and download to
  // Every test writes under its own prefix, so tests share no objects.
  const keyOf = (name: string) => `media/t-${randomUUID()}/${name}`;

  beforeAll(async () => {
    const started = await backend.start();
    settings = started.settings;
    stopBackend = started.stop;
    store = createObjectStore(settings);
    await store.init();
    scratch = await mkdtemp(path.join(os.tmpdir(), 'parley-store-scratch-'));
  }, 60_000);

  afterAll(async () => {
    await stopBackend?.();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }, 60_000);

  it('is the implementation the settings name', () => {
    expect(store.kind).toBe(backend.kind);
  });

  it('init may run again on a store that exists', async () => {
    const key = keyOf('a.bin');
    await store.putBuffer(key, Buffer.from('kept'), 'application/octet-stream');
    await store.init();
    expect((await readAll(await store.read(key))).toString()).toBe('kept');
  });

  it('stores bytes and reads them back, with their size (and type where kept)', async () => {
    const key = keyOf('photo.png');
    const body = randomBytes(1000);
    await store.putBuffer(key, body, 'image/png');
    expect((await readAll(await store.read(key))).equals(body)).toBe(true);
    const info = await store.stat(key);
    expect(info).toEqual({ size: 1000, contentType: backend.kind === 's3' ? 'image/png' : undefined });
  });

  it('reads a range, both ends included; an end past the last byte reads to the end', async () => {
    const key = keyOf('range.bin');
    const body = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
    await store.putBuffer(key, body, 'application/octet-stream');
    expect([...(await readAll(await store.read(key, { start: 10, end: 19 })))]).toEqual([
      10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
    ]);
    expect([...(await readAll(await store.read(key, { start: 98, end: 500 })))]).toEqual([98, 99]);
    expect([...(await readAll(await store.read(key, { start: 99, end: 99 })))]).toEqual([99]);
  });

  it('refuses a range that starts past the end or is the wrong way round', async () => {
    const key = keyOf('range.bin');
    await store.putBuffer(key, Buffer.alloc(100, 1), 'application/octet-stream');
    await expect(store.read(key, { start: 100, end: 200 })).rejects.toThrow(RangeError);
    await expect(store.read(key, { start: 5, end: 4 })).rejects.toThrow(RangeError);
    await expect(store.read(key, { start: -1, end: 4 })).rejects.toThrow(RangeError);
  });

  it('stores a local file, and a second put replaces the object whole', async () => {
    const key = keyOf('doc.pdf');
    const first = path.join(scratch, `${randomUUID()}.bin`);
    await writeFile(first, randomBytes(4000));
    await store.putFile(key, first, 'application/pdf');
    expect((await readAll(await store.read(key))).equals(await readFile(first))).toBe(true);

    const second = path.join(scratch, `${randomUUID()}.bin`);
    await writeFile(second, Buffer.from('shorter now'));
    await store.putFile(key, second, 'text/plain');
    expect((await readAll(await store.read(key))).toString()).toBe('shorter now');
    expect(await store.stat(key)).toEqual({
      size: 11,
      contentType: backend.kind === 's3' ? 'text/plain' : undefined,
    });
  });

  it('a failed put leaves the previous object as it was', async () => {
    const key = keyOf('keep.bin');
    await store.putBuffer(key, Buffer.from('old'), 'text/plain');
    await expect(store.putFile(key, path.join(scratch, 'no-such-file'), 'text/plain')).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect((await readAll(await store.read(key))).toString()).toBe('old');
  });

  it('downloads an object to a local file', async () => {
    const key = keyOf('clip.bin');
    const body = randomBytes(200_000);
    await store.putBuffer(key, body, 'video/mp4');
    const target = path.join(scratch, `${randomUUID()}.mp4`);
    await store.download(key, target);
    expect((await readFile(target)).equals(body)).toBe(true);
  });

  it('a missing object: read and download throw ObjectNotFoundError, stat is null, remove is no error', async () => {
    const key = keyOf('never-stored');
    await expect(store.read(key)).rejects.toThrow(ObjectNotFoundError);
    await expect(store.read(key, { start: 0, end: 9 })).rejects.toMatchObject({
      name: 'ObjectNotFoundError',
      key,
    });
    const target = path.join(scratch, `${randomUUID()}.bin`);
    await expect(store.download(key, target)).rejects.toThrow(ObjectNotFoundError);
    expect(existsSync(target)).toBe(false);
    expect(await store.stat(key)).toBeNull();
    await store.remove([key]);
    expect(await store.stat(key)).toBeNull();
  });

  it('a key that is only the start of other keys is no object', async () => {
    const key = keyOf('inner/file.txt');
    await store.putBuffer(key, Buffer.from('x'), 'text/plain');
    const prefix = key.slice(0, key.lastIndexOf('/'));
    expect(await store.stat(prefix)).toBeNull();
    await expect(store.read(prefix)).rejects.toThrow(ObjectNotFoundError);
  });

  it('removes several objects at once, missing ones among them', async () => {
    const keys = [keyOf('one'), keyOf('two'), keyOf('three')];
    for (const key of keys) await store.putBuffer(key, Buffer.from(key), 'text/plain');
    const survivor = keyOf('survivor');
    await store.putBuffer(survivor, Buffer.from('stays'), 'text/plain');
    await store.remove([...keys, keyOf('missing')]);
    for (const key of keys) expect(await store.stat(key)).toBeNull();
    expect(await store.stat(survivor)).toEqual(expect.objectContaining({ size: 5 }));
    await store.remove([]);
  });

  it('refuses keys of any other shape in every method, before touching anything', async () => {
    const kept = keyOf('kept.txt');
    await store.putBuffer(kept, Buffer.from('kept'), 'text/plain');
    const file = path.join(scratch, `${randomUUID()}.txt`);
    await writeFile(file, 'x');
    for (const key of badKeys) {
      const what = JSON.stringify(key);
      await expect(store.putBuffer(key, Buffer.from('x'), 'text/plain')).rejects.toThrow(
        /invalid object key/,
      );
      await expect(store.putFile(key, file, 'text/plain')).rejects.toThrow(/invalid object key/);
      await expect(store.read(key)).rejects.toThrow(/invalid object key/);
      await expect(store.download(key, path.join(scratch, 'out'))).rejects.toThrow(/invalid object key/);
      await expect(store.stat(key)).rejects.toThrow(/invalid object key/);
      await expect(store.remove([kept, key])).rejects.toThrow(/invalid object key/);
      await expect(store.presignedPutUrl(key, 60)).rejects.toThrow(/invalid object key/);
      expect({ key: what, kept: await store.stat(kept) }).toEqual({
        key: what,
        kept: expect.objectContaining({ size: 4 }),
      });
    }
    expect(existsSync(path.join(scratch, 'out'))).toBe(false);
  });

  it('takes a 5 MB object from a file and gives it back as a stream, whole and in part', async () => {
    const key = keyOf('big.bin');
    const body = randomBytes(5 * 1024 * 1024);
    const file = path.join(scratch, `${randomUUID()}.bin`);
    await writeFile(file, body);
    await store.putFile(key, file, 'application/octet-stream');
    expect(await store.stat(key)).toEqual(expect.objectContaining({ size: body.length }));

    const hash = createHash('sha256');
    let chunks = 0;
    for await (const chunk of await store.read(key)) {
      hash.update(chunk as Buffer);
      chunks += 1;
    }
    expect(hash.digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    expect(chunks).toBeGreaterThan(1); // it came as a stream, not as one buffer

    const start = 1024 * 1024 + 7;
    const end = 4 * 1024 * 1024 + 3;
    const part = await readAll(await store.read(key, { start, end }));
    expect(part.equals(body.subarray(start, end + 1))).toBe(true);
  });

  if (backend.kind === 'local') {
    it('made its directory on init and keeps every object inside it, with no temp files left', async () => {
      const dir = (settings as { dir: string }).dir;
      expect((await stat(dir)).isDirectory()).toBe(true);
      const key = keyOf('atomic.bin');
      await store.putBuffer(key, Buffer.from('one'), 'text/plain');
      await store.putBuffer(key, Buffer.from('two'), 'text/plain');
      await expect(store.putFile(key, path.join(scratch, 'no-such-file'), 'text/plain')).rejects.toThrow();
      expect(await readFile(path.join(dir, key), 'utf8')).toBe('two');
      const names = await readdir(path.dirname(path.join(dir, key)));
      expect(names).toEqual(['atomic.bin']);
      // The traversal keys of the suite above wrote nothing beside the store's directory.
      expect(await readdir(path.dirname(dir))).toEqual(['media']);
    });

    it('a put that fails after writing its temp file removes it (a key that is a directory here)', async () => {
      // Unlike S3, a directory cannot hold an object named like one of its subdirectories:
      // the rename fails, after the temp file was written. Server-made keys never do this.
      const dir = (settings as { dir: string }).dir;
      const inner = keyOf('inner/file.txt');
      await store.putBuffer(inner, Buffer.from('x'), 'text/plain');
      const clash = inner.slice(0, inner.lastIndexOf('/'));
      await expect(store.putBuffer(clash, Buffer.from('y'), 'text/plain')).rejects.toThrow();
      expect(await readdir(path.dirname(path.join(dir, clash)))).toEqual(['inner']);
      expect((await readAll(await store.read(inner))).toString()).toBe('x');
    });

    it('removing the last objects under a directory removes the directories they leave empty', async () => {
      const dir = (settings as { dir: string }).dir;
      const kept = keyOf('kept.bin');
      const prefix = kept.slice(0, -'kept.bin'.length);
      const [a, b] = [`${prefix}gone/deep/a.bin`, `${prefix}gone/deep/b.bin`];
      await store.putBuffer(a, Buffer.from('a'), 'text/plain');
      await store.putBuffer(b, Buffer.from('b'), 'text/plain');
      await store.putBuffer(kept, Buffer.from('k'), 'text/plain');
      await store.remove([a]);
      expect(await readdir(path.join(dir, path.dirname(a)))).toEqual(['b.bin']);
      await store.remove([b]);
      const parent = path.dirname(path.join(dir, kept));
      expect(await readdir(parent)).not.toContain('gone');
      expect(await readdir(parent)).toContain('kept.bin');
      expect((await stat(dir)).isDirectory()).toBe(true);
      // And a key there can be written again.
      await store.putBuffer(a, Buffer.from('again'), 'text/plain');
      expect((await readAll(await store.read(a))).toString()).toBe('again');
    });

    it('has no presigned URLs (the server takes the bytes)', async () => {
      expect(await store.presignedPutUrl(keyOf('x.bin'), 60)).toBeNull();
    });
  }

  if (backend.kind === 's3') {
    it('gives a presigned PUT URL that takes the bytes over plain HTTP', async () => {
      const key = keyOf('direct.png');
      const url = await store.presignedPutUrl(key, 300);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
      const body = randomBytes(3000);
      const response = await fetch(url!, { method: 'PUT', body, headers: { 'content-type': 'image/png' } });
      expect(response.status).toBe(200);
      expect((await readAll(await store.read(key))).equals(body)).toBe(true);
      expect(await store.stat(key)).toEqual({ size: 3000, contentType: 'image/png' });
    });

    // s3rver checks a presigned URL's expiry but not its V4 signature (it accepts any), so
    // that a URL is good for its own key only can be seen here in the URL, not in a refusal.
    it('a presigned URL names its key and lapses after its lifetime', async () => {
      const key = keyOf('late.png');
      const url = new URL((await store.presignedPutUrl(key, 1))!);
      expect(url.pathname).toBe(`/${(settings as { bucket: string }).bucket}/${key}`);
      expect(url.searchParams.get('X-Amz-Expires')).toBe('1');
      expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
      // X-Amz-Date has whole seconds: past 2 s the URL has lapsed whatever the clock's phase.
      await new Promise((resolve) => setTimeout(resolve, 2100));
      const response = await fetch(url, { method: 'PUT', body: Buffer.from('too late') });
      expect(response.status).toBe(403);
      expect(await store.stat(key)).toBeNull();
    });
  }
});
