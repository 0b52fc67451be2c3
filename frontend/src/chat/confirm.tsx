/**
 * "Are you sure?" for what cannot be undone (delete for everyone, remove a member, leave a
 * group, block): `await confirm({...})` resolves true on the confirming button, false on
 * Cancel, Escape or a click outside. One host (ConfirmHost, in the app layout) shows them,
 * on Radix's alert dialog (ConfirmDialog, loaded at the first question): focus stays inside
 * while it is open and goes back where it was.
 */
import { Suspense, lazy, useRef } from 'react';
import { create } from 'zustand';
import { focusedElement } from './focus-return';

export interface ConfirmOptions {
  title: string;
  description: string;
  /** The confirming button's words ("Delete", "Remove", "Leave", "Block"). */
  confirmLabel: string;
}

export interface Pending extends ConfirmOptions {
  resolve: (ok: boolean) => void;
}

const useConfirmStore = create<{ pending: Pending | null }>(() => ({ pending: null }));
/** What had focus when the question was asked (the button pressed): it gets it back. */
let opener: HTMLElement | null = null;

export function confirm(options: ConfirmOptions): Promise<boolean> {
  opener = focusedElement();
  return new Promise((resolve) => {
    // A second question replaces the first, which counts as cancelled.
    useConfirmStore.getState().pending?.resolve(false);
    useConfirmStore.setState({ pending: { ...options, resolve } });
  });
}

/** Whatever is being asked is cancelled (tests, between one and the next). */
export function dismissConfirm(): void {
  answer(false);
}

function answer(ok: boolean): void {
  const { pending } = useConfirmStore.getState();
  if (!pending) return;
  useConfirmStore.setState({ pending: null });
  pending.resolve(ok);
}

const ConfirmDialog = lazy(() => import('./ConfirmDialog').then((m) => ({ default: m.ConfirmDialog })));

export function ConfirmHost() {
  const pending = useConfirmStore((s) => s.pending);
  // Mounted from the first question on, so closing runs the dialog's own focus return.
  const asked = useRef(false);
  if (pending) asked.current = true;
  if (!asked.current) return null;
  return (
    <Suspense fallback={null}>
      <ConfirmDialog pending={pending} opener={opener} onAnswer={answer} />
    </Suspense>
  );
}
