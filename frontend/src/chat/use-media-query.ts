import { useCallback, useSyncExternalStore } from 'react';

/**
 * Narrow or touch screens: message actions open on a tap of the message (an action sheet)
 * instead of the toolbar a mouse shows on hover. Matches the 720 px of styles.css.
 */
export const COMPACT_QUERY = '(max-width: 720px), (hover: none)';

let lists = new Map<string, MediaQueryList>();
let listsOf: typeof window.matchMedia | undefined;
/** One MediaQueryList per query for the whole page (every message asks on each render). */
function listFor(query: string): MediaQueryList | null {
  if (typeof window.matchMedia !== 'function') return null;
  if (listsOf !== window.matchMedia) {
    // A different matchMedia (a test's stand-in): start over.
    lists = new Map();
    listsOf = window.matchMedia;
  }
  let list = lists.get(query);
  if (!list) {
    list = window.matchMedia(query);
    lists.set(query, list);
  }
  return list;
}

/** Whether a CSS media query matches now, kept up to date (false where there is no matchMedia). */
export function useMediaQuery(query: string): boolean {
  const subscribe = useCallback(
    (cb: () => void) => {
      const list = listFor(query);
      list?.addEventListener('change', cb);
      return () => list?.removeEventListener('change', cb);
    },
    [query],
  );
  return useSyncExternalStore(subscribe, () => listFor(query)?.matches ?? false);
}
