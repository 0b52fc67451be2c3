/**
 * A dialog over the page, on Radix's dialog: focus moves in and stays inside while it is
 * open (Tab wraps), Escape or a click outside closes it, and focus goes back to what had it.
 */
import * as Dialog from '@radix-ui/react-dialog';
import { type ReactNode, useState } from 'react';
import { focusedElement, returnFocusTo } from './focus-return';

export function Modal({
  title,
  onClose,
  children,
  testId,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  testId: string;
}) {
  // Opened by a parent's state, not a Radix trigger: what had focus gets it back on close.
  const [opener] = useState(focusedElement);
  return (
    <Dialog.Root
      open
      onOpenChange={(open) => {
        if (!open) onClose();
      }}
    >
      <Dialog.Portal>
        <Dialog.Overlay className="modal-backdrop">
          <Dialog.Content
            className="modal"
            data-testid={testId}
            aria-describedby={undefined}
            onCloseAutoFocus={returnFocusTo(opener)}
          >
            <div className="modal__header">
              <Dialog.Title>{title}</Dialog.Title>
              <Dialog.Close className="icon-button" aria-label="Close" data-testid="modal-close">
                ×
              </Dialog.Close>
            </div>
            <div className="modal__body">{children}</div>
          </Dialog.Content>
        </Dialog.Overlay>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
