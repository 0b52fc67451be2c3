/**
 * Virus scanning of uploads with clamd's INSTREAM command (CLAMAV_HOST/CLAMAV_PORT).
 * Every upload is scanned before anyone else can see it. The implementation is
 * clamd-scanner.ts; without CLAMAV_HOST nothing is scanned (noScanner).
 */
import type { Readable } from 'node:stream';

export type ScanResult = { clean: true } | { clean: false; signature: string };

/** clamd could not be reached or did not answer in time (the upload may be retried). */
export class ScannerUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ScannerUnavailableError';
  }
}

export interface VirusScanner {
  /** False when no scanner is configured (every scan answers clean). */
  readonly enabled: boolean;
  /** Streams the bytes to the scanner. Throws ScannerUnavailableError. */
  scan(content: Readable): Promise<ScanResult>;
  /** Whether the scanner answers PING (for readiness and tests). */
  ping(): Promise<boolean>;
}

export const noScanner: VirusScanner = {
  enabled: false,
  scan: async (content) => {
    content.resume();
    return { clean: true };
  },
  ping: async () => true,
};
