/**
 * What a hostile client sends below the API (issue 11, items 5, 6 and 7): broken HTTP,
 * framework-level failures, NUL characters and invalid Unicode in every kind of field, slow
 * bodies and too many connections. Raw sockets, so nothing in between tidies the request.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { createGroup, registerUser, type TestUser } from '../../../test/support/factories.js';
import { as, client, type Client } from '../../../test/support/http.js';
import { startTestServer, type TestServer } from '../../../test/support/server.js';
import { connectAs } from '../../../test/support/ws.js';

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** ms from the first byte sent until the server closed the connection. */
  closedAfterMs: number;
}

/** Sends `head` (and then `chunks`, one every `everyMs`) on a fresh socket; resolves when the server closes it. */
function raw(url: string, head: string, chunks: string[] = [], everyMs = 0): Promise<RawReply> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const started = Date.now();
    let data = '';
    const timers: NodeJS.Timeout[] = [];
    socket.on('connect', () => {
      socket.write(head);
      chunks.forEach((c, i) =>
        timers.push(
          setTimeout(
            () => {
              if (!socket.destroyed) socket.write(c);
            },
            everyMs * (i + 1),
          ),
        ),
      );
    });
    socket.on('data', (d) => (data += d.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      timers.forEach(clearTimeout);
      const [headPart = '', body = ''] = data.split('\r\n\r\n');
      const [statusLine = '', ...lines] = headPart.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const at = line.indexOf(':');
        if (at > 0) headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
      }
      resolve({
        status: Number(statusLine.split(' ')[1] ?? 0),
        headers,
        body,
        closedAfterMs: Date.now() - started,
      });
    });
    setTimeout(() => reject(new Error(`no close within 60 s; got ${data.slice(0, 200)}`)), 60_000).unref();
  });
}

function request(method: string, path: string, headers: Record<string, string> = {}, body = ''): string {
  const all = {
    host: 'localhost',
    connection: 'close',
    ...headers,
    ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
  };
  return `${method} ${path} HTTP/1.1\r\n${Object.entries(all)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n${body}`;
}

function errorShape(body: string): { code: string; message: string } {
  const parsed = JSON.parse(body) as { error: { code: string; message: string } };
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(typeof parsed.error.message).toBe('string');
  return parsed.error;
}

