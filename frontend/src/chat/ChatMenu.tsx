/**
 * The chat header's "⋯" menu: my own settings for the chat (archive, mute, which messages
 * notify), disappearing messages (groups: admins; direct chats: both people), and for a
 * direct chat the other person's profile and blocking.
 */
import { type Chat, MESSAGE_TTL_CHOICES, type UpdatePreferencesInput, ttlLabel } from '@parley/contracts';
import { useCallback, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { errorText } from '../messaging/actions';
import { MUTE_CHOICES, muteUntil, setChatPreferences, setMessageTtl } from '../messaging/chat-actions';
import { useIsMuted } from './use-muted';
import { useContactsStore } from '../people/contacts-store';
import { blockUser, confirmBlock, unblockUser } from '../people/people-actions';
import { fullTime } from './format';
import { showToast } from './toast';
import { useDismiss } from './use-dismiss';

const notifyChoices = [
  { value: 'all', label: 'All messages' },
  { value: 'mentions', label: 'Only mentions of me' },
  { value: 'none', label: 'Nothing' },
] as const;

/** "Muted forever", "Muted until 18:30 on 3 Mar 2026". */
export function mutedText(mutedUntil: Chat['preferences']['mutedUntil']): string {
  if (mutedUntil === null) return 'Not muted';
  return mutedUntil === 'forever' ? 'Muted forever' : `Muted until ${fullTime(mutedUntil)}`;
}

export function canSetTtl(chat: Pick<Chat, 'kind' | 'myRole'>): boolean {
  return chat.kind === 'direct' || chat.myRole === 'owner' || chat.myRole === 'admin';
}

export function ChatMenu({ chat, onOpenMedia }: { chat: Chat; onOpenMedia?: () => void }) {
  const [open, setOpen] = useState(false);
  const close = useCallback(() => setOpen(false), []);
  const ref = useDismiss(open, close);
  const navigate = useNavigate();
  const peer = chat.kind === 'direct' ? chat.peer : null;
  const blocked = useContactsStore((s) => (peer ? Boolean(s.blocked[peer.id]) : false));
  const muted = useIsMuted(chat.preferences);
  const { archived, notify } = chat.preferences;

  async function run(action: () => Promise<void>, done?: string) {
    close();
    try {
      await action();
      if (done) showToast(done);
    } catch (err) {
      showToast(errorText(err), 'error');
    }
  }
  const prefs = (changes: UpdatePreferencesInput, done?: string) =>
    run(() => setChatPreferences(chat.id, changes), done);

  return (
    <div className="chat-menu" ref={ref}>
      <button
        type="button"
        className="icon-button chat-menu__button"
        aria-label="Chat options"
        aria-haspopup="menu"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
        data-testid="chat-menu-button"
      >
        ⋯
      </button>
      {open && (
        <div className="popup menu chat-menu__popup" role="menu" data-testid="chat-menu">
          {onOpenMedia && (
            <button
              type="button"
              role="menuitem"
              onClick={() => {
                close();
                onOpenMedia();
              }}
              data-testid="chat-menu-media"
            >
              Media and files
            </button>
          )}
          <button
            type="button"
            role="menuitem"
            onClick={() =>
              void prefs({ archived: !archived }, archived ? 'Chat unarchived' : 'Chat archived')
            }
            data-testid="chat-menu-archive"
          >
            {archived ? 'Unarchive' : 'Archive'}
          </button>

          <div className="menu__section" role="presentation">
            <span className="menu__heading">Mute notifications</span>
            {muted && (
              <>
                <span className="menu__note" data-testid="chat-menu-muted-until">
                  {mutedText(chat.preferences.mutedUntil)}
                </span>
                <button
                  type="button"
                  role="menuitem"
                  onClick={() => void prefs({ mutedUntil: null }, 'Notifications on')}
                  data-testid="chat-menu-unmute"
                >
                  Unmute
                </button>
              </>
            )}
            {MUTE_CHOICES.map((choice) => (
              <button
                key={choice.key}
                type="button"
                role="menuitem"
                onClick={() => void prefs({ mutedUntil: muteUntil(choice.ms) }, 'Chat muted')}
                data-testid={`chat-menu-mute-${choice.key}`}
              >
                {choice.label}
              </button>
            ))}
          </div>

          <div className="menu__section" role="group" aria-label="Notify me about">
            <span className="menu__heading">Notify me about</span>
            {notifyChoices.map((choice) => (
              <button
                key={choice.value}
                type="button"
                role="menuitemradio"
                aria-checked={notify === choice.value}
                onClick={() => void prefs({ notify: choice.value })}
                data-testid={`chat-menu-notify-${choice.value}`}
              >
                <span className="menu__check" aria-hidden="true">
                  {notify === choice.value ? '✓' : ''}
                </span>
                {choice.label}
              </button>
            ))}
          </div>

          {canSetTtl(chat) && (
            <div className="menu__section" role="group" aria-label="Disappearing messages">
              <span className="menu__heading">Disappearing messages</span>
              {[null, ...MESSAGE_TTL_CHOICES].map((seconds) => (
                <button
                  key={seconds ?? 'off'}
                  type="button"
                  role="menuitemradio"
                  aria-checked={chat.messageTtlSeconds === seconds}
                  onClick={() =>
                    void run(
                      () => setMessageTtl(chat.id, seconds),
                      seconds
                        ? `New messages disappear after ${ttlLabel(seconds)}`
                        : 'Disappearing messages off',
                    )
                  }
                  data-testid={`chat-menu-ttl-${seconds ?? 'off'}`}
                >
                  <span className="menu__check" aria-hidden="true">
                    {chat.messageTtlSeconds === seconds ? '✓' : ''}
                  </span>
                  {seconds ? ttlLabel(seconds) : 'Off'}
                </button>
              ))}
            </div>
          )}

          {peer && (
            <div className="menu__section" role="presentation">
              <button
                type="button"
                role="menuitem"
                onClick={() => {
                  close();
                  navigate(`/users/${peer.id}`);
                }}
                data-testid="chat-menu-profile"
              >
                View profile
              </button>
              <button
                type="button"
                role="menuitem"
                className={blocked ? undefined : 'menu__danger'}
                onClick={() =>
                  void (async () => {
                    if (!blocked && !(await confirmBlock(peer))) return;
                    await run(
                      () => (blocked ? unblockUser(peer) : blockUser(peer)),
                      blocked ? `Unblocked ${peer.displayName}` : `Blocked ${peer.displayName}`,
                    );
                  })()
                }
                data-testid="chat-menu-block"
              >
                {blocked ? 'Unblock' : 'Block'} {peer.displayName}
              </button>
            </div>
          )}
        </div>
      )}
    </div>
  );
}
