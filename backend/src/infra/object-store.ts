/**
 * Object storage behind one interface: files under DATA_DIR/media on the embedded default,
 * an S3-compatible bucket (S3/MinIO, through the `minio` client) when S3_ENDPOINT is set.
 * Keys are made by the server (media/…), never from file names; implementations refuse
 * any other shape, so no key can walk out of its directory or bucket.
 *
 * The implementations live in local-object-store.ts and s3-object-store.ts;
 * createObjectStore (object-store-factory.ts) picks one from config.
 */
import type { Readable } from 'node:stream';

/** Server-made keys only: lower-case letters, digits, "-", "_", "." and "/" between parts. */
export const OBJECT_KEY_PATTERN = /^[a-z0-9][a-z0-9_-]*(?:\/[a-z0-9][a-z0-9._-]*)*$/;

export interface ObjectInfo {
  size: number;
  contentType: string | undefined;
}

/** A byte range, both ends included (as in an HTTP Range header). */
export interface ByteRange {
  start: number;
  end: number;
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`no object ${key}`);
    this.name = 'ObjectNotFoundError';
  }
}

export interface ObjectStore {
  readonly kind: 'local' | 's3';
  /** Creates the directory or bucket if missing. Called once at start-up. */
  init(): Promise<void>;
  /** Stores a local file under `key` (replacing any object there). */
  putFile(key: string, filePath: string, contentType: string): Promise<void>;
  /** Stores bytes under `key`. */
  putBuffer(key: string, body: Buffer, contentType: string): Promise<void>;
  /** Reads an object (or a range of it). Throws ObjectNotFoundError. */
  read(key: string, range?: ByteRange): Promise<Readable>;
  /** Copies an object to a local file (for processing). Throws ObjectNotFoundError. */
  download(key: string, filePath: string): Promise<void>;
  /** Size and type, or null when there is no such object. */
  stat(key: string): Promise<ObjectInfo | null>;
  /** Deletes objects; keys that do not exist are not an error. */
  remove(keys: string[]): Promise<void>;
  /**
   * A URL the client may PUT the object's bytes to directly, valid for `expirySeconds`
   * (S3's presigned PUT). Null where the store has none (local files: the server's own
   * upload route takes the bytes instead).
   */
  presignedPutUrl(key: string, expirySeconds: number): Promise<string | null>;
}
