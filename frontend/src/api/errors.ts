import { type ErrorCode, errorBodySchema, errorCatalogue, fieldIssueSchema } from '@parley/contracts';
import { z } from 'zod';

export interface ApiProblem {
  code: ErrorCode | 'NETWORK_ERROR';
  message: string;
  /** Field name (no `body.` prefix) → message, from VALIDATION_ERROR details. */
  fieldErrors: Record<string, string>;
  /** When the server says to try again later (SERVICE_UNAVAILABLE, RATE_LIMITED): after this long. */
  retryAfterMs?: number;
}

const fieldIssuesSchema = z.array(fieldIssueSchema);
const retryAfterSchema = z.object({ retryAfterMs: z.number().nonnegative() });

/** The wait an error's `details` asks for, or null when it names none. */
export function retryAfterOf(details: unknown): number | null {
  const parsed = retryAfterSchema.safeParse(details);
  return parsed.success ? parsed.data.retryAfterMs : null;
}

/** Strip the request part a server may prefix ("body.username" → "username"). */
function fieldName(path: string): string {
  return path.replace(/^(body|query|params)\./, '');
}

/** Body-field errors keyed by field; the first message for a field wins. Issues about the
 * query, path params or headers belong to no form field and are left out. */
export function toFieldErrors(
  issues: { path: string; message: string; location?: string | undefined }[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of issues) {
    if (issue.location && issue.location !== 'body') continue;
    const name = fieldName(issue.path);
    if (name && !(name in out)) out[name] = issue.message;
  }
  return out;
}

/** Turn any non-success response body into something a form can show. */
export function toProblem(status: number, body: unknown): ApiProblem {
  const parsed = errorBodySchema.safeParse(body);
  if (!parsed.success) {
    return {
      code: status >= 500 ? 'INTERNAL_ERROR' : 'VALIDATION_ERROR',
      message: status >= 500 ? errorCatalogue.INTERNAL_ERROR.message : `Unexpected response (${status}).`,
      fieldErrors: {},
    };
  }
  const { code, message, details } = parsed.data.error;
  const issues = fieldIssuesSchema.safeParse(details);
  const retryAfterMs = retryAfterOf(details);
  return {
    code,
    message,
    // VALIDATION_ERROR and field-specific refusals (USERNAME_TAKEN, WRONG_CURRENT_PASSWORD…)
    // name their fields the same way.
    fieldErrors: issues.success ? toFieldErrors(issues.data) : {},
    ...(retryAfterMs === null ? {} : { retryAfterMs }),
  };
}

/** True when at least one field error belongs to a field the form shows. */
export function hasFieldErrorFor(fieldErrors: Record<string, string>, fields: object): boolean {
  return Object.keys(fieldErrors).some((k) => k in fields);
}

/** Problem for a request that never got an answer (offline, server down). */
export function networkProblem(): ApiProblem {
  return {
    code: 'NETWORK_ERROR',
    message: 'Cannot reach the server. Check your connection and try again.',
    fieldErrors: {},
  };
}

/** Client-side check with the contract's own zod schema, in the same shape as server errors. */
export function validateWith<T>(
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  input: unknown,
): { ok: true; data: T } | { ok: false; fieldErrors: Record<string, string> } {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, data: result.data };
  return {
    ok: false,
    fieldErrors: toFieldErrors(
      result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    ),
  };
}
