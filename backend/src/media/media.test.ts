/**
 * Media through the public surface: uploads and their refusals, processing (orientation,
 * metadata stripped from the served bytes, variants), attaching to messages and the
 * events, access (strangers, removed members, random ids: the same 404 on every URL),
 * deletion, expiry and the sweep, direct uploads, galleries, Range downloads.
 * Runs on whichever object store the run uses (local files, or S3 with TEST_MEDIA_STORAGE=s3).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createGroup, openDirectChat, registerUsers, type TestUser } from '../../test/support/factories.js';
import { as, client, refusal, type Client } from '../../test/support/http.js';
import {
  download,
  elfExecutable,
  phonePhoto,
  pngBomb,
  pngFile,
  pngImage,
  sendWithAttachments,
  settled,
  upload,
  uploaded,
} from '../../test/support/media.js';
import { startS3 } from '../../test/support/s3.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs } from '../../test/support/ws.js';
import { createMediaQueue } from './process-queue.js';

let server: TestServer;
let api: Client;

beforeAll(async () => {
  server = await startTestServer({
    SEND_RATE_PER_SECOND: '1000',
    MEDIA_IMAGE_MAX_BYTES: String(2 * 1024 * 1024),
    MEDIA_FILE_MAX_BYTES: String(3 * 1024 * 1024),
    MEDIA_MAX_PIXELS: String(40_000_000),
    USER_COMMAND_RATE_PER_SECOND: '1000',
    USER_COMMAND_TOTAL_RATE_PER_SECOND: '1000',
  });
  api = client(server.url);
});
afterAll(() => server.close());

const users = (n: number) => registerUsers(api, n);

async function groupWith(owner: TestUser, members: TestUser[]) {
  return createGroup(api, owner, members);
}

async function messagesOf(user: TestUser, chatId: string) {
  const res = await api.get(`/api/chats/${chatId}/messages?limit=100`, as(user));
  expect(res.status).toBe(200);
  return res.body.messages as any[];
}

describe('uploading a picture', () => {
  it('stores it pending, then makes oriented variants without EXIF or GPS in any served byte', async () => {
    const [ana] = await users(1);
    const photo = await phonePhoto();
    // The file as sent does carry GPS: what follows proves the server removes it.
    expect(photo.includes(Buffer.from('ParleyPhone'))).toBe(true);
    expect((await sharp(photo).metadata()).exif).toBeDefined();

    const media = await uploaded(server.url, ana!, photo, { name: 'IMG_0001.jpg', type: 'image/jpeg' });
    expect(media).toMatchObject({
      kind: 'image',
      mime: 'image/jpeg',
      name: 'IMG_0001.jpg',
      size: photo.length,
    });
    expect(['pending', 'ready']).toContain(media.status);

    const ready = await settled(api, ana!, media.id);
    expect(ready.status).toBe('ready');
    // Orientation 6 applied: stored 400×200, shown 200×400.
    expect(ready).toMatchObject({ width: 200, height: 400, animated: false });
    expect(ready.placeholder).toMatch(/^data:image\/[a-z]+;base64,/);
    expect(ready.placeholder.length).toBeLessThan(2000);
    expect(ready.variants.sort()).toEqual(['original', 'preview', 'thumbnail']);

    for (const variant of ['thumbnail', 'preview', 'original'] as const) {
      const res = await download(server.url, ready.urls[variant]!);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/jpeg');
      const meta = await sharp(res.bytes).metadata();
      expect(meta.exif).toBeUndefined();
      expect(meta.orientation ?? 1).toBe(1);
      expect(meta.height!).toBeGreaterThan(meta.width!);
      expect(res.bytes.includes(Buffer.from('Exif'))).toBe(false);
      expect(res.bytes.includes(Buffer.from('ParleyPhone'))).toBe(false);
      // The red quarter was top-left as stored; turned right it is top-right.
      const { data, info } = await sharp(res.bytes).raw().toBuffer({ resolveWithObject: true });
      const at = (x: number, y: number) => data[(y * info.width + x) * info.channels]!;
      expect(at(info.width - 5, 5)).toBeGreaterThan(200); // red
      expect(at(5, 5)).toBeLessThan(60); // blue
    }
  });

  it('keeps the original at full size only when asked; standard quality caps it', async () => {
    const [ana] = await users(1);
    const big = await sharp({ create: { width: 3200, height: 1600, channels: 3, background: '#888' } })
      .jpeg({ quality: 60 })
      .toBuffer();
    const standard = await settled(api, ana!, (await uploaded(server.url, ana!, big)).id);
    const original = await settled(
      api,
      ana!,
      (await uploaded(server.url, ana!, big, { fields: { quality: 'original' } })).id,
    );
    const widthOf = async (url: string) =>
      (await sharp((await download(server.url, url)).bytes).metadata()).width;
    expect(await widthOf(standard.urls.original!)).toBe(2560);
    expect(await widthOf(original.urls.original!)).toBe(3200);
    expect(await widthOf(standard.urls.preview!)).toBe(1280);
    expect(await widthOf(standard.urls.thumbnail!)).toBe(320);
  });

  it('refuses by the bytes, not the name: an executable named .jpg is 415, an SVG 415', async () => {
    const [ana] = await users(1);
    const exe = await upload(server.url, ana!, elfExecutable(), { name: 'holiday.jpg', type: 'image/jpeg' });
    expect(refusal(exe)).toEqual({ status: 415, code: 'FILE_TYPE_NOT_ALLOWED' });
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    expect(refusal(await upload(server.url, ana!, svg, { name: 'a.svg', type: 'image/svg+xml' }))).toEqual({
      status: 415,
      code: 'FILE_TYPE_NOT_ALLOWED',
    });
    const html = Buffer.from('<!doctype html><html><body><script>alert(1)</script></body></html>');
    expect(refusal(await upload(server.url, ana!, html, { name: 'a.txt', type: 'text/plain' }))).toEqual({
      status: 415,
      code: 'FILE_TYPE_NOT_ALLOWED',
    });
  });

  it('refuses a picture over the image limit (413) and a decompression bomb before decoding it', async () => {
    const [ana] = await users(1);
    const noisy = await sharp(
      Buffer.from(Array.from({ length: 1200 * 900 * 3 }, () => Math.floor(Math.random() * 256))),
      {
        raw: { width: 1200, height: 900, channels: 3 },
      },
    )
      .png({ compressionLevel: 0 })
      .toBuffer();
    expect(noisy.length).toBeGreaterThan(2 * 1024 * 1024);
    const big = await upload(server.url, ana!, noisy, { name: 'big.png' });
    expect(refusal(big)).toEqual({ status: 413, code: 'FILE_TOO_LARGE' });
    expect(big.body.error.details.maxBytes).toBe(2 * 1024 * 1024);

    const rssBefore = process.memoryUsage().rss;
    const bomb = await upload(server.url, ana!, pngBomb(50_000, 50_000), { name: 'bomb.png' });
    expect(refusal(bomb)).toEqual({ status: 413, code: 'IMAGE_DIMENSIONS_TOO_LARGE' });
    expect(bomb.body.error.details).toMatchObject({ width: 50_000, height: 50_000 });
    // 2.5 gigapixels were never decoded (that would take gigabytes).
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
  });

  it('refuses pictures whose header cannot be read with 415 in the error shape, never a 500', async () => {
    const [ana] = await users(1);
    const garbage = (magic: number[] | string) =>
      Buffer.concat([Buffer.from(magic as never), Buffer.alloc(5000, 0x41)]);
    const unreadable = {
      'a JPEG start and then nothing of a JPEG': garbage([0xff, 0xd8, 0xff, 0xe0]),
      'a GIF signature alone': Buffer.from('GIF89a'),
      'a WebP container of garbage': Buffer.concat([
        Buffer.from('RIFF'),
        Buffer.from([0x20, 0, 0, 0]),
        Buffer.from('WEBPVP8 '),
        Buffer.alloc(40, 1),
      ]),
      'a PNG of 0×0 pixels': pngFile({ width: 0, height: 0, bitDepth: 8, colorType: 2 }, Buffer.alloc(9)),
    };
    for (const [what, bytes] of Object.entries(unreadable)) {
      const res = await upload(server.url, ana!, bytes, { name: 'photo.jpg', type: 'image/jpeg' });
      expect({ what, ...refusal(res) }).toEqual({ what, status: 415, code: 'FILE_TYPE_NOT_ALLOWED' });
      expect(res.body.error.message).toMatch(/damaged/);
    }
    // Nothing of them was kept against the quota.
    expect(await server.running.ctx.db.prisma.media.count({ where: { ownerId: ana!.id } })).toBe(0);
  });

  it('answers without a file, and with bad fields, in the error shape', async () => {
    const [ana] = await users(1);
    const res = await fetch(`${server.url}/api/media`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ana!.accessToken}` },
      body: (() => {
        const f = new FormData();
        f.append('quality', 'original');
        return f;
      })(),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe('VALIDATION_ERROR');
    const json = await api.post('/api/media', { file: 'x' }, as(ana!));
    expect(refusal(json)).toEqual({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    const badField = await upload(server.url, ana!, await pngImage(), { fields: { quality: 'huge' } });
    expect(refusal(badField)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
    const anonymous = await fetch(`${server.url}/api/media`, { method: 'POST', body: new FormData() });
    expect(anonymous.status).toBe(401);
  });

  it('bulk: each file succeeds or fails on its own', async () => {
    const [ana] = await users(1);
    const res = await upload(
      server.url,
      ana!,
      [
        { bytes: await pngImage(), name: 'one.png' },
        { bytes: elfExecutable(), name: 'two.png' },
        { bytes: Buffer.from('meeting notes\nline two\n'), name: 'notes.txt' },
      ],
      { bulk: true },
    );
    expect(res.status).toBe(200);
    const results = res.body.results as any[];
    expect(results.map((r) => [r.name, r.media?.kind ?? null, r.error?.code ?? null])).toEqual([
      ['one.png', 'image', null],
      ['two.png', null, 'FILE_TYPE_NOT_ALLOWED'],
      ['notes.txt', 'file', null],
    ]);
  });

  it('bulk: more than 10 files is refused whole, and none of the first ten is kept', async () => {
    const [ana] = await users(1);
    const files = Array.from({ length: 11 }, (_, i) => ({
      bytes: Buffer.from(`file ${i}\n`),
      name: `${i}.txt`,
    }));
    const res = await upload(server.url, ana!, files, { bulk: true });
    expect(refusal(res)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
    expect(res.body.error.message).toMatch(/10 files/);
    // The ten that came before the eleventh were never reported to the client: nothing of
    // them may stay behind to fill the quota.
    const kept = await server.running.ctx.db.prisma.media.count({
      where: { ownerId: ana!.id, deletedAt: null },
    });
    expect(kept).toBe(0);
  });
});

describe('attaching and access', () => {
  it('members get the message with its attachment and media:updated when it is ready', async () => {
    const [ana, ben] = await users(2);
    const group = await groupWith(ana!, [ben!]);
    const benWs = await connectAs(server.url, ben!.accessToken);
    try {
      const media = await uploaded(server.url, ana!, await phonePhoto(), { name: 'p.jpg' });
      const sent = await sendWithAttachments(api, ana!, group.id, [media.id], 'look');
      expect(sent.status).toBe(201);
      expect(sent.body.attachments).toEqual([expect.objectContaining({ id: media.id, kind: 'image' })]);
      const arrived = await benWs.waitFor(
        (f) => f.type === 'message:new' && f.data.message.id === sent.body.id,
      );
      expect(arrived.data.message.attachments[0].id).toBe(media.id);
      if (arrived.data.message.attachments[0].status === 'pending') {
        const update = await benWs.waitFor(
          (f) => f.type === 'media:updated' && f.data.attachment.id === media.id,
        );
        expect(update.data).toMatchObject({
          chatId: group.id,
          messageId: sent.body.id,
          attachment: { status: 'ready' },
        });
      }
      const ready = await settled(api, ben!, media.id);
      expect(ready).toMatchObject({ chatId: group.id, messageId: sent.body.id, senderId: ana!.id });
      expect((await download(server.url, ready.urls.thumbnail!)).status).toBe(200);
      expect(ready).toMatchObject({ width: 200, height: 400 });
      const listed = (await messagesOf(ben!, group.id)).find((m) => m.id === sent.body.id);
      expect(listed.attachments[0]).toMatchObject({ id: media.id, status: 'ready', width: 200, height: 400 });
    } finally {
      await benWs.close();
    }
  });

  it('a message may carry text and several attachments in order, or attachments alone', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const a = await uploaded(server.url, ana!, await pngImage(10, 10));
    const b = await uploaded(server.url, ana!, Buffer.from('plain text file'), { name: 'b.txt' });
    const c = await uploaded(server.url, ana!, await pngImage(20, 10));
    const sent = await sendWithAttachments(api, ana!, chat.id, [c.id, a.id, b.id]);
    expect(sent.status).toBe(201);
    expect(sent.body.body).toBe('');
    expect(sent.body.attachments.map((x: any) => x.id)).toEqual([c.id, a.id, b.id]);
    // The chat list says what it is.
    const listed = (await api.get(`/api/chats/${chat.id}`, as(ben!))).body;
    expect(listed.lastMessage.text).toBe('📎 3 attachments');
    const photo = await uploaded(server.url, ana!, await pngImage());
    await sendWithAttachments(api, ana!, chat.id, [photo.id]);
    expect((await api.get(`/api/chats/${chat.id}`, as(ben!))).body.lastMessage.text).toBe('📷 Photo');
    const empty = await api.post(
      `/api/chats/${chat.id}/messages`,
      { clientMsgId: randomUUID(), body: '  ' },
      as(ana!),
    );
    expect(refusal(empty)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
  });

  it("someone else's upload, a random id or one attached already cannot be attached", async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const bens = await uploaded(server.url, ben!, await pngImage());
    expect(refusal(await sendWithAttachments(api, ana!, chat.id, [bens.id]))).toEqual({
      status: 404,
      code: 'NOT_FOUND',
    });
    expect(refusal(await sendWithAttachments(api, ana!, chat.id, [randomUUID()]))).toEqual({
      status: 404,
      code: 'NOT_FOUND',
    });
    const mine = await uploaded(server.url, ana!, await pngImage());
    expect((await sendWithAttachments(api, ana!, chat.id, [mine.id])).status).toBe(201);
    expect(refusal(await sendWithAttachments(api, ana!, chat.id, [mine.id]))).toEqual({
      status: 409,
      code: 'ALREADY_ATTACHED',
    });
    // Nothing half-done: the refused sends left no message.
    expect((await messagesOf(ana!, chat.id)).length).toBe(1);
  });

  it('a retried send with attachments returns the original message', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const m = await uploaded(server.url, ana!, await pngImage());
    const body = { clientMsgId: randomUUID(), body: 'x', attachments: [m.id] };
    const first = await api.post(`/api/chats/${chat.id}/messages`, body, as(ana!));
    const again = await api.post(`/api/chats/${chat.id}/messages`, body, as(ana!));
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.body.id).toBe(first.body.id);
  });

  it('strangers, removed members and random ids get the same 404 on every media URL', async () => {
    const [ana, ben, eve] = await users(3);
    const group = await groupWith(ana!, [ben!]);
    const media = await uploaded(server.url, ana!, await pngImage(), { name: 'secret.png' });
    // Before it is attached only the uploader sees it.
    expect((await api.get(`/api/media/${media.id}`, as(ben!))).status).toBe(404);
    expect((await sendWithAttachments(api, ana!, group.id, [media.id])).status).toBe(201);
    const forBen = await settled(api, ben!, media.id);

    const notFound = { status: 404, code: 'NOT_FOUND' };
    const random = randomUUID();
    for (const [who, id] of [
      [eve!, media.id],
      [eve!, random],
    ] as const) {
      expect(refusal(await api.get(`/api/media/${id}`, as(who)))).toEqual(notFound);
      expect((await api.post('/api/media/resolve', { ids: [id] }, as(who))).body.media).toEqual([]);
      expect(refusal(await api.del(`/api/media/${id}`, as(who)))).toEqual(notFound);
      expect(refusal(await api.post(`/api/media/uploads/${id}/complete`, undefined, as(who)))).toEqual(
        notFound,
      );
    }
    expect(refusal(await api.get(`/api/chats/${group.id}/media`, as(eve!)))).toEqual(notFound);
    // Ben's URL with Eve's id in it: the signature no longer matches.
    const forged = forBen.urls.thumbnail!.replace(`user=${ben!.id}`, `user=${eve!.id}`);
    expect((await download(server.url, forged)).status).toBe(404);
    const wrongVariant = forBen.urls.thumbnail!.replace('/thumbnail?', '/original?');
    expect((await download(server.url, wrongVariant)).status).toBe(404);
    const randomUrl = forBen.urls.thumbnail!.replace(media.id, random);
    expect((await download(server.url, randomUrl)).status).toBe(404);
    expect((await download(server.url, forBen.urls.thumbnail!)).status).toBe(200);

    // Removed: Ben's URLs stop working at once, not when they expire.
    const removed = await api.del(`/api/chats/${group.id}/members/${ben!.id}`, as(ana!));
    expect(removed.status).toBe(204);
    expect((await download(server.url, forBen.urls.thumbnail!)).status).toBe(404);
    expect(refusal(await api.get(`/api/media/${media.id}`, as(ben!)))).toEqual(notFound);
    expect(refusal(await api.get(`/api/chats/${group.id}/media`, as(ben!)))).toEqual(notFound);
    expect((await api.post('/api/media/resolve', { ids: [media.id] }, as(ben!))).body.media).toEqual([]);
  });

  it('serves with nosniff, a sandboxing CSP and a disposition; documents always as attachments', async () => {
    const [ana] = await users(1);
    const pic = await settled(
      api,
      ana!,
      (await uploaded(server.url, ana!, await pngImage(), { name: 'ça va.png' })).id,
    );
    const res = await download(server.url, pic.urls.original!);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain('sandbox');
    expect(res.headers.get('content-disposition')).toMatch(
      /^inline; filename="_a va.png"; filename\*=UTF-8''%C3%A7a%20va.png$/,
    );
    expect(res.headers.get('content-type')).toBe('image/png');
    const asked = await download(server.url, `${pic.urls.original!}&download=1`);
    expect(asked.status).toBe(200);
    expect(asked.headers.get('content-disposition')).toMatch(/^attachment;/);
    const doc = await settled(
      api,
      ana!,
      (await uploaded(server.url, ana!, Buffer.from('hello\n'), { name: 'x.txt' })).id,
    );
    const docRes = await download(server.url, doc.urls.original!);
    expect(docRes.headers.get('content-disposition')).toMatch(/^attachment;/);
    expect(docRes.bytes.toString()).toBe('hello\n');
  });

  it('serves byte ranges (206) and refuses ranges outside the file (416)', async () => {
    const [ana] = await users(1);
    const text = Buffer.from('0123456789abcdefghij');
    const doc = await settled(api, ana!, (await uploaded(server.url, ana!, text, { name: 'r.txt' })).id);
    const part = await download(server.url, doc.urls.original!, { range: 'bytes=5-9' });
    expect(part.status).toBe(206);
    expect(part.bytes.toString()).toBe('56789');
    expect(part.headers.get('content-range')).toBe(`bytes 5-9/${text.length}`);
    const tail = await download(server.url, doc.urls.original!, { range: 'bytes=-3' });
    expect(tail.bytes.toString()).toBe('hij');
    const outside = await download(server.url, doc.urls.original!, { range: 'bytes=100-200' });
    expect(outside.status).toBe(416);
  });

  it('an expired URL says so (403) and a fresh one is one GET away', async () => {
    const [ana] = await users(1);
    const pic = await settled(api, ana!, (await uploaded(server.url, ana!, await pngImage())).id);
    server.clock.advance(2 * 3600_000);
    try {
      const res = await download(server.url, pic.urls.thumbnail!);
      expect(res.status).toBe(403);
      expect(JSON.parse(res.bytes.toString()).error.code).toBe('MEDIA_URL_EXPIRED');
      const fresh = await api.get(`/api/media/${pic.id}`, as(ana!));
      expect((await download(server.url, fresh.body.urls.thumbnail)).status).toBe(200);
    } finally {
      server.clock.advance(-2 * 3600_000);
    }
  });
});

describe('deleting and sweeping', () => {
  it('delete for everyone makes the files unreachable at once and the sweep deletes the bytes', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const media = await uploaded(server.url, ana!, await pngImage());
    const sent = await sendWithAttachments(api, ana!, chat.id, [media.id]);
    const ready = await settled(api, ben!, media.id);
    const stored = await server.running.ctx.db.prisma.media.findUniqueOrThrow({ where: { id: media.id } });
    const keys = Object.values(stored.variants as Record<string, { key: string }>).map((v) => v.key);
    expect(keys.length).toBeGreaterThan(0);

    expect((await api.del(`/api/messages/${sent.body.id}?scope=everyone`, as(ana!))).status).toBe(204);
    expect((await download(server.url, ready.urls.thumbnail!)).status).toBe(404);
    expect((await api.get(`/api/media/${media.id}`, as(ben!))).status).toBe(404);
    const tombstone = (await messagesOf(ben!, chat.id)).find((m) => m.id === sent.body.id);
    expect(tombstone.attachments).toEqual([]);

    await server.running.ctx.mediaSweeper.sweep();
    for (const key of keys) expect(await server.running.ctx.objects.stat(key)).toBeNull();
    expect(await server.running.ctx.db.prisma.media.findUnique({ where: { id: media.id } })).toBeNull();
  });

  it('disappearing messages take their files with them', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    expect(
      (await api.put(`/api/chats/${chat.id}/settings`, { messageTtlSeconds: 3600 }, as(ana!))).status,
    ).toBe(200);
    const media = await uploaded(server.url, ana!, await pngImage());
    await sendWithAttachments(api, ana!, chat.id, [media.id]);
    const ready = await settled(api, ben!, media.id);
    server.clock.advance(3601_000);
    try {
      // Before the sweeps run, it is already out of reach.
      expect((await download(server.url, ready.urls.thumbnail!)).status).toBe(404);
      await server.running.ctx.expirer.sweep();
      await server.running.ctx.mediaSweeper.sweep();
      expect(await server.running.ctx.db.prisma.media.findUnique({ where: { id: media.id } })).toBeNull();
    } finally {
      server.clock.advance(-3601_000);
    }
  });

  it('uploads never attached are deleted after a day; cancelled ones at the next sweep', async () => {
    const [ana] = await users(1);
    const kept = await uploaded(server.url, ana!, await pngImage());
    const cancelled = await uploaded(server.url, ana!, await pngImage());
    expect((await api.del(`/api/media/${cancelled.id}`, as(ana!))).status).toBe(204);
    expect((await api.get(`/api/media/${cancelled.id}`, as(ana!))).status).toBe(404);
    await settled(api, ana!, kept.id);
    await server.running.ctx.mediaSweeper.sweep();
    const prisma = server.running.ctx.db.prisma;
    expect(await prisma.media.findUnique({ where: { id: cancelled.id } })).toBeNull();
    expect(await prisma.media.findUnique({ where: { id: kept.id } })).not.toBeNull();
    server.clock.advance(25 * 3600_000);
    try {
      await server.running.ctx.mediaSweeper.sweep();
      expect(await prisma.media.findUnique({ where: { id: kept.id } })).toBeNull();
    } finally {
      server.clock.advance(-25 * 3600_000);
    }
  });
});

describe('direct uploads and galleries', () => {
  it('a direct upload: ticket, PUT the bytes, complete; checked like any upload', async () => {
    const [ana] = await users(1);
    const png = await pngImage(30, 20);
    const ticket = await api.post('/api/media/uploads', { name: 'direct.png', size: png.length }, as(ana!));
    expect(ticket.status).toBe(201);
    expect(ticket.body.method).toBe('PUT');
    const early = await api.post(`/api/media/uploads/${ticket.body.mediaId}/complete`, undefined, as(ana!));
    expect(refusal(early)).toEqual({ status: 409, code: 'UPLOAD_INCOMPLETE' });
    const url = ticket.body.url.startsWith('http') ? ticket.body.url : server.url + ticket.body.url;
    const put = await fetch(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', ...ticket.body.headers },
      body: png,
    });
    expect(put.status).toBeLessThan(300);
    const done = await api.post(`/api/media/uploads/${ticket.body.mediaId}/complete`, undefined, as(ana!));
    expect(done.status).toBe(201);
    expect(done.body).toMatchObject({ kind: 'image', mime: 'image/png', name: 'direct.png' });
    expect((await settled(api, ana!, done.body.id)).status).toBe('ready');

    const exe = elfExecutable();
    const bad = await api.post('/api/media/uploads', { name: 'x.png', size: exe.length }, as(ana!));
    const badUrl = bad.body.url.startsWith('http') ? bad.body.url : server.url + bad.body.url;
    await fetch(badUrl, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: exe,
    });
    const refused = await api.post(`/api/media/uploads/${bad.body.mediaId}/complete`, undefined, as(ana!));
    expect(refusal(refused)).toEqual({ status: 415, code: 'FILE_TYPE_NOT_ALLOWED' });
    const tooBig = await api.post('/api/media/uploads', { name: 'x.bin', size: 1024 ** 3 }, as(ana!));
    expect(refusal(tooBig)).toEqual({ status: 413, code: 'FILE_TOO_LARGE' });
  });

  it("with S3 the web app's page may connect to the bucket its direct-upload URLs point at", async () => {
    // The web app PUTs large files to the ticket's URL from the page: the page's CSP must
    // allow that origin, or the browser blocks the PUT and every file goes through the server.
    const s3 = await startS3();
    const publicUrl = 'http://media.example.test:9000';
    const withS3 = await startTestServer({
      S3_ENDPOINT: `http://${s3.settings.endPoint}:${s3.settings.port}`,
      S3_PUBLIC_URL: publicUrl,
      S3_BUCKET: s3.settings.bucket,
      S3_ACCESS_KEY: s3.settings.accessKey,
      S3_SECRET_KEY: s3.settings.secretKey,
    });
    try {
      const s3Api = client(withS3.url);
      const [ana] = await registerUsers(s3Api, 1);
      const ticket = await s3Api.post('/api/media/uploads', { name: 'big.zip', size: 100 }, as(ana!));
      expect(ticket.status).toBe(201);
      const target = new URL(ticket.body.url).origin;
      expect(target).toBe(publicUrl);
      const page = await fetch(`${withS3.url}/`);
      const csp = page.headers.get('content-security-policy') ?? '';
      const connectSrc = /(?:^|;)\s*connect-src ([^;]*)/.exec(csp)?.[1]?.split(/\s+/) ?? [];
      expect(connectSrc).toContain(target);
      expect(connectSrc).toContain("'self'");
    } finally {
      await withS3.close();
      await s3.stop();
    }
    // With files on this server, the page connects to itself only.
    const csp = (await fetch(`${server.url}/`)).headers.get('content-security-policy') ?? '';
    if (server.config.media.storage.kind === 'local') {
      expect(/connect-src ([^;]*)/.exec(csp)?.[1]).toBe("'self' ws: wss:");
    }
  });

  it('a direct upload whose stored bytes exceed every limit is refused without fetching them', async () => {
    // A presigned S3 PUT cannot hold the client to the size it announced: the bytes in the
    // bucket may be anything up to S3's 5 GB. Completion must not copy them to this server.
    const [ana] = await users(1);
    const ctx = server.running.ctx;
    const ticket = await api.post('/api/media/uploads', { name: 'small.pdf', size: 100 }, as(ana!));
    expect(ticket.status).toBe(201);
    const row = await ctx.db.prisma.media.findUniqueOrThrow({ where: { id: ticket.body.mediaId } });
    const oversized = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(3 * 1024 * 1024, 0x20)]);
    await ctx.objects.putBuffer(row.sourceKey, oversized, 'application/octet-stream');

    const fetched: string[] = [];
    const download = ctx.objects.download.bind(ctx.objects);
    ctx.objects.download = async (key, file) => {
      fetched.push(key);
      return download(key, file);
    };
    try {
      const done = await api.post(`/api/media/uploads/${row.id}/complete`, undefined, as(ana!));
      expect(refusal(done)).toEqual({ status: 413, code: 'FILE_TOO_LARGE' });
    } finally {
      ctx.objects.download = download;
    }
    expect(fetched).toEqual([]);
    expect(await ctx.objects.stat(row.sourceKey)).toBeNull();
    expect((await api.get(`/api/media/${row.id}`, as(ana!))).status).toBe(404);
  });

  it("a chat's gallery lists its pictures and its files apart, newest first, page by page", async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const pics = [];
    for (let i = 0; i < 3; i++) pics.push(await uploaded(server.url, ana!, await pngImage(10 + i, 10)));
    const doc = await uploaded(server.url, ana!, Buffer.from('doc'), { name: 'doc.txt' });
    await sendWithAttachments(api, ana!, chat.id, [pics[0]!.id, pics[1]!.id]);
    await sendWithAttachments(api, ana!, chat.id, [doc.id]);
    await sendWithAttachments(api, ana!, chat.id, [pics[2]!.id]);
    const first = await api.get(`/api/chats/${chat.id}/media?kind=media&limit=2`, as(ben!));
    expect(first.status).toBe(200);
    expect(first.body.media.map((m: any) => m.id)).toEqual([pics[2]!.id, pics[1]!.id]);
    const second = await api.get(
      `/api/chats/${chat.id}/media?kind=media&limit=2&cursor=${encodeURIComponent(first.body.nextCursor)}`,
      as(ben!),
    );
    expect(second.body.media.map((m: any) => m.id)).toEqual([pics[0]!.id]);
    expect(second.body.nextCursor).toBeNull();
    const files = await api.get(`/api/chats/${chat.id}/media?kind=file`, as(ben!));
    expect(files.body.media.map((m: any) => [m.id, m.name])).toEqual([[doc.id, 'doc.txt']]);
  });
});

describe('quota', () => {
  it('refuses uploads past the user storage quota with its own code', async () => {
    const small = await startTestServer({ MEDIA_QUOTA_BYTES: '3000' });
    try {
      const smallApi = client(small.url);
      const [ana] = await registerUsers(smallApi, 1);
      const first = await upload(small.url, ana!, Buffer.alloc(2000, 'a'), { name: 'a.txt' });
      expect(first.status).toBe(201);
      const second = await upload(small.url, ana!, Buffer.alloc(2000, 'b'), { name: 'b.txt' });
      expect(refusal(second)).toEqual({ status: 403, code: 'STORAGE_QUOTA_EXCEEDED' });
      // Deleting frees the space.
      expect((await smallApi.del(`/api/media/${first.body.id}`, as(ana!))).status).toBe(204);
      expect((await upload(small.url, ana!, Buffer.alloc(2000, 'c'), { name: 'c.txt' })).status).toBe(201);
    } finally {
      await small.close();
    }
  });
});

describe('voice notes and videos (ffmpeg)', () => {
  const ffmpeg = (args: string[]) =>
    new Promise<void>((resolve, reject) =>
      execFile('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args], (err) =>
        err ? reject(err) : resolve(),
      ),
    );

  it('a video gets a poster and its duration; the served file has no location', async () => {
    const [ana] = await users(1);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-video-'));
    try {
      const file = path.join(dir, 'clip.mp4');
      await ffmpeg([
        ...['-f', 'lavfi', '-i', 'testsrc=duration=2:size=320x240:rate=10'],
        ...['-c:v', 'mpeg4', '-metadata', 'location=+48.8566+002.3522/', '-metadata', 'title=Secret place'],
        ...['-movflags', '+use_metadata_tags'],
        file,
      ]);
      const bytes = await readFile(file);
      expect(bytes.includes(Buffer.from('+48.8566'))).toBe(true);
      const media = await settled(
        api,
        ana!,
        (await uploaded(server.url, ana!, bytes, { name: 'clip.mp4' })).id,
      );
      expect(media).toMatchObject({
        kind: 'video',
        mime: 'video/mp4',
        status: 'ready',
        width: 320,
        height: 240,
      });
      expect(media.durationMs).toBeGreaterThanOrEqual(1900);
      expect(media.durationMs).toBeLessThanOrEqual(2100);
      expect(media.variants.sort()).toEqual(['original', 'poster']);
      const poster = await download(server.url, media.urls.poster!);
      expect(poster.headers.get('content-type')).toBe('image/jpeg');
      expect(await sharp(poster.bytes).metadata()).toMatchObject({ width: 320, height: 240 });
      const served = await download(server.url, media.urls.original!);
      expect(served.headers.get('content-type')).toBe('video/mp4');
      expect(served.bytes.includes(Buffer.from('+48.8566'))).toBe(false);
      expect(served.bytes.includes(Buffer.from('Secret place'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a voice note gets its duration and waveform', async () => {
    const [ana] = await users(1);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-voice-'));
    try {
      const file = path.join(dir, 'note.webm');
      await ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-c:a', 'libopus', file]);
      const media = await settled(
        api,
        ana!,
        (
          await uploaded(server.url, ana!, await readFile(file), {
            name: 'note.webm',
            fields: { voice: 'true' },
          })
        ).id,
      );
      expect(media).toMatchObject({ kind: 'voice', status: 'ready' });
      expect(media.durationMs).toBeGreaterThanOrEqual(1900);
      expect(media.waveform).toHaveLength(64);
      expect(Math.max(...media.waveform)).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the worker', () => {
  it('pending work survives a restart: a new worker picks it up from the database', async () => {
    const [ana] = await users(1);
    const ctx = server.running.ctx;
    await ctx.mediaQueue.close(); // this node "goes down" before processing
    const media = await uploaded(server.url, ana!, await pngImage());
    expect((await api.get(`/api/media/${media.id}`, as(ana!))).body.status).toBe('pending');
    ctx.mediaQueue = createMediaQueue(ctx); // … and comes back
    ctx.mediaQueue.start();
    expect((await settled(api, ana!, media.id)).status).toBe('ready');
  });

  it('an upload that cannot be processed is marked failed with a reason, and its uploader hears of it', async () => {
    const [ana] = await users(1);
    const ws = await connectAs(server.url, ana!.accessToken);
    try {
      // A JPEG whose data is cut off after the header: the type is right, the picture broken.
      const whole = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#123' } })
        .jpeg()
        .toBuffer();
      const media = await uploaded(server.url, ana!, whole.subarray(0, 300), { name: 'broken.jpg' });
      const update = await ws.waitFor((f) => f.type === 'media:updated' && f.data.attachment.id === media.id);
      expect(update.data).toMatchObject({ chatId: null, messageId: null, attachment: { status: 'failed' } });
      expect(update.data.attachment.failureReason).toEqual(expect.any(String));
      const [chatPartner] = await users(1);
      const chat = await openDirectChat(api, ana!, chatPartner!);
      expect(refusal(await sendWithAttachments(api, ana!, chat.id, [media.id]))).toEqual({
        status: 400,
        code: 'VALIDATION_ERROR',
      });
    } finally {
      await ws.close();
    }
  });
});

describe('without ffmpeg', () => {
  it('a video still uploads: a generic poster, and one line in the server log', async () => {
    const bare = await startTestServer({
      FFMPEG_PATH: '/nonexistent/ffmpeg',
      FFPROBE_PATH: '/nonexistent/ffprobe',
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-video-'));
    try {
      const bareApi = client(bare.url);
      const [ana] = await registerUsers(bareApi, 1);
      const file = path.join(dir, 'clip.webm');
      await new Promise<void>((resolve, reject) =>
        execFile(
          'ffmpeg',
          [
            '-nostdin',
            '-v',
            'error',
            '-y',
            '-f',
            'lavfi',
            '-i',
            'testsrc=duration=1:size=160x120:rate=5',
            file,
          ],
          (err) => (err ? reject(err) : resolve()),
        ),
      );
      const media = await settled(
        bareApi,
        ana!,
        (await uploaded(bare.url, ana!, await readFile(file), { name: 'clip.webm' })).id,
      );
      expect(media).toMatchObject({ kind: 'video', status: 'ready' });
      expect(media.variants.sort()).toEqual(['original', 'poster']);
      const poster = await download(bare.url, media.urls.poster!);
      expect(poster.headers.get('content-type')).toBe('image/jpeg');
      expect(bare.logs.filter((l) => l.includes('ffmpeg not found'))).toHaveLength(1);
    } finally {
      await bare.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
