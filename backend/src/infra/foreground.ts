/**
 * Foreground work: what a person is waiting for at this moment on this node (a message being
 * sent, from its frame to its ack). Background work that competes with it for the cores and
 * the memory they share (media analysis, analyser.ts) steps aside while any is under way.
 */
export interface Foreground {
  /** Marks work under way until the function it returns is called (more calls do nothing). */
  begin(): () => void;
  /** True while any work is under way. */
  readonly busy: boolean;
  /** `listener(true)` when work begins on an idle node, `listener(false)` when the last piece ends. */
  onChange(listener: (busy: boolean) => void): void;
}

export function createForeground(): Foreground {
  let underWay = 0;
  const listeners: ((busy: boolean) => void)[] = [];
  const tell = (busy: boolean) => {
    for (const listener of listeners) listener(busy);
  };
  return {
    begin() {
      underWay += 1;
      if (underWay === 1) tell(true);
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        underWay -= 1;
        if (underWay === 0) tell(false);
      };
    },
    get busy() {
      return underWay > 0;
    },
    onChange(listener) {
      listeners.push(listener);
    },
  };
}