describe('framework errors answer in the error shape with the right status', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  const json = { 'content-type': 'application/json' };
  const cases: [string, string, number, string, ((r: RawReply) => void) | null][] = [
    ['a bad URL escape', request('GET', '/api/users/%zz'), 400, 'VALIDATION_ERROR', null],
    [
      'an over-long path parameter',
      request('GET', `/api/users/${'a'.repeat(5_000)}`),
      400,
      'VALIDATION_ERROR',
      null,
    ],
    [
      'a path parameter that is no uuid',
      request('GET', '/api/users/not-a-uuid'),
      400,
      'VALIDATION_ERROR',
      null,
    ],
    ['a method HTTP does not know', request('FROB', '/api/users/me'), 405, 'METHOD_NOT_ALLOWED', null],
    [
      'a method Fastify has no route for',
      request('PROPFIND', '/api/users/me'),
      405,
      'METHOD_NOT_ALLOWED',
      (r) => expect(r.headers.allow).toMatch(/GET/),
    ],
    [
      'headers over 16 KiB',
      request('GET', '/api/users/me', { 'x-big': 'x'.repeat(20_000) }),
      431,
      'HEADERS_TOO_LARGE',
      null,
    ],
    [
      'a wrong method on an existing route',
      request('DELETE', '/api/auth/login'),
      405,
      'METHOD_NOT_ALLOWED',
      (r) => expect(r.headers.allow).toBe('POST'),
    ],
    [
      'a wrong method on a route with a parameter',
      request('PATCH', `/api/chats/${randomUUID()}`),
      405,
      'METHOD_NOT_ALLOWED',
      (r) => expect(r.headers.allow?.split(', ')).toEqual(expect.arrayContaining(['DELETE', 'GET', 'PUT'])),
    ],
    [
      'a text/plain body on a JSON route',
      request('POST', '/api/auth/login', { 'content-type': 'text/plain' }, '{"login":"a","password":"b"}'),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      null,
    ],
    ['malformed JSON', request('POST', '/api/auth/login', json, '{"login": "a",'), 400, 'INVALID_JSON', null],
    ['an unknown API route', request('GET', '/api/nope'), 404, 'ROUTE_NOT_FOUND', null],
    [
      'broken HTTP',
      'GET /api/users/me HTTP/1.1\r\nbroken header line\r\n\r\n',
      400,
      'VALIDATION_ERROR',
      null,
    ],
  ];

  it.each(cases)('%s', async (_name, text, status, code, extra) => {
    const reply = await raw(server.url, text);
    expect(reply.status).toBe(status);
    expect(errorShape(reply.body).code).toBe(code);
    expect(reply.body).not.toMatch(/statusCode|FST_|at \w+ \(/);
    extra?.(reply);
  });

  it('a client still sending its request when it is refused (a 1 MB URL, slowly) gets the answer, not a reset', async () => {
    const { hostname, port } = new URL(server.url);
    const socket = net.connect(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    // Nothing is read until the whole request is out, as a simple or busy client does; the
    // server answers 431 after the first 16 KiB, while the rest is still coming.
    socket.pause();
    let error: Error | undefined;
    socket.on('error', (err) => (error = err));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const url = `/api/chats/${'y'.repeat(1_100_000)}`;
    const text = `GET ${url} HTTP/1.1\r\nhost: localhost\r\n\r\n`;
    for (let at = 0; at < text.length && !error; at += 100_000) {
      await new Promise((resolve) => socket.write(text.slice(at, at + 100_000), resolve));
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    let data = '';
    socket.on('data', (d) => (data += d.toString('utf8')));
    socket.resume();
    await closed;
    expect(error).toBeUndefined();
    expect(data).toMatch(/^HTTP\/1\.1 431 /);
    expect(errorShape(data.split('\r\n\r\n')[1]!).code).toBe('HEADERS_TOO_LARGE');
  });
});

describe('NUL characters and invalid Unicode are a 400 with the field path, never a 500', () => {
  let server: TestServer;
  let api: Client;
  let me: TestUser;
  let groupId: string;
  beforeAll(async () => {
    server = await startTestServer();
    api = client(server.url);
    me = await registerUser(api);
    groupId = (await createGroup(api, me, [], 'Strings')).id;
  });
  afterAll(() => server.close());

  // Raw JSON text: "\u0000" and a lone "\ud800" are valid JSON escapes.
  const bad = [
    ['NUL', String.raw`a\u0000b`, 'a\u0000b', '%00'],
    // A URL carries UTF-8: broken sequences decode to U+FFFD, never to a lone surrogate.
    ['a lone high surrogate', String.raw`a\ud800b`, 'a\ud800b', undefined],
    ['a lone low surrogate', String.raw`\udc00`, '\udc00', undefined],
  ] as const;
  const routes: [string, string, (v: string) => string, string][] = [
    ['POST', '/api/auth/login', (v) => `{"login":"${v}","password":"whatever1"}`, 'login'],
    ['POST', '/api/auth/login', (v) => `{"login":"someone","password":"${v}"}`, 'password'],
    [
      'POST',
      '/api/auth/register',
      (v) => `{"username":"nul_user","email":"n@example.test","password":"longenough","displayName":"${v}"}`,
      'displayName',
    ],
    [
      'POST',
      '/api/auth/register',
      (v) => `{"username":"nul_user","email":"n@example.test","password":"long${v}enough","displayName":"N"}`,
      'password',
    ],
    ['PUT', '/api/users/me', (v) => `{"statusText":"${v}"}`, 'statusText'],
    ['POST', '/api/chats/group', (v) => `{"name":"${v}"}`, 'name'],
    ['PUT', '/api/chats/:group', (v) => `{"description":"${v}"}`, 'description'],
    ['POST', '/api/chats/:group/messages', (v) => `{"clientMsgId":"${randomUUID()}","body":"${v}"}`, 'body'],
  ];

  for (const [what, value, jsValue, urlValue] of bad) {
    it.each(routes)(`${what}: %s %s (%#)`, async (method, path, body, field) => {
      const res = await api.request(method, path.replace(':group', groupId), undefined, {
        raw: body(value),
        ...as(me),
      });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
      expect(res.body.error.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ path: field })]),
      );
    });

    it(`${what} in a query string (NUL) and in a WebSocket command`, async () => {
      if (urlValue) {
        const search = await api.get(`/api/users/search?q=${urlValue}`, as(me));
        expect(search.status).toBe(400);
        expect(search.body.error.details[0]).toMatchObject({ path: 'q', location: 'query' });
        // Message search (found by the fuzzer: a NUL reached PostgreSQL and gave a 500).
        for (const [query, path] of [
          [`q=${urlValue}`, 'q'],
          [`q=in:${urlValue}x`, 'q'],
          [`q=a&type=users&cursor=x${urlValue}`, 'cursor'],
        ] as const) {
          const found = await api.get(`/api/search?${query}`, as(me));
          expect({ query, status: found.status }).toEqual({ query, status: 400 });
          expect(found.body.error.details[0]).toMatchObject({ path, location: 'query' });
        }
      }
      const ws = await connectAs(server.url, me.accessToken);
      try {
        // JSON.stringify escapes NUL and lone surrogates, so they arrive as sent.
        const ack = await ws.command('message:send', {
          chatId: groupId,
          clientMsgId: randomUUID(),
          body: jsValue,
        });
        expect(ack).toMatchObject({ ok: false, error: { code: 'VALIDATION_ERROR' } });
        expect(ack.error!.details).toEqual(
          expect.arrayContaining([expect.objectContaining({ path: 'body' })]),
        );
        const edit = await ws.command('reaction:add', { messageId: randomUUID(), emoji: jsValue });
        expect(edit).toMatchObject({ ok: false, error: { code: 'VALIDATION_ERROR' } });
      } finally {
        await ws.close();
      }
    });
  }

  it('a NUL in the unauthenticated login never reaches the database', async () => {
    const res = await api.post('/api/auth/login', { login: 'a\u0000', password: 'x\u0000' });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['login', 'password']);
  });
});

