import { nameList } from '@parley/contracts';
import type { Chat } from '@parley/contracts';
import { useMembersStore } from '../messaging/members-store';
import { useTypingStore } from '../messaging/typing-store';

const NONE: Record<string, number> = {};

/** "Alice is typing…", "Alice and Bob are typing…". */
export function typingText(names: string[]): string {
  if (names.length === 0) return '';
  if (names.length > 3) return 'Several people are typing…';
  return `${nameList(names)} ${names.length === 1 ? 'is' : 'are'} typing…`;
}

export function TypingIndicator({ chat, me }: { chat: Chat; me: string }) {
  const typing = useTypingStore((s) => s.byChat[chat.id] ?? NONE);
  const members = useMembersStore((s) => s.byChat[chat.id]);
  const names = Object.keys(typing)
    .filter((id) => id !== me)
    .map(
      (id) => members?.[id]?.user.displayName ?? (chat.peer?.id === id ? chat.peer.displayName : 'Someone'),
    );
  return (
    <div className="typing-slot" aria-live="polite">
      {names.length > 0 && (
        <span className="typing-indicator" data-testid="typing-indicator">
          <span className="typing-dots" aria-hidden="true">
            <span />
            <span />
            <span />
          </span>
          {typingText(names)}
        </span>
      )}
    </div>
  );
}
