/**
 * Media analysis through the real server, database and models: pictures the test renders
 * (text in several fonts and sizes, rotated, on a photo) and photos shipped with the tests
 * (test/fixtures/photos) are read by the real OCR and object models in the analysis process,
 * then found by search — by members only, with one wrong letter too — and forgotten with
 * their message.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import sharp from 'sharp';
import { createGroup, registerUser, registerUsers, type TestUser } from '../../../test/support/factories.js';
import { as, client, type Client } from '../../../test/support/http.js';
import { download, pngImage, sendWithAttachments, settled, uploaded } from '../../../test/support/media.js';
import { startTestServer, type TestServer } from '../../../test/support/server.js';
import { analysisProcesses } from '../../../test/support/analysis-processes.js';
import { waitUntil } from '../../../test/support/wait.js';
import { createAnalyser } from './analyser.js';
import { createAnalysisQueue } from './analysis-queue.js';

const photos = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/photos');

let server: TestServer;
let api: Client;

beforeAll(async () => {
  server = await startTestServer({
    MEDIA_ANALYSIS: 'on',
    SEND_RATE_PER_SECOND: '1000',
    // The word list (similar words) reads up to now; tests refresh it by hand.
    SEARCH_WORDS_MS: '3600000',
    SEARCH_WORDS_LAG_MS: '0',
  });
  api = client(server.url);
});
afterAll(() => server.close());

const svg = (width: number, height: number, body: string, background = '#ffffff') =>
  Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<rect width="100%" height="100%" fill="${background}"/>${body}</svg>`,
  );

/** Pictures with text, as people share them. */
const pictures = {
  /** A printed page: a serif font, two sizes. */
  ledger: () =>
    sharp(
      svg(
        900,
        220,
        `<text x="30" y="90" font-family="DejaVu Serif" font-size="52">Quarterly ledger 4711</text>` +
          `<text x="30" y="170" font-family="DejaVu Serif" font-size="40">Reconciliation pending</text>`,
      ),
    )
      .png()
      .toBuffer(),
  /** A terminal screenshot: light monospace on dark, small. */
  terminal: () =>
    sharp(
      svg(
        1000,
        200,
        `<text fill="#e0e0e0" x="20" y="80" font-family="DejaVu Sans Mono" font-size="30">Error: ECONNREFUSED 127.0.0.1:5432</text>` +
          `<text fill="#e0e0e0" x="20" y="140" font-family="DejaVu Sans Mono" font-size="22">at TCPConnectWrap.afterConnect</text>`,
        '#1e1e1e',
      ),
    )
      .png()
      .toBuffer(),
  /** A whiteboard photographed askew: bold sans, turned 8°. */
  whiteboard: () =>
    sharp(
      svg(
        900,
        400,
        `<g transform="rotate(-8 450 200)">` +
          `<text x="80" y="180" font-family="DejaVu Sans" font-weight="bold" font-size="56">WHITEBOARD retrospective</text>` +
          `<text x="80" y="260" font-family="DejaVu Sans" font-size="40">action items: rollback</text></g>`,
        '#f4f1e8',
      ),
    )
      .jpeg()
      .toBuffer(),
  /** A page photographed sideways or upside down: turned by `angle` degrees clockwise. */
  turned: (angle: number, first: string, second: string) =>
    sharp(
      svg(
        900,
        220,
        `<text x="30" y="90" font-family="DejaVu Sans" font-size="48">${first}</text>` +
          `<text x="30" y="170" font-family="DejaVu Sans" font-size="40">${second}</text>`,
      ),
    )
      .rotate(angle)
      .png()
      .toBuffer(),
  /** Text on a photo (a caption over the coffee picture), another font. */
  caption: async () =>
    sharp(await readFile(path.join(photos, 'coffee.jpg')))
      .composite([
        {
          input: Buffer.from(
            `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="267">` +
              `<text x="14" y="50" font-family="Liberation Sans" font-weight="bold" font-size="30" ` +
              `fill="white" stroke="black" stroke-width="1">Espresso receipt</text></svg>`,
          ),
          left: 0,
          top: 0,
        },
      ])
      .jpeg({ quality: 90 })
      .toBuffer(),
};