describe('names: bidi overrides refused, invisible characters stripped', () => {
  let server: TestServer;
  let api: Client;
  let me: TestUser;
  beforeAll(async () => {
    server = await startTestServer();
    api = client(server.url);
    me = await registerUser(api);
  });
  afterAll(() => server.close());

  it.each([
    ['a right-to-left override', 'admin\u202Egnp.exe'],
    ['a left-to-right embedding', '\u202Aeve'],
    ['a first-strong isolate', 'eve\u2068x\u2069'],
    ['a newline', 'two\nlines'],
    ['only invisible characters', '\u200B\u200D\uFEFF'],
    ['only a zero-width joiner', '\u200D'],
  ])('refuses a display name with %s', async (_what, displayName) => {
    const res = await api.put('/api/users/me', { displayName }, as(me));
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].path).toBe('displayName');
  });

  it('strips zero-width spaces, byte-order marks and bidi marks, and keeps emoji sequences whole', async () => {
    const res = await api.put('/api/users/me', { displayName: '\u200BA\u200Bd\uFEFFa\u200F 👩‍👩‍👧' }, as(me));
    expect(res.status).toBe(200);
    expect(res.body.displayName).toBe('Ada 👩‍👩‍👧');
  });

  it('applies to group names too', async () => {
    const refused = await api.post('/api/chats/group', { name: 'team\u202E' }, as(me));
    expect(refused.status).toBe(400);
    const stripped = await api.post('/api/chats/group', { name: 'Te\u200Bam' }, as(me));
    expect(stripped.status).toBe(201);
    expect(stripped.body.name).toBe('Team');
  });

  it('leaves message bodies alone (right-to-left text is ordinary there)', async () => {
    const group = await createGroup(api, me, [], 'Bidi');
    const res = await api.post(
      `/api/chats/${group.id}/messages`,
      { clientMsgId: randomUUID(), body: 'שלום \u202Bworld\u202C' },
      as(me),
    );
    expect(res.status).toBe(201);
    expect(res.body.body).toBe('שלום \u202Bworld\u202C');
  });
});

