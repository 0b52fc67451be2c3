/**
 * A message's actions on a narrow or touch screen: a sheet from the bottom of the window
 * (Radix's dialog: focus inside while open, Escape or a tap outside closes it), opened by a
 * tap or long-press on the message. The quick reactions on top, then the same actions the
 * toolbar's "More" menu has on a wide screen.
 */
import * as Dialog from '@radix-ui/react-dialog';
import { useState } from 'react';
import { focusedElement } from './focus-return';

export interface MessageAction {
  key: string;
  label: string;
  danger?: boolean;
  testId: string;
  /** Called after the sheet or menu closed. */
  run: () => void;
}

export function MessageActionSheet({
  preview,
  emoji,
  onReact,
  actions,
  onClose,
}: {
  /** A line of the message, so the sheet says which one it is about. */
  preview: string;
  emoji: readonly string[];
  onReact: (emoji: string) => void;
  actions: readonly MessageAction[];
  onClose: () => void;
}) {
  const [opener] = useState(focusedElement);
  return (
    <Dialog.Root
      open
      onOpenChange={(open) => {
        if (!open) onClose();
      }}
    >
      <Dialog.Portal>
        <Dialog.Overlay className="sheet-backdrop">
          <Dialog.Content
            className="action-sheet"
            aria-describedby={undefined}
            data-testid="message-sheet"
            onOpenAutoFocus={(e) => e.preventDefault()}
            onCloseAutoFocus={(e) => {
              // Back to what opened it (the "More" button from a keyboard), unless the action
              // put focus somewhere else (the composer for Reply/Edit, a confirm dialog).
              e.preventDefault();
              const elsewhere = document.activeElement && document.activeElement !== document.body;
              if (!elsewhere && opener?.isConnected && opener !== document.body) opener.focus();
            }}
          >
            <Dialog.Title className="visually-hidden">Message actions</Dialog.Title>
            {preview && (
              <p className="action-sheet__preview" aria-hidden="true">
                {preview}
              </p>
            )}
            {emoji.length > 0 && (
              <div className="action-sheet__emoji" role="group" aria-label="React">
                {emoji.map((e) => (
                  <button
                    key={e}
                    type="button"
                    className="emoji-picker__option"
                    onClick={() => {
                      onClose();
                      onReact(e);
                    }}
                    aria-label={`React with ${e}`}
                    data-testid="reaction-option"
                    data-emoji={e}
                  >
                    {e}
                  </button>
                ))}
              </div>
            )}
            <div className="action-sheet__actions">
              {actions.map((a) => (
                <button
                  key={a.key}
                  type="button"
                  className={`action-sheet__item${a.danger ? ' action-sheet__item--danger' : ''}`}
                  onClick={() => {
                    onClose();
                    a.run();
                  }}
                  data-testid={a.testId}
                >
                  {a.label}
                </button>
              ))}
            </div>
            <Dialog.Close className="action-sheet__item action-sheet__cancel" data-testid="sheet-cancel">
              Cancel
            </Dialog.Close>
          </Dialog.Content>
        </Dialog.Overlay>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
