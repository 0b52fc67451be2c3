/**
 * The scaled-out object store: one S3-compatible bucket (AWS S3, MinIO, …) through the
 * `minio` client, the bucket's name and endpoint from config (S3_*). Objects keep their
 * content type as S3 metadata. Every node of a cluster sees the same objects, and clients
 * may PUT bytes straight to the bucket with a presigned URL.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'minio';
import type { ObjectStoreSettings } from './config.js';
import {
  OBJECT_KEY_PATTERN,
  ObjectNotFoundError,
  type ByteRange,
  type ObjectInfo,
  type ObjectStore,
} from './object-store.js';

type S3Settings = Extract<ObjectStoreSettings, { kind: 's3' }>;

/** The S3 error code of a failed request (minio's S3Error), if any. */
function s3Code(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || !OBJECT_KEY_PATTERN.test(key)) {
    throw new TypeError(`invalid object key ${JSON.stringify(key)}`);
  }
}

/** Both ends included, start ≤ end (the same rule as the local store). */
function checkRange({ start, end }: ByteRange): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid byte range ${start}-${end}`);
  }
}

export function createS3ObjectStore(settings: S3Settings): ObjectStore {
  const { bucket } = settings;
  const clientFor = (endpoint: { endPoint: string; port: number; useSSL: boolean }) =>
    new Client({
      ...endpoint,
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
      // With the region given the client never asks the server for it (one request less each
      // time, and presigning needs no request at all).
      region: settings.region,
      pathStyle: settings.pathStyle,
    });
  const client = clientFor(settings);
  // Presigned URLs are for browsers: signed for the address they reach the bucket at.
  const publicClient = settings.publicEndpoint ? clientFor(settings.publicEndpoint) : client;

  /** GET of a whole object or a range; NoSuchKey becomes ObjectNotFoundError. */
  async function get(key: string, range?: ByteRange): Promise<Readable> {
    try {
      return range
        ? await client.getPartialObject(bucket, key, range.start, range.end - range.start + 1)
        : await client.getObject(bucket, key);
    } catch (err) {
      if (s3Code(err) === 'NoSuchKey') throw new ObjectNotFoundError(key);
      if (s3Code(err) === 'InvalidRange') {
        throw new RangeError(`range ${range?.start}-${range?.end} lies past the end of ${key}`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  return {
    kind: 's3',

    async init() {
      if (await client.bucketExists(bucket)) return;
      try {
        await client.makeBucket(bucket, settings.region);
      } catch (err) {
        // Another node may have made it in the meantime.
        const code = s3Code(err);
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
        if (!(await client.bucketExists(bucket))) throw err;
      }
    },

    async putFile(key, filePath, contentType) {
      checkKey(key);
      await client.fPutObject(bucket, key, filePath, { 'Content-Type': contentType });
    },

    async putBuffer(key, body, contentType) {
      checkKey(key);
      await client.putObject(bucket, key, body, body.length, { 'Content-Type': contentType });
    },

    async read(key, range) {
      checkKey(key);
      if (range) checkRange(range);
      return get(key, range);
    },

    async download(key, filePath) {
      checkKey(key);
      const body = await get(key); // fails before the file is created when there is no object
      try {
        await pipeline(body, createWriteStream(filePath));
      } catch (err) {
        await rm(filePath, { force: true });
        throw err;
      }
    },

    async stat(key): Promise<ObjectInfo | null> {
      checkKey(key);
      try {
        const info = await client.statObject(bucket, key);
        const type = info.metaData['content-type'];
        return { size: info.size, contentType: typeof type === 'string' ? type : undefined };
      } catch (err) {
        // HEAD answers have no body, so a missing object is plain "NotFound".
        if (s3Code(err) === 'NotFound' || s3Code(err) === 'NoSuchKey') return null;
        throw err;
      }
    },

    async remove(keys) {
      keys.forEach(checkKey); // all keys checked before anything is deleted
      if (keys.length === 0) return;
      // One DeleteObjects request per 1000 keys (the client batches); S3 reports missing
      // keys as deleted, and any other per-key failure comes back in the answer, not thrown.
      const results = await client.removeObjects(bucket, keys);
      const failures = results
        .map((r) => (r && typeof r === 'object' ? ((r as { Error?: unknown }).Error ?? r) : null))
        .filter((e): e is { Code?: string; Key?: string; Message?: string } => !!e && typeof e === 'object')
        .filter((e) => e.Code !== 'NoSuchKey');
      if (failures.length > 0) {
        const list = failures.map((e) => `${e.Key}: ${e.Code} ${e.Message ?? ''}`.trim()).join('; ');
        throw new Error(`could not delete ${failures.length} of ${keys.length} objects: ${list}`);
      }
    },

    async presignedPutUrl(key, expirySeconds) {
      checkKey(key);
      return publicClient.presignedPutObject(bucket, key, expirySeconds);
    },
  };
}