describe('slow clients and connection cap', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      HTTP_REQUEST_TIMEOUT_MS: '2000',
      HTTP_HEADERS_TIMEOUT_MS: '1500',
      HTTP_IDLE_TIMEOUT_MS: '3000',
      MAX_CONNECTIONS: '4',
    });
  });
  afterAll(() => server.close());

  it('a body dribbled one byte every 700 ms is cut off with 408 around HTTP_REQUEST_TIMEOUT_MS', async () => {
    const body = '{"login":"someone","password":"dribbled-password"}';
    const head = request('POST', '/api/auth/login', { 'content-type': 'application/json' }, body).slice(
      0,
      -body.length,
    );
    // Sent whole, this would take 35 s; the server must not wait for it.
    const reply = await raw(server.url, head, body.split(''), 700);
    expect(reply.status).toBe(408);
    expect(errorShape(reply.body).code).toBe('REQUEST_TIMEOUT');
    expect(reply.closedAfterMs).toBeGreaterThanOrEqual(1_500);
    expect(reply.closedAfterMs).toBeLessThan(20_000);
  });

  it('headers dribbled one line at a time are cut off too', async () => {
    const lines = Array.from({ length: 40 }, (_, i) => `x-slow-${i}: 1\r\n`);
    const reply = await raw(server.url, 'GET /health HTTP/1.1\r\nhost: localhost\r\n', lines, 700);
    expect([408, 0]).toContain(reply.status);
    expect(reply.closedAfterMs).toBeLessThan(20_000);
  });

  it('beyond MAX_CONNECTIONS new connections are refused; a freed place is usable again', async () => {
    const { port } = new URL(server.url);
    const open = async () => {
      const s = net.connect(Number(port), '127.0.0.1');
      await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
      return s;
    };
    const held = [];
    for (let i = 0; i < 4; i += 1) held.push(await open());
    // Let the server accept them all.
    await new Promise((r) => setTimeout(r, 300));
    const extra = await raw(server.url, request('GET', '/health'));
    expect(extra.status).toBe(0); // dropped without an answer
    held.shift()!.destroy();
    await new Promise((r) => setTimeout(r, 300));
    const again = await raw(server.url, request('GET', '/health'));
    expect(again.status).toBe(200);
    for (const s of held) s.destroy();
  });
});

