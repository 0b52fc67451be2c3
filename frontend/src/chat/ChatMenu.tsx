/**
 * The chat header's "⋯" menu: my own settings for the chat (archive, mute, which messages
 * notify), disappearing messages (groups: admins; direct chats: both people), and for a
 * direct chat the other person's profile and blocking. On Radix's dropdown menu: arrow keys
 * move through it, Escape closes it and focus goes back to the ⋯ button, and it stays on
 * screen near the window's edges.
 */
import { type Chat, MESSAGE_TTL_CHOICES, type UpdatePreferencesInput, ttlLabel } from '@parley/contracts';
import * as Menu from '@radix-ui/react-dropdown-menu';
import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { errorText } from '../messaging/actions';
import { MUTE_CHOICES, muteUntil, setChatPreferences, setMessageTtl } from '../messaging/chat-actions';
import { useIsMuted } from './use-muted';
import { useContactsStore } from '../people/contacts-store';
import { blockUser, confirmBlock, unblockUser } from '../people/people-actions';
import { fullTime } from './format';
import { showToast } from './toast';

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
  const close = () => setOpen(false);
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
    <Menu.Root open={open} onOpenChange={setOpen} modal={false}>
      <Menu.Trigger asChild>
        <button
          type="button"
          className="icon-button chat-menu__button"
          aria-label="Chat options"
          data-testid="chat-menu-button"
        >
          ⋯
        </button>
      </Menu.Trigger>
      <Menu.Portal>
        <Menu.Content
          className="popup popup--floating menu chat-menu__popup"
          align="end"
          sideOffset={4}
          collisionPadding={8}
          data-testid="chat-menu"
        >
          {onOpenMedia && (
            <Menu.Item asChild onSelect={onOpenMedia}>
              <button type="button" data-testid="chat-menu-media">
                Media and files
              </button>
            </Menu.Item>
          )}
          <Menu.Item
            asChild
            onSelect={() =>
              void prefs({ archived: !archived }, archived ? 'Chat unarchived' : 'Chat archived')
            }
          >
            <button type="button" data-testid="chat-menu-archive">
              {archived ? 'Unarchive' : 'Archive'}
            </button>
          </Menu.Item>

          <Menu.Group className="menu__section">
            <Menu.Label className="menu__heading">Mute notifications</Menu.Label>
            {muted && (
              <>
                <span className="menu__note" data-testid="chat-menu-muted-until">
                  {mutedText(chat.preferences.mutedUntil)}
                </span>
                <Menu.Item asChild onSelect={() => void prefs({ mutedUntil: null }, 'Notifications on')}>
                  <button type="button" data-testid="chat-menu-unmute">
                    Unmute
                  </button>
                </Menu.Item>
              </>
            )}
            {MUTE_CHOICES.map((choice) => (
              <Menu.Item
                key={choice.key}
                asChild
                onSelect={() => void prefs({ mutedUntil: muteUntil(choice.ms) }, 'Chat muted')}
              >
                <button type="button" data-testid={`chat-menu-mute-${choice.key}`}>
                  {choice.label}
                </button>
              </Menu.Item>
            ))}
          </Menu.Group>

          <Menu.Group className="menu__section" aria-label="Notify me about">
            <Menu.Label className="menu__heading">Notify me about</Menu.Label>
            <Menu.RadioGroup
              value={notify}
              onValueChange={(value) =>
                void prefs({ notify: value as (typeof notifyChoices)[number]['value'] })
              }
            >
              {notifyChoices.map((choice) => (
                <Menu.RadioItem key={choice.value} value={choice.value} asChild>
                  <button type="button" data-testid={`chat-menu-notify-${choice.value}`}>
                    <span className="menu__check" aria-hidden="true">
                      {notify === choice.value ? '✓' : ''}
                    </span>
                    {choice.label}
                  </button>
                </Menu.RadioItem>
              ))}
            </Menu.RadioGroup>
          </Menu.Group>

          {canSetTtl(chat) && (
            <Menu.Group className="menu__section" aria-label="Disappearing messages">
              <Menu.Label className="menu__heading">Disappearing messages</Menu.Label>
              <Menu.RadioGroup
                value={String(chat.messageTtlSeconds ?? 'off')}
                onValueChange={(value) => {
                  const seconds = value === 'off' ? null : Number(value);
                  void run(
                    () => setMessageTtl(chat.id, seconds),
                    seconds
                      ? `New messages disappear after ${ttlLabel(seconds)}`
                      : 'Disappearing messages off',
                  );
                }}
              >
                {[null, ...MESSAGE_TTL_CHOICES].map((seconds) => (
                  <Menu.RadioItem key={seconds ?? 'off'} value={String(seconds ?? 'off')} asChild>
                    <button type="button" data-testid={`chat-menu-ttl-${seconds ?? 'off'}`}>
                      <span className="menu__check" aria-hidden="true">
                        {chat.messageTtlSeconds === seconds ? '✓' : ''}
                      </span>
                      {seconds ? ttlLabel(seconds) : 'Off'}
                    </button>
                  </Menu.RadioItem>
                ))}
              </Menu.RadioGroup>
            </Menu.Group>
          )}

          {peer && (
            <Menu.Group className="menu__section">
              <Menu.Item asChild onSelect={() => navigate(`/users/${peer.id}`)}>
                <button type="button" data-testid="chat-menu-profile">
                  View profile
                </button>
              </Menu.Item>
              <Menu.Item
                asChild
                onSelect={() =>
                  void (async () => {
                    if (!blocked && !(await confirmBlock(peer))) return;
                    await run(
                      () => (blocked ? unblockUser(peer) : blockUser(peer)),
                      blocked ? `Unblocked ${peer.displayName}` : `Blocked ${peer.displayName}`,
                    );
                  })()
                }
              >
                <button
                  type="button"
                  className={blocked ? undefined : 'menu__danger'}
                  data-testid="chat-menu-block"
                >
                  {blocked ? 'Unblock' : 'Block'} {peer.displayName}
                </button>
              </Menu.Item>
            </Menu.Group>
          )}
        </Menu.Content>
      </Menu.Portal>
    </Menu.Root>
  );
}
