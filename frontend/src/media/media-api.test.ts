/**
 * Which way a file goes up: small files and voice notes in one multipart request; large
 * files directly (ticket, PUT to the ticket's URL without the API's token or cookies,
 * completion), falling back to the multipart way when the PUT cannot reach its URL.
 */
import axios, { type AxiosAdapter, type InternalAxiosRequestConfig } from 'axios';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { attachment, media } from '../test/media-fixtures';
import { errorReply, stubNetwork, type StubRequest, type StubReply, testUser } from '../test/stub-network';
import { DIRECT_UPLOAD_MIN_BYTES, uploadFile } from './media-api';

const BUCKET_URL = 'https://bucket.example.test/parley-media/media/x/source?X-Amz-Signature=abc';
const done = media(attachment('big', { kind: 'file', name: 'big.zip', mime: 'application/zip' }));

interface Put {
  url: string;
  method: string;
  contentType: unknown;
  authorization: unknown;
  withCredentials: boolean | undefined;
  body: unknown;
}

let puts: Put[];
let putReply: (config: InternalAxiosRequestConfig) => Promise<StubReply>;
let requests: StubRequest[];
const realAdapter = axios.defaults.adapter;

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  puts = [];
  putReply = async () => ({ status: 200 });
  requests = stubNetwork((req) => {
    if (req.url === '/api/media/uploads' && req.method === 'POST') {
      return {
        status: 201,
        body: {
          mediaId: done.id,
          url: BUCKET_URL,
          method: 'PUT',
          headers: {},
          expiresAt: '2026-01-01T10:15:00.000Z',
        },
      };
    }
    if (req.url === `/api/media/uploads/${done.id}/complete`) return { status: 201, body: done };
    if (req.url === '/api/media' && req.method === 'POST') return { status: 201, body: done };
    if (req.method === 'DELETE') return { status: 204 };
    return errorReply(404, 'NOT_FOUND', 'Not found.');
  }).requests;
  const adapter: AxiosAdapter = async (config) => {
    puts.push({
      url: config.url ?? '',
      method: (config.method ?? '').toUpperCase(),
      contentType: config.headers.get('content-type'),
      authorization: config.headers.get('authorization'),
      withCredentials: config.withCredentials,
      body: config.data,
    });
    config.onUploadProgress?.({ loaded: 5, total: 10, bytes: 5, lengthComputable: true });
    const reply = await putReply(config);
    return { status: reply.status, statusText: '', data: reply.body ?? '', headers: {}, config };
  };
  axios.defaults.adapter = adapter;
});

afterEach(() => {
  axios.defaults.adapter = realAdapter;
});

const bigFile = () => new File([new Uint8Array(DIRECT_UPLOAD_MIN_BYTES)], 'big.zip');
const calls = () => requests.map((r) => `${r.method} ${r.url}`);

describe('uploadFile', () => {
  it('sends a small file in one multipart request', async () => {
    const result = await uploadFile(new File(['hello'], 'notes.txt'), 'notes.txt');
    expect(result).toEqual({ ok: true, media: done });
    expect(calls()).toEqual(['POST /api/media']);
    expect(puts).toEqual([]);
  });

  it('sends a large file directly: ticket, PUT without token or cookies, completion', async () => {
    const progress: number[] = [];
    const file = bigFile();
    const result = await uploadFile(file, 'big.zip', { onProgress: (f) => progress.push(f) });
    expect(result).toEqual({ ok: true, media: done });
    expect(calls()).toEqual(['POST /api/media/uploads', `POST /api/media/uploads/${done.id}/complete`]);
    expect(requests[0]!.body).toEqual({
      name: 'big.zip',
      size: DIRECT_UPLOAD_MIN_BYTES,
      quality: 'standard',
    });
    expect(puts).toEqual([
      {
        url: BUCKET_URL,
        method: 'PUT',
        contentType: 'application/octet-stream',
        authorization: undefined,
        withCredentials: false,
        body: file,
      },
    ]);
    expect(progress).toEqual([0.5]);
  });

  it('falls back to the multipart way when the PUT cannot reach the bucket, and drops the ticket', async () => {
    putReply = () => Promise.reject(new axios.AxiosError('Network Error', 'ERR_NETWORK'));
    const result = await uploadFile(bigFile(), 'big.zip');
    expect(result).toEqual({ ok: true, media: done });
    expect(calls()).toEqual(['POST /api/media/uploads', `DELETE /api/media/${done.id}`, 'POST /api/media']);
  });

  it("a PUT the bucket refuses is this file's error (no second try), and the ticket is dropped", async () => {
    putReply = async () => ({ status: 403, body: '<Error><Code>SignatureDoesNotMatch</Code></Error>' });
    const result = await uploadFile(bigFile(), 'big.zip');
    expect(result.ok).toBe(false);
    expect(calls()).toEqual(['POST /api/media/uploads', `DELETE /api/media/${done.id}`]);
  });

  it("the server's refusal of the ticket is the answer (too large, quota)", async () => {
    requests.length = 0;
    stubNetwork(() => errorReply(413, 'FILE_TOO_LARGE', 'This file is larger than 50 MB.'));
    const result = await uploadFile(bigFile(), 'big.zip');
    expect(result).toMatchObject({ ok: false, problem: { code: 'FILE_TOO_LARGE' } });
    expect(puts).toEqual([]);
  });

  it('voice notes always go as multipart (their recorder values are form fields)', async () => {
    await uploadFile(bigFile(), 'note.webm', { voice: { durationMs: 1000, waveform: [1, 2] } });
    expect(calls()).toEqual(['POST /api/media']);
  });
});
