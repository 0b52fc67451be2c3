/**
 * The embedded default's object store: one file per key under a directory (DATA_DIR/media).
 * A key maps to a path below that directory ("media/u1/abc" → <dir>/media/u1/abc).
 *
 * Writes go to a temp file beside the target and are renamed into place, so a reader sees
 * the old object or the new one, never half of either, and a failed write leaves no debris
 * under a key. Temp names start with "." and keys cannot, so they never collide.
 * Content types are not kept (stat answers undefined): the media rows in the database hold
 * them, and a sidecar file per object would be one more thing to keep in step.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import {
  mkdir,
  open,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
  writeFile,
  copyFile,
  type FileHandle,
} from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  OBJECT_KEY_PATTERN,
  ObjectNotFoundError,
  type ByteRange,
  type ObjectInfo,
  type ObjectStore,
} from './object-store.js';

/** "No such object": the file is missing, or a part of its path is a file, not a directory. */
function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export function createLocalObjectStore(settings: { dir: string }): ObjectStore {
  const root = path.resolve(settings.dir);

  /** The file of a key; refuses keys of any other shape and paths outside the root. */
  function fileOf(key: string): string {
    if (typeof key !== 'string' || !OBJECT_KEY_PATTERN.test(key)) {
      throw new TypeError(`invalid object key ${JSON.stringify(key)}`);
    }
    const file = path.resolve(root, key);
    if (!file.startsWith(root + path.sep))
      throw new TypeError(`object key ${JSON.stringify(key)} leaves the store`);
    return file;
  }

  /**
   * Writes a temp file beside `file` with `write`, then renames it into place. Its directory
   * is made again once when a removal took it away meanwhile (as the last object in it went).
   */
  async function writeAtomically(file: string, write: (tmp: string) => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await mkdir(path.dirname(file), { recursive: true });
      const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.tmp`);
      try {
        await write(tmp);
        await rename(tmp, file);
        return;
      } catch (err) {
        await rm(tmp, { force: true });
        if (attempt === 0 && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          const dirGone = await stat(path.dirname(file)).then(
            () => false,
            () => true,
          );
          if (dirGone) continue;
        }
        throw err;
      }
    }
  }

  /** Removes the directories above `file` that its removal left empty, up to the root. */
  async function pruneEmptyDirs(file: string): Promise<void> {
    for (let dir = path.dirname(file); dir.startsWith(root + path.sep); dir = path.dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or already gone): nothing above it is empty either
      }
    }
  }

  /** Opens an object's file for reading; a missing key (or a directory) is ObjectNotFoundError. */
  async function openObject(key: string): Promise<{ handle: FileHandle; size: number }> {
    const file = fileOf(key);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      if (isMissing(err)) throw new ObjectNotFoundError(key);
      throw err;
    }
    // A key that is only a prefix of other keys is a directory here, and no object in S3.
    const info = await handle.stat();
    if (!info.isFile()) {
      await handle.close();
      throw new ObjectNotFoundError(key);
    }
    return { handle, size: info.size };
  }

  return {
    kind: 'local',

    async init() {
      await mkdir(root, { recursive: true });
    },

    async putFile(key, filePath, _contentType) {
      const file = fileOf(key);
      await writeAtomically(file, (tmp) => copyFile(filePath, tmp));
    },

    async putBuffer(key, body, _contentType) {
      const file = fileOf(key);
      await writeAtomically(file, (tmp) => writeFile(tmp, body));
    },

    async read(key: string, range?: ByteRange): Promise<Readable> {
      if (range) checkRange(range);
      const { handle, size } = await openObject(key);
      if (range && range.start >= size) {
        await handle.close();
        throw new RangeError(`range ${range.start}-${range.end} lies past the end of ${key} (${size} bytes)`);
      }
      // The stream owns the handle and closes it when it ends or is destroyed.
      return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
    },

    async download(key, filePath) {
      const { handle } = await openObject(key);
      try {
        await pipeline(handle.createReadStream({ autoClose: false }), createWriteStream(filePath));
      } catch (err) {
        await rm(filePath, { force: true });
        throw err;
      } finally {
        await handle.close();
      }
    },

    async stat(key): Promise<ObjectInfo | null> {
      const file = fileOf(key);
      try {
        const info = await stat(file);
        return info.isFile() ? { size: info.size, contentType: undefined } : null;
      } catch (err) {
        if (isMissing(err)) return null;
        throw err;
      }
    },

    async remove(keys) {
      const files = keys.map(fileOf); // all keys checked before anything is deleted
      for (const file of files) {
        try {
          await unlink(file);
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
      }
      // Every upload has a directory of its own: none stays behind once its files are gone.
      for (const file of files) await pruneEmptyDirs(file);
    },

    async presignedPutUrl(key) {
      fileOf(key);
      return null;
    },
  };
}

/**
 * Both ends included, start ≤ end. An end past the last byte reads to the end and a start
 * past it is a RangeError, as in HTTP (200/206 vs 416) and S3.
 */
function checkRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid byte range ${start}-${end}`);
  }
}
