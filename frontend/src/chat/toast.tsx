/** One short-lived notice at the bottom of the chat screen ("Link copied", an action that failed). */
import { create } from 'zustand';

interface ToastState {
  toast: { id: number; text: string; kind: 'info' | 'error' } | null;
}

export const useToastStore = create<ToastState>()(() => ({ toast: null }));

let timer: ReturnType<typeof setTimeout> | null = null;
let nextId = 1;

export function showToast(text: string, kind: 'info' | 'error' = 'info'): void {
  if (timer) clearTimeout(timer);
  useToastStore.setState({ toast: { id: nextId++, text, kind } });
  timer = setTimeout(() => useToastStore.setState({ toast: null }), 3_000);
}

export function Toast() {
  const toast = useToastStore((s) => s.toast);
  if (!toast) return null;
  return (
    <div
      className={`toast toast--${toast.kind}`}
      role={toast.kind === 'error' ? 'alert' : 'status'}
      data-testid="toast"
      key={toast.id}
    >
      {toast.text}
    </div>
  );
}
