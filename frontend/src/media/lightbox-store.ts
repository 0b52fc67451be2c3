/** Which pictures the lightbox shows (one message's, or a gallery's), and where focus goes back. */
import type { Attachment } from '@parley/contracts';
import { create } from 'zustand';

export interface LightboxState {
  items: Attachment[];
  index: number;
  /** Focus returns here when the lightbox closes. */
  opener: HTMLElement | null;
  /** The message each item belongs to, for "go to message" (gallery). */
  messageLinks: (string | null)[];
}

export const useLightboxStore = create<LightboxState>()(() => ({
  items: [],
  index: 0,
  opener: null,
  messageLinks: [],
}));

export function openLightbox(
  items: Attachment[],
  index: number,
  opener: HTMLElement | null = null,
  messageLinks: (string | null)[] = [],
): void {
  if (items.length === 0) return;
  useLightboxStore.setState({
    items,
    index: Math.max(0, Math.min(index, items.length - 1)),
    opener: opener ?? (document.activeElement instanceof HTMLElement ? document.activeElement : null),
    messageLinks,
  });
}

/** The lightbox (a Radix dialog) gives focus back to `opener` as it goes; it stays set until the next open. */
export function closeLightbox(): void {
  useLightboxStore.setState({ items: [], index: 0, messageLinks: [] });
}

export function stepLightbox(delta: number): void {
  useLightboxStore.setState((s) => {
    if (s.items.length < 2) return s;
    return { index: (s.index + delta + s.items.length) % s.items.length };
  });
}
