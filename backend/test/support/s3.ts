/**
 * A real S3 endpoint for tests: s3rver (an S3 API over files) on a free loopback port with
 * its own temp directory, so object-store and media tests run against the S3 code path
 * without MinIO or Docker. Each call starts its own server with a fresh bucket name; the
 * bucket does not exist yet (the store's init() makes it).
 *
 * s3rver differs from S3 in small ways: it answers `Range: bytes=0-0` with the whole object
 * (it reads an end of 0 as "no end"); and keep test objects below 64 MiB, where the client
 * switches to multipart uploads (the limit this stack was checked with).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ObjectStoreSettings } from '../../src/infra/config.js';

/** The part of s3rver (untyped CommonJS) used here. */
interface S3rverServer {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  port: number;
  address: string;
  silent: boolean;
  directory: string;
  resetOnClose: boolean;
}) => S3rverServer;

const require = createRequire(import.meta.url);

export interface RunningS3 {
  settings: ObjectStoreSettings & { kind: 's3' };
  stop(): Promise<void>;
}

export async function startS3(): Promise<RunningS3> {
  const S3rver = require('s3rver') as S3rverClass;
  const directory = await mkdtemp(path.join(os.tmpdir(), 'parley-s3rver-'));
  // Port 0: the OS picks a free port as the server binds, so parallel test files never race.
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, resetOnClose: true });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    settings: {
      kind: 's3',
      endPoint: '127.0.0.1',
      port: address.port,
      useSSL: false,
      publicEndpoint: null,
      bucket: `parley-test-${randomBytes(4).toString('hex')}`,
      // s3rver's one built-in account.
      accessKey: 'S3RVER',
      secretKey: 'S3RVER',
      region: 'us-east-1',
      pathStyle: true,
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await server.close();
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    },
  };
}
