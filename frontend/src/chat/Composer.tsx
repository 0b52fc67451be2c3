/**
 * Where messages are written. Enter sends, Shift+Enter starts a new line, Escape leaves
 * edit mode (or drops the reply). Typing state is announced at most every 2 seconds while
 * there is text, and withdrawn when the text is sent or cleared.
 */
import { MESSAGE_MAX_LENGTH, type Message, previewText } from '@parley/contracts';
import { type FormEvent, type KeyboardEvent, useEffect, useLayoutEffect, useRef, useState } from 'react';

export const TYPING_THROTTLE_MS = 2_000;
/** The counter shows from here on. */
const COUNTER_FROM = MESSAGE_MAX_LENGTH - 1_000;

/** Unsent text per chat, kept while the tab lives (switching chats does not lose it). */
const drafts = new Map<string, string>();

export interface ComposerProps {
  chatId: string;
  replyTo: Message | null;
  editing: Message | null;
  onSend: (body: string) => void;
  onSaveEdit: (body: string) => void;
  onCancelReply: () => void;
  onCancelEdit: () => void;
  onTyping: (typing: boolean) => void;
}

export function Composer({
  chatId,
  replyTo,
  editing,
  onSend,
  onSaveEdit,
  onCancelReply,
  onCancelEdit,
  onTyping,
}: ComposerProps) {
  const [text, setText] = useState(() => (editing ? editing.body : (drafts.get(chatId) ?? '')));
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const lastTypingAt = useRef(0);
  const typingRef = useRef(false);
  const onTypingRef = useRef(onTyping);
  useLayoutEffect(() => {
    onTypingRef.current = onTyping;
  });

  // Withdraw the typing state when leaving the chat.
  useEffect(
    () => () => {
      if (typingRef.current) onTypingRef.current(false);
    },
    [],
  );

  // Grow with the text, up to a limit (CSS max-height).
  useLayoutEffect(() => {
    const el = inputRef.current;
    if (!el) return;
    el.style.height = 'auto';
    if (el.scrollHeight) el.style.height = `${el.scrollHeight}px`;
  }, [text]);

  useEffect(() => {
    if (replyTo) inputRef.current?.focus();
  }, [replyTo]);

  function stopTyping() {
    if (typingRef.current) onTyping(false);
    typingRef.current = false;
    lastTypingAt.current = 0;
  }

  function change(value: string) {
    setText(value);
    if (!editing) {
      if (value) drafts.set(chatId, value);
      else drafts.delete(chatId);
    }
    if (editing) return;
    if (value.trim()) {
      const now = Date.now();
      if (now - lastTypingAt.current >= TYPING_THROTTLE_MS) {
        lastTypingAt.current = now;
        typingRef.current = true;
        onTyping(true);
      }
    } else stopTyping();
  }

  const tooLong = text.length > MESSAGE_MAX_LENGTH;
  const empty = text.trim().length === 0;

  function submit(e?: FormEvent) {
    e?.preventDefault();
    if (empty || tooLong) return;
    if (editing) {
      if (text.trim() !== editing.body.trim()) onSaveEdit(text.trim());
      else onCancelEdit();
      return;
    }
    stopTyping();
    onSend(text.trim());
    setText('');
    drafts.delete(chatId);
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape') {
      if (editing) {
        e.preventDefault();
        onCancelEdit();
      } else if (replyTo) {
        e.preventDefault();
        onCancelReply();
      }
    }
  }

  return (
    <form className="composer" onSubmit={submit} data-testid="composer">
      {editing && (
        <div className="composer__bar" data-testid="edit-bar">
          <span className="composer__bar-text">
            <strong>Editing message</strong>
            <span className="muted"> · Esc to cancel</span>
          </span>
          <button
            type="button"
            className="icon-button"
            onClick={onCancelEdit}
            aria-label="Cancel editing"
            data-testid="cancel-edit-button"
          >
            ×
          </button>
        </div>
      )}
      {!editing && replyTo && (
        <div className="composer__bar" data-testid="reply-bar">
          <span className="composer__bar-text">
            <strong>Replying to {replyTo.sender?.displayName ?? 'message'}</strong>
            <span className="composer__quote">{previewText(replyTo.body)}</span>
          </span>
          <button
            type="button"
            className="icon-button"
            onClick={onCancelReply}
            aria-label="Cancel reply"
            data-testid="cancel-reply-button"
          >
            ×
          </button>
        </div>
      )}
      <div className="composer__row">
        <textarea
          ref={inputRef}
          className="composer__input"
          rows={1}
          value={text}
          placeholder="Write a message…"
          aria-label="Message"
          autoFocus
          onChange={(e) => change(e.target.value)}
          onKeyDown={onKeyDown}
          data-testid="composer-input"
        />
        <button
          type="submit"
          className="button button--primary composer__send"
          disabled={empty || tooLong}
          data-testid="send-button"
        >
          {editing ? 'Save' : 'Send'}
        </button>
      </div>
      {text.length >= COUNTER_FROM && (
        <p
          className={`composer__counter${tooLong ? ' composer__counter--over' : ''}`}
          data-testid="char-counter"
        >
          {text.length.toLocaleString('en')} / {MESSAGE_MAX_LENGTH.toLocaleString('en')}
        </p>
      )}
    </form>
  );
}
