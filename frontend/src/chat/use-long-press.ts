import { type PointerEvent, useEffect, useRef } from 'react';

/** How long a finger stays down before it counts as a long-press (about what phones use). */
export const LONG_PRESS_MS = 500;
/** A finger that moves further than this is scrolling, not pressing. */
const SLOP_PX = 10;

/**
 * What the long-press opened now lies under the finger: the click some browsers send when it
 * lifts must not press a button there. Swallowed until the next press starts.
 */
function swallowReleaseClick() {
  const swallow = (e: Event) => {
    e.preventDefault();
    e.stopPropagation();
  };
  window.addEventListener('click', swallow, { capture: true, once: true });
  window.addEventListener(
    'pointerdown',
    () => window.removeEventListener('click', swallow, { capture: true }),
    { capture: true, once: true },
  );
}

/**
 * Pointer handlers that call `onLongPress` when a finger stays on the element. Android's
 * browsers also say so with a contextmenu event; Safari on iOS does not, hence the timer.
 * Mouse and pen are left alone (a right click is a contextmenu of its own).
 */
export function useLongPress(onLongPress: (target: EventTarget | null) => void) {
  const press = useRef<{ timer: ReturnType<typeof setTimeout>; x: number; y: number } | null>(null);
  const cancel = () => {
    if (press.current) clearTimeout(press.current.timer);
    press.current = null;
  };
  useEffect(() => {
    const held = press;
    return () => {
      if (held.current) clearTimeout(held.current.timer);
    };
  }, []);
  return {
    onPointerDown: (e: PointerEvent) => {
      cancel();
      if (e.pointerType !== 'touch') return;
      const target = e.target;
      press.current = {
        x: e.clientX,
        y: e.clientY,
        timer: setTimeout(() => {
          press.current = null;
          swallowReleaseClick();
          onLongPress(target);
        }, LONG_PRESS_MS),
      };
    },
    onPointerMove: (e: PointerEvent) => {
      const p = press.current;
      if (p && Math.hypot(e.clientX - p.x, e.clientY - p.y) > SLOP_PX) cancel();
    },
    onPointerUp: cancel,
    onPointerCancel: cancel,
  };
}
