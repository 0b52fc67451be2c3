import { z } from 'zod';

export const uuid = z.string().uuid();
/** ISO-8601 UTC timestamp, e.g. 2026-11-21T06:34:49.000Z */
export const isoDateTime = z.string().datetime();
