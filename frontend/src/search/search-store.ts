import { create } from 'zustand';

/** The header search: whether its panel is open, what is typed, and an optional one-chat scope. */
interface SearchState {
  open: boolean;
  query: string;
  /** "Search in this chat": results only from this chat. */
  scope: { chatId: string; title: string } | null;
  /** Bumped to ask the search field to take focus (Ctrl/⌘+K, "search in this chat"). */
  focusRequest: number;
  setQuery(query: string): void;
  openSearch(scope?: { chatId: string; title: string } | null): void;
  clearScope(): void;
  close(): void;
}

export const useSearchStore = create<SearchState>()((set) => ({
  open: false,
  query: '',
  scope: null,
  focusRequest: 0,
  setQuery: (query) => set({ query, open: true }),
  openSearch: (scope) =>
    set((s) => ({ open: true, focusRequest: s.focusRequest + 1, ...(scope !== undefined ? { scope } : {}) })),
  clearScope: () => set({ scope: null }),
  close: () => set({ open: false }),
}));
