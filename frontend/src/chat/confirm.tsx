/**
 * "Are you sure?" for what cannot be undone (delete for everyone, remove a member, leave a
 * group, block): `await confirm({...})` resolves true on the confirming button, false on
 * Cancel, Escape or a click outside. One host (ConfirmHost, in the app layout) shows them,
 * on Radix's alert dialog: focus stays inside while it is open and goes back where it was.
 */
import * as AlertDialog from '@radix-ui/react-alert-dialog';
import { create } from 'zustand';
import { focusedElement, returnFocusTo } from './Modal';

export interface ConfirmOptions {
  title: string;
  description: string;
  /** The confirming button's words ("Delete", "Remove", "Leave", "Block"). */
  confirmLabel: string;
}

interface Pending extends ConfirmOptions {
  resolve: (ok: boolean) => void;
}

const useConfirmStore = create<{ pending: Pending | null }>(() => ({ pending: null }));
/** What had focus when the question was asked (the button pressed): it gets it back. */
let opener: HTMLElement | null = null;

export function confirm(options: ConfirmOptions): Promise<boolean> {
  opener = focusedElement();
  return new Promise((resolve) => {
    // A second question replaces the first, which counts as cancelled.
    useConfirmStore.getState().pending?.resolve(false);
    useConfirmStore.setState({ pending: { ...options, resolve } });
  });
}

/** Whatever is being asked is cancelled (tests, between one and the next). */
export function dismissConfirm(): void {
  answer(false);
}

function answer(ok: boolean): void {
  const { pending } = useConfirmStore.getState();
  if (!pending) return;
  useConfirmStore.setState({ pending: null });
  pending.resolve(ok);
}

export function ConfirmHost() {
  const pending = useConfirmStore((s) => s.pending);
  return (
    <AlertDialog.Root
      open={pending !== null}
      onOpenChange={(open) => {
        if (!open) answer(false);
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
                  onClick={() => answer(true)}
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