describe('upload bodies get time for their announced size', () => {
  let server: TestServer;
  let api: Client;
  let me: TestUser;
  const boundary = 'parley-slow-upload';
  const multipart = (content: string) =>
    `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="notes.txt"\r\n` +
    `content-type: text/plain\r\n\r\n${content}\r\n--${boundary}--\r\n`;
  const uploadHead = (extra: Record<string, string>) =>
    Object.entries({
      host: 'localhost',
      connection: 'close',
      authorization: `Bearer ${me.accessToken}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      ...extra,
    })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
  const chunksOf = (text: string, size: number) =>
    Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));

  beforeAll(async () => {
    server = await startTestServer({
      HTTP_REQUEST_TIMEOUT_MS: '2000',
      HTTP_HEADERS_TIMEOUT_MS: '1500',
      HTTP_UPLOAD_MIN_BYTES_PER_SECOND: '4096',
      // Local files, so direct uploads PUT to this server (with S3 they go past it).
      S3_ENDPOINT: '',
    });
    api = client(server.url);
    me = await registerUser(api);
  });
  afterAll(() => server.close());

  it('a signed-in upload arriving steadily for longer than HTTP_REQUEST_TIMEOUT_MS is received', async () => {
    // 40 KB in 2 KB pieces every 200 ms: about 4 s, twice the base time; at 4 KB/s the
    // announced length allows 2 s + about 10 s.
    const body = multipart('steady words\n'.repeat(3_200));
    const reply = await raw(
      server.url,
      `POST /api/media HTTP/1.1\r\n${uploadHead({ 'content-length': String(body.length) })}\r\n`,
      chunksOf(body, 2_048),
      200,
    );
    expect(reply.closedAfterMs).toBeGreaterThan(2_000);
    expect(reply.status).toBe(201);
    expect(JSON.parse(reply.body)).toMatchObject({ name: 'notes.txt', size: 3_200 * 13 });
  });

  it('a dribbled upload is cut off with 408 once its announced length is overdue', async () => {
    // 4 KB announced: 2 s + about 1 s allowed; one byte every 700 ms would take 50 minutes.
    const body = multipart('x'.repeat(4_000));
    const reply = await raw(
      server.url,
      `POST /api/media HTTP/1.1\r\n${uploadHead({ 'content-length': String(body.length) })}\r\n`,
      body.split(''),
      700,
    );
    expect(reply.status).toBe(408);
    expect(errorShape(reply.body).code).toBe('REQUEST_TIMEOUT');
    expect(reply.closedAfterMs).toBeGreaterThanOrEqual(2_500);
    expect(reply.closedAfterMs).toBeLessThan(20_000);
  });

  it('a direct upload PUT to its signed URL gets the same time for its announced size', async () => {
    const content = 'steady words\n'.repeat(3_200);
    const ticket = await api.post('/api/media/uploads', { name: 'notes.txt', size: content.length }, as(me));
    expect(ticket.status).toBe(201);
    const put = (url: string) =>
      raw(
        server.url,
        `PUT ${url} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n` +
          `content-type: application/octet-stream\r\ncontent-length: ${content.length}\r\n\r\n`,
        chunksOf(content, 2_048),
        200,
      );
    // A URL whose signature does not hold is a stranger: the base time only (or its 404).
    const forged = await put(ticket.body.url.replace(/signature=[^&]+/, 'signature=forged'));
    expect(forged.closedAfterMs).toBeLessThan(4_000 - 1);
    expect([404, 408]).toContain(forged.status);

    const reply = await put(ticket.body.url);
    expect(reply.closedAfterMs).toBeGreaterThan(2_000);
    expect(reply.status).toBe(204);
    const done = await api.post(`/api/media/uploads/${ticket.body.mediaId}/complete`, undefined, as(me));
    expect(done.status).toBe(201);
    expect(done.body).toMatchObject({ name: 'notes.txt', size: content.length });
  });

  it('an upload without a Content-Length gets only the base time', async () => {
    const body = multipart('steady words\n'.repeat(3_200));
    const chunked = chunksOf(body, 2_048).map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`);
    const reply = await raw(
      server.url,
      `POST /api/media HTTP/1.1\r\n${uploadHead({ 'transfer-encoding': 'chunked' })}\r\n`,
      [...chunked, '0\r\n\r\n'],
      200,
    );
    expect(reply.status).toBe(408);
    expect(errorShape(reply.body).code).toBe('REQUEST_TIMEOUT');
    expect(reply.closedAfterMs).toBeLessThan(4_000 - 1); // well before the 4 s the body needs
  });
});
