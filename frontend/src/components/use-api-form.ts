/**
 * The life of a form that talks to the API: check the input with the contract's zod
 * schema, show pending, send, then put the server's field errors next to their fields and
 * anything else in one message. Pages keep only their fields and what success means.
 */
import { type FormEvent, useState } from 'react';
import type { z } from 'zod';
import { hasFieldErrorFor, networkProblem, toProblem, validateWith } from '../api/errors';

export interface FormNotice {
  kind: 'error' | 'success';
  text: string;
}

/** What a request callback returns: success (with an optional notice) or the failed reply. */
export type FormOutcome = { ok: true; notice?: string } | { status: number; body: unknown };

export const succeeded = (notice?: string): FormOutcome => ({ ok: true, ...(notice ? { notice } : {}) });

type StringKeys<F> = { [K in keyof F]: F[K] extends string ? K : never }[keyof F];

export function useApiForm<F extends Record<string, unknown>>(initial: F) {
  const [values, setValues] = useState<F>(initial);
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<keyof F, string>>>({});
  const [notice, setNotice] = useState<FormNotice | null>(null);
  const [pending, setPending] = useState(false);

  /** Props for a text <Field>: its value, change handler and error. */
  const bind = (key: StringKeys<F>) => ({
    value: values[key] as string,
    onChange: (e: { target: { value: string } }) => setValues((v) => ({ ...v, [key]: e.target.value })),
    error: fieldErrors[key],
  });

  /**
   * Runs on submit. `input` is checked against `schema` (plus `extraErrors`, for checks
   * only the client can make) before `request` is called.
   */
  async function submit(
    e: FormEvent,
    check: { schema: z.ZodTypeAny; input: unknown; extraErrors?: Partial<Record<keyof F, string>> },
    request: () => Promise<FormOutcome>,
  ): Promise<void> {
    e.preventDefault();
    setNotice(null);
    const checked = validateWith(check.schema, check.input);
    const errors = { ...(checked.ok ? {} : checked.fieldErrors), ...check.extraErrors } as Partial<
      Record<keyof F, string>
    >;
    setFieldErrors(errors);
    if (Object.keys(errors).length > 0) return;
    setPending(true);
    try {
      const outcome = await request();
      if ('ok' in outcome) {
        if (outcome.notice) setNotice({ kind: 'success', text: outcome.notice });
        return;
      }
      const problem = toProblem(outcome.status, outcome.body);
      setFieldErrors(problem.fieldErrors as Partial<Record<keyof F, string>>);
      if (!hasFieldErrorFor(problem.fieldErrors, values)) setNotice({ kind: 'error', text: problem.message });
    } catch {
      setNotice({ kind: 'error', text: networkProblem().message });
    } finally {
      setPending(false);
    }
  }

  return { values, setValues, fieldErrors, notice, pending, bind, submit };
}
