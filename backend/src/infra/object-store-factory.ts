/**
 * Picks the object store from config at start-up: files under a directory on the embedded
 * default, an S3-compatible bucket when S3_ENDPOINT is set. Business code only ever sees
 * the ObjectStore interface. Call init() on the result before first use.
 */
import type { ObjectStoreSettings } from './config.js';
import { createLocalObjectStore } from './local-object-store.js';
import type { ObjectStore } from './object-store.js';
import { createS3ObjectStore } from './s3-object-store.js';

export function createObjectStore(settings: ObjectStoreSettings): ObjectStore {
  switch (settings.kind) {
    case 'local':
      return createLocalObjectStore(settings);
    case 's3':
      return createS3ObjectStore(settings);
  }
}