/** Waits for the picture's analysis to end; returns its row. */
async function analysed(mediaId: string) {
  const prisma = server.running.ctx.db.prisma;
  let row: Awaited<ReturnType<typeof prisma.mediaAnalysis.findUnique>> = null;
  await waitUntil(
    'the picture to be analysed',
    async () => {
      row = await prisma.mediaAnalysis.findUnique({ where: { mediaId } });
      return row !== null && row.status !== 'pending';
    },
    180_000,
    100,
  );
  return row!;
}

/** Posts pictures to a new group of owner and member (one message each); returns ids by name. */
async function postPictures(named: Record<string, Buffer>) {
  const [owner, member] = (await registerUsers(api, 2)) as [TestUser, TestUser];
  const group = await createGroup(api, owner, [member]);
  const media: Record<string, string> = {};
  const messages: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(named)) {
    const up = await uploaded(server.url, owner, bytes, { name: `${name}.png` });
    const sent = await sendWithAttachments(api, owner, group.id, [up.id], 'have a look');
    expect(sent.status).toBe(201);
    media[name] = up.id;
    messages[name] = sent.body.id;
  }
  for (const id of Object.values(media)) expect((await analysed(id)).status).toBe('done');
  return { owner, member, group, media, messages };
}

async function search(user: TestUser, q: string, extra: Record<string, string> = {}) {
  const res = await api.get(`/api/search?${new URLSearchParams({ q, ...extra }).toString()}`, as(user));
  expect(res.status).toBe(200);
  return res.body as {
    messages: {
      messageId: string;
      snippet: { text: string };
      file?: { id: string };
      image?: {
        id: string;
        thumbnailUrl: string | null;
        text: { text: string; highlights: { start: number; end: number }[] };
        labels: { label: string; score: number }[];
      };
    }[];
    approximate?: boolean;
  };
}

