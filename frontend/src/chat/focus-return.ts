/**
 * Focus for dialogs opened by state rather than by a Radix trigger: remember what had it,
 * give it back on close. Apart from Modal so that using them does not load Radix.
 */

/**
 * What has focus now (the button that opens a dialog), to give it back later. An item of a
 * menu goes with its menu, so for one the menu's button counts (it gets focus back when the
 * menu closes).
 */
export function focusedElement(): HTMLElement | null {
  const el = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const menu = el?.closest('[role="menu"]');
  if (menu?.id) {
    const button = document.querySelector(`[aria-controls="${CSS.escape(menu.id)}"]`);
    if (button instanceof HTMLElement) return button;
  }
  return el;
}

/**
 * Radix's onCloseAutoFocus for a dialog opened by state, not by a Radix trigger: focus goes
 * back to `opener` (if it is still on the page) instead of the trigger Radix would look for.
 */
export function returnFocusTo(opener: HTMLElement | null) {
  return (e: Event) => {
    e.preventDefault();
    if (opener?.isConnected) opener.focus();
  };
}
