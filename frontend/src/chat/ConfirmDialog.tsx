/** The question asked through `confirm()` (confirm.tsx), on Radix's alert dialog. */
import * as AlertDialog from '@radix-ui/react-alert-dialog';
import type { Pending } from './confirm';
import { returnFocusTo } from './focus-return';

export function ConfirmDialog({
  pending,
  opener,
  onAnswer,
}: {
  pending: Pending | null;
  opener: HTMLElement | null;
  onAnswer: (ok: boolean) => void;
}) {
  return (
    <AlertDialog.Root
      open={pending !== null}
      onOpenChange={(open) => {
        if (!open) onAnswer(false);
      }}
    >
      <AlertDialog.Portal>
        <AlertDialog.Overlay className="modal-backdrop">
          <AlertDialog.Content
            className="modal modal--confirm"
            data-testid="confirm-dialog"
            // No Radix trigger here: focus goes back to the button that asked.
            onCloseAutoFocus={returnFocusTo(opener)}
          >
            <div className="modal__header">
              <AlertDialog.Title>{pending?.title}</AlertDialog.Title>
            </div>
            <div className="modal__body">
              <AlertDialog.Description className="confirm__text">
                {pending?.description}
              </AlertDialog.Description>
              <div className="modal__actions">
                <AlertDialog.Cancel className="button button--ghost" data-testid="confirm-cancel">
                  Cancel
                </AlertDialog.Cancel>
                <AlertDialog.Action
                  className="button button--danger"
                  onClick={() => onAnswer(true)}
                  data-testid="confirm-button"
                >
                  {pending?.confirmLabel}
                </AlertDialog.Action>
              </div>
            </div>
          </AlertDialog.Content>
        </AlertDialog.Overlay>
      </AlertDialog.Portal>
    </AlertDialog.Root>
  );
}