describe('text in pictures', () => {
  let posted: Awaited<ReturnType<typeof postPictures>>;
  beforeAll(async () => {
    posted = await postPictures({
      ledger: await pictures.ledger(),
      terminal: await pictures.terminal(),
      whiteboard: await pictures.whiteboard(),
      caption: await pictures.caption(),
      quarter: await pictures.turned(90, 'Turnstile manifest 2291', 'Platform closed'),
      threeQuarters: await pictures.turned(270, 'Sideways invoice 3307', 'Paid in full'),
      halfTurn: await pictures.turned(180, 'Inverted waybill 6604', 'Handle with care'),
    });
    await server.running.ctx.wordList.refresh();
  });

  it('stores the text read in each picture', async () => {
    const text = async (name: string) =>
      (await server.running.ctx.db.prisma.mediaAnalysis.findUnique({
        where: { mediaId: posted.media[name]! },
      }))!.text!;
    expect(await text('ledger')).toMatch(/ledger 4711/i);
    expect(await text('terminal')).toMatch(/127\.0\.0\.1:5432/);
    expect(await text('whiteboard')).toMatch(/rollback/i);
    expect(await text('caption')).toMatch(/espresso/i);
    // Turned by a quarter, by three quarters and upside down.
    expect(await text('quarter')).toMatch(/turnstile/i);
    expect(await text('threeQuarters')).toMatch(/invoice/i);
    expect(await text('halfTurn')).toMatch(/waybill/i);
  });

  it('has:image and a word it shows finds the message, with the thumbnail and the text around the match', async () => {
    const { member, messages, media } = posted;
    for (const [q, name] of [
      ['has:image ledger', 'ledger'],
      ['has:image reconciliation', 'ledger'],
      ['has:image econnrefused', 'terminal'],
      ['has:image 5432', 'terminal'],
      ['has:image whiteboard', 'whiteboard'],
      ['has:image rollback', 'whiteboard'],
      ['has:image espresso', 'caption'],
      ['has:image turnstile', 'quarter'],
      ['has:image sideways', 'threeQuarters'],
      ['has:image waybill', 'halfTurn'],
    ] as const) {
      const page = await search(member, q);
      expect({ q, found: page.messages.map((h) => h.messageId) }).toEqual({ q, found: [messages[name]] });
      const image = page.messages[0]!.image!;
      expect(image.id).toBe(media[name]);
      expect(image.text.highlights.length).toBeGreaterThan(0);
      const thumbnail = await download(server.url, image.thumbnailUrl!);
      expect(thumbnail.status).toBe(200);
      expect(thumbnail.headers.get('content-type')).toMatch(/^image\//);
    }
    // Without has:image, a message search matches message text only.
    expect((await search(member, 'ledger')).messages).toEqual([]);
  });

  it('a word with one wrong letter finds the picture too (similar words)', async () => {
    const { member, messages } = posted;
    for (const [q, name] of [
      ['has:image ledgar', 'ledger'],
      ['has:image rolback', 'whiteboard'],
      ['has:image econnrefuzed', 'terminal'],
      ['has:image espreso', 'caption'],
    ] as const) {
      const page = await search(member, q);
      expect({ q, found: page.messages.map((h) => h.messageId) }).toEqual({ q, found: [messages[name]] });
      expect(page.approximate).toBe(true);
    }
  });

  it('type=media searches pictures only: one hit per picture', async () => {
    const { member, media } = posted;
    const page = await search(member, 'retrospective', { type: 'media' });
    expect(page.messages.map((h) => h.file?.id)).toEqual([media.whiteboard]);
    expect(page.messages[0]!.image!.id).toBe(media.whiteboard);
    expect((await search(member, 'have a look', { type: 'media' })).messages).toEqual([]);
  });

  it('a stranger never finds them, whatever the query', async () => {
    const stranger = await registerUser(api);
    for (const q of [
      'has:image ledger',
      'has:image ledgar',
      'has:image econnrefused',
      'has:image espresso',
      'has:image turnstile',
      'has:image sideways',
      'has:image waybill',
    ]) {
      expect((await search(stranger, q)).messages).toEqual([]);
    }
    for (const q of ['ledger', 'whiteboard', 'espreso']) {
      expect((await search(stranger, q, { type: 'media' })).messages).toEqual([]);
    }
  });
});

describe('labels', () => {
  it('photos are labelled with scores, found by label, and the gallery filters by label', async () => {
    const photo = (name: string) => readFile(path.join(photos, name));
    const { member, group, media, messages } = await postPictures({
      astronaut: await photo('astronaut.jpg'),
      cat: await photo('cat.jpg'),
      coffee: await photo('coffee.jpg'),
    });
    const labels = await server.running.ctx.db.prisma.mediaLabel.findMany({
      where: { mediaId: { in: Object.values(media) } },
    });
    const of = (name: string) => labels.filter((l) => l.mediaId === media[name]).map((l) => l.label);
    expect(of('astronaut')).toContain('person');
    expect(of('cat')).toContain('cat');
    expect(of('coffee')).toContain('cup');
    for (const l of labels)
      expect(l.score).toBeGreaterThanOrEqual(server.config.media.analysis.labelMinScore);

    const cats = await search(member, 'cat', { type: 'media' });
    expect(cats.messages.map((h) => h.file?.id)).toEqual([media.cat]);
    expect(cats.messages[0]!.image!.labels).toEqual([{ label: 'cat', score: expect.any(Number) }]);
    expect((await search(member, 'has:image cup')).messages.map((h) => h.messageId)).toEqual([
      messages.coffee,
    ]);

    const gallery = await api.get(`/api/chats/${group.id}/media?kind=media&label=cat`, as(member));
    expect(gallery.status).toBe(200);
    expect(gallery.body.media.map((m: { id: string }) => m.id)).toEqual([media.cat]);
    expect(gallery.body.labels).toEqual(
      expect.arrayContaining([
        { label: 'cat', count: 1 },
        { label: 'cup', count: 1 },
        { label: 'person', count: 1 },
      ]),
    );
    const stranger = await registerUser(api);
    expect((await api.get(`/api/chats/${group.id}/media?label=cat`, as(stranger))).status).toBe(404);
    expect((await search(stranger, 'cat', { type: 'media' })).messages).toEqual([]);
  });
});

describe('privacy', () => {
  it('deleting the message for everyone removes the text and the labels at once', async () => {
    const { owner, member, media, messages } = await postPictures({ ledger: await pictures.ledger() });
    const prisma = server.running.ctx.db.prisma;
    expect(await prisma.mediaAnalysis.count({ where: { mediaId: media.ledger } })).toBe(1);
    const res = await api.del(`/api/messages/${messages.ledger}?scope=everyone`, as(owner));
    expect(res.status).toBeLessThan(300);
    expect(await prisma.mediaAnalysis.count({ where: { mediaId: media.ledger } })).toBe(0);
    expect(await prisma.mediaLabel.count({ where: { mediaId: media.ledger } })).toBe(0);
    expect((await search(member, 'has:image ledger')).messages).toEqual([]);
  });

  it('a message that expires takes its picture’s text with it', async () => {
    const prisma = server.running.ctx.db.prisma;
    const { media, messages } = await postPictures({ ledger: await pictures.ledger() });
    expect(await prisma.mediaAnalysis.count({ where: { mediaId: media.ledger } })).toBe(1);
    // What the expiry does to the row: it goes, and the foreign key lets go of the picture.
    await prisma.message.delete({ where: { id: messages.ledger } });
    expect(await prisma.mediaAnalysis.count({ where: { mediaId: media.ledger } })).toBe(0);
  });
});

describe('operations', () => {
  it('pending analysis survives a restart: a new queue picks it up from the database', async () => {
    const ctx = server.running.ctx;
    const [ana] = (await registerUsers(api, 1)) as [TestUser];
    await ctx.mediaAnalysis.close(); // this node "goes down" before analysing
    const up = await uploaded(server.url, ana, await pictures.ledger(), { name: 'ledger.png' });
    expect((await settled(api, ana, up.id)).status).toBe('ready');
    const row = await ctx.db.prisma.mediaAnalysis.findUnique({ where: { mediaId: up.id } });
    expect(row?.status).toBe('pending');
    // … and comes back with a new process (models loaded afresh).
    const analyser = createAnalyser({
      processes: 1,
      timeoutMs: 120_000,
      labelMinScore: 0.3,
      nice: ctx.config.media.analysis.nice,
    });
    ctx.mediaAnalysis = createAnalysisQueue(ctx, analyser);
    ctx.mediaAnalysis.start();
    try {
      const done = await analysed(up.id);
      expect(done.status).toBe('done');
      expect(done.text).toMatch(/ledger/i);
    } finally {
      await ctx.mediaAnalysis.close();
      await analyser.close();
      ctx.mediaAnalysis = createAnalysisQueue(ctx, ctx.analyser);
      ctx.mediaAnalysis.start();
    }
  });

  it('an analysis process that dies mid-picture fails only that try: the next try reads it in a new process', async () => {
    const ctx = server.running.ctx;
    const [ana] = (await registerUsers(api, 1)) as [TestUser];
    // A process with its models loaded (earlier tests), held still so the job cannot end…
    const warm = await uploaded(server.url, ana, await pngImage(64, 48), { name: 'warm.png' });
    expect((await settled(api, ana, warm.id)).status).toBe('ready');
    await analysed(warm.id);
    const [first] = analysisProcesses();
    expect(first).toBeDefined();
    process.kill(first!, 'SIGSTOP');
    try {
      const up = await uploaded(server.url, ana, await pictures.ledger(), { name: 'ledger.png' });
      expect((await settled(api, ana, up.id)).status).toBe('ready');
      await waitUntil(
        'the job to be taken',
        async () =>
          (await ctx.db.prisma.mediaAnalysis.findUnique({ where: { mediaId: up.id } }))?.attempts === 1,
        60_000,
        50,
      );
      // … and killed while it holds the picture (as by the kernel's out-of-memory killer).
      process.kill(first!, 'SIGKILL');
      // The try ends with the process, not at the 120 s timeout: the job's lease (10 minutes
      // when taken) is cut to the retry's short wait.
      await waitUntil(
        'the killed try to be given back',
        async () => {
          const r = await ctx.db.prisma.mediaAnalysis.findUnique({ where: { mediaId: up.id } });
          return r?.leaseUntil != null && r.leaseUntil.getTime() - ctx.now().getTime() < 60_000;
        },
        60_000,
        50,
      );
      const row = await analysed(up.id);
      expect(row.status).toBe('done');
      expect(row.attempts).toBe(2);
      expect(row.text).toMatch(/ledger/i);
      expect(analysisProcesses()).not.toContain(first);
      expect(analysisProcesses()).toHaveLength(1);
      // The server went on as before.
      expect((await api.get('/health')).status).toBe(200);
    } finally {
      try {
        process.kill(first!, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });

  it('a picture that cannot be read fails its analysis with a reason; the upload stays ready', async () => {
    const ctx = server.running.ctx;
    const [ana] = (await registerUsers(api, 1)) as [TestUser];
    const up = await uploaded(server.url, ana, await pngImage(64, 48), { name: 'green.png' });
    expect((await settled(api, ana, up.id)).status).toBe('ready');
    await analysed(up.id);
    // Its stored variant is replaced by bytes no decoder takes: every try fails.
    const broken = await uploaded(server.url, ana, await pngImage(64, 48), { name: 'broken.png' });
    const ready = await settled(api, ana, broken.id);
    expect(ready.status).toBe('ready');
    await analysed(broken.id);
    const row = await ctx.db.prisma.media.findUniqueOrThrow({ where: { id: broken.id } });
    const original = (row.variants as Record<string, { key: string }>).original!.key;
    await ctx.objects.putBuffer(original, Buffer.from('not a picture'), 'image/png');
    await ctx.db.prisma.mediaAnalysis.update({
      where: { mediaId: broken.id },
      data: { status: 'pending', attempts: 2, leaseUntil: null },
    });
    ctx.mediaAnalysis.wake();
    const failed = await analysed(broken.id);
    expect(failed.status).toBe('failed');
    expect(failed.failureReason).toEqual(expect.any(String));
    expect((await api.get(`/api/media/${broken.id}`, as(ana))).body.status).toBe('ready');
  });

  it('MEDIA_ANALYSIS=off: uploads work, nothing is analysed; turned on, what was made ready meanwhile is', async () => {
    const off = await startTestServer({ MEDIA_ANALYSIS: 'off' });
    try {
      const offApi = client(off.url);
      const [ana, ben] = (await registerUsers(offApi, 2)) as [TestUser, TestUser];
      const group = await createGroup(offApi, ana, [ben]);
      const up = await uploaded(off.url, ana, await pictures.ledger(), { name: 'ledger.png' });
      expect((await settled(offApi, ana, up.id)).status).toBe('ready');
      expect((await sendWithAttachments(offApi, ana, group.id, [up.id])).status).toBe(201);
      await off.running.ctx.mediaAnalysis.idle();
      expect(await off.running.ctx.db.prisma.mediaAnalysis.count()).toBe(0);
      expect(off.running.ctx.analyser.processes).toBe(0);

      // Turned on later (a node started with MEDIA_ANALYSIS=on on the same database): the
      // pictures made ready meanwhile are analysed and found; one whose message was deleted
      // for everyone is not (it may no longer be seen).
      const gone = await uploaded(off.url, ana, await pictures.terminal(), { name: 'terminal.png' });
      expect((await settled(offApi, ana, gone.id)).status).toBe('ready');
      const goneMsg = await sendWithAttachments(offApi, ana, group.id, [gone.id]);
      expect(goneMsg.status).toBe(201);
      expect((await offApi.del(`/api/messages/${goneMsg.body.id}?scope=everyone`, as(ana))).status).toBe(204);
      const ctx = off.running.ctx;
      const on = {
        ...ctx,
        config: {
          ...ctx.config,
          media: { ...ctx.config.media, analysis: { ...ctx.config.media.analysis, enabled: true } },
        },
      };
      const analyser = createAnalyser({
        processes: 1,
        timeoutMs: 120_000,
        labelMinScore: 0.3,
        nice: ctx.config.media.analysis.nice,
      });
      const queue = createAnalysisQueue(on, analyser);
      queue.start();
      try {
        await waitUntil(
          'the earlier picture to be analysed',
          async () =>
            (await ctx.db.prisma.mediaAnalysis.findUnique({ where: { mediaId: up.id } }))?.status === 'done',
          180_000,
          100,
        );
        await queue.idle();
        expect(await ctx.db.prisma.mediaAnalysis.count()).toBe(1);
        const found = await offApi.get(
          `/api/search?${new URLSearchParams({ q: 'has:image ledger' }).toString()}`,
          as(ben),
        );
        expect(found.status).toBe(200);
        expect(
          (found.body as { messages: { image?: { id: string } }[] }).messages.map((m) => m.image?.id),
        ).toEqual([up.id]);
      } finally {
        await queue.close();
        await analyser.close();
      }
    } finally {
      await off.close();
    }
  });
});
