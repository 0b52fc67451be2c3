/**
 * Where messages are written. Enter sends, Shift+Enter starts a new line, Escape leaves
 * edit mode (or drops the reply). Typing state is announced at most every 2 seconds while
 * there is text, and withdrawn when the text is sent or cleared. "@" offers the chat's
 * members to mention; the "!" button marks the next message important or urgent.
 * Files come from the paperclip, a paste or a drop on the chat, and upload at once; the
 * message goes when they have (text may be left out then). The microphone records a voice note.
 */
import {
  type Attachment,
  MESSAGE_MAX_LENGTH,
  type Message,
  type MessagePriority,
  previewText,
} from '@parley/contracts';
import {
  type ClipboardEvent,
  type FormEvent,
  type KeyboardEvent,
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
import { attachmentsText } from '../media/format';
import { takeReadyAttachments, uploadSummary, useChatUploads } from '../media/upload-store';
import { UploadTray, attachFiles } from '../media/UploadTray';
import { VoiceRecorder } from '../media/VoiceRecorder';
import type { MemberMap } from '../messaging/members-store';
import { MicIcon, PaperclipIcon } from './Icons';
import { useDismiss } from './use-dismiss';

export const TYPING_THROTTLE_MS = 2_000;
/** The counter shows from here on. */
const COUNTER_FROM = MESSAGE_MAX_LENGTH - 1_000;

/** Unsent text per chat, kept while the tab lives (switching chats does not lose it). */
const drafts = new Map<string, string>();

/** The "@…" being typed right before the caret, if any. */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | null {
  const match = /(^|[^\w@.])@([a-z0-9_.]{0,32})$/.exec(text.slice(0, caret));
  if (!match) return null;
  return { start: match.index + (match[1] ?? '').length, query: match[2] ?? '' };
}

interface Candidate {
  id: string;
  username: string;
  displayName: string;
}

/** Members (not me) whose username starts with the query, or whose name has a word that does. */
export function mentionCandidates(members: MemberMap | undefined, me: string, query: string): Candidate[] {
  const q = query.toLowerCase();
  return Object.values(members ?? {})
    .map((m) => m.user)
    .filter(
      (u) =>
        u.id !== me &&
        (u.username.startsWith(q) ||
          u.displayName
            .toLowerCase()
            .split(/\s+/)
            .some((w) => w.startsWith(q))),
    )
    .sort((a, b) => a.username.localeCompare(b.username))
    .slice(0, 6);
}

const priorityChoices: { value: MessagePriority; label: string; hint: string }[] = [
  { value: 'normal', label: 'Normal', hint: 'Notifies as the chat’s settings say' },
  { value: 'high', label: 'Important', hint: 'Highlighted for everyone' },
  { value: 'urgent', label: 'Urgent', hint: 'Notifies even where the chat is muted' },
];

export interface ComposerProps {
  chatId: string;
  replyTo: Message | null;
  editing: Message | null;
  /** The chat's members, for @-mention suggestions. */
  members?: MemberMap | undefined;
  me?: string;
  /** Text (may be empty with attachments), priority, and the finished uploads in order. */
  onSend: (body: string, priority: MessagePriority, attachments: Attachment[]) => void;
  onSaveEdit: (body: string) => void;
  onCancelReply: () => void;
  onCancelEdit: () => void;
  onTyping: (typing: boolean) => void;
  /** ↑ in an empty composer: edit my last message (as in Slack and Mattermost). */
  onEditLast?: () => void;
}

export function Composer({
  chatId,
  replyTo,
  editing,
  members,
  me = '',
  onSend,
  onEditLast,
  onSaveEdit,
  onCancelReply,
  onCancelEdit,
  onTyping,
}: ComposerProps) {
  const [text, setText] = useState(() => (editing ? editing.body : (drafts.get(chatId) ?? '')));
  const [priority, setPriority] = useState<MessagePriority>('normal');
  const [priorityOpen, setPriorityOpen] = useState(false);
  const closePriority = useCallback(() => setPriorityOpen(false), []);
  const priorityRef = useDismiss(priorityOpen, closePriority);
  const [mention, setMention] = useState<{ start: number; query: string } | null>(null);
  const [activeMention, setActiveMention] = useState(0);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const [recording, setRecording] = useState(false);
  const uploads = useChatUploads(chatId);
  const { ready, busy } = uploadSummary(uploads);
  const caretAfterRender = useRef<number | null>(null);
  const candidates = useMemo(
    () => (mention ? mentionCandidates(members, me, mention.query) : []),
    [mention, members, me],
  );
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

  // Grow with the text, up to a limit (CSS max-height); put the caret after a picked mention.
  useLayoutEffect(() => {
    const el = inputRef.current;
    if (!el) return;
    const caret = caretAfterRender.current;
    if (caret !== null) {
      caretAfterRender.current = null;
      el.focus();
      el.setSelectionRange(caret, caret);
    }
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

  /** Look for an "@…" before the caret (after typing, clicking or moving the caret). */
  function findMention(value: string) {
    const caret = inputRef.current?.selectionStart ?? value.length;
    const next = mentionQuery(value, caret);
    setMention((prev) => (prev?.start === next?.start && prev?.query === next?.query ? prev : next));
    if (next?.query !== mention?.query) setActiveMention(0);
  }

  function pickMention(candidate: Candidate) {
    if (!mention) return;
    const caret = inputRef.current?.selectionStart ?? text.length;
    const inserted = `@${candidate.username} `;
    const value = text.slice(0, mention.start) + inserted + text.slice(caret);
    change(value);
    setMention(null);
    caretAfterRender.current = mention.start + inserted.length;
  }

  function change(value: string) {
    setText(value);
    findMention(value);
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
  // A new message waits for uploads still running; it can be files without text.
  const canSend = editing ? !empty && !tooLong : !tooLong && busy === 0 && (!empty || ready > 0);

  function submit(e?: FormEvent) {
    e?.preventDefault();
    if (!canSend) return;
    if (editing) {
      if (text.trim() !== editing.body.trim()) onSaveEdit(text.trim());
      else onCancelEdit();
      return;
    }
    stopTyping();
    onSend(text.trim(), priority, takeReadyAttachments(chatId));
    setText('');
    setMention(null);
    setPriority('normal');
    drafts.delete(chatId);
  }

  /** Pasted pictures and files are attached (text, even with a picture beside it, is pasted as text). */
  function onPaste(e: ClipboardEvent<HTMLTextAreaElement>) {
    if (editing) return;
    const files = [...e.clipboardData.files];
    if (files.length === 0 || e.clipboardData.types.includes('text/plain')) return;
    e.preventDefault();
    attachFiles(chatId, files);
  }

  function sendVoice(attachment: Attachment) {
    stopTyping();
    onSend('', priority, [attachment]);
    setPriority('normal');
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (mention && candidates.length > 0) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const step = e.key === 'ArrowDown' ? 1 : -1;
        setActiveMention((i) => (i + step + candidates.length) % candidates.length);
        return;
      }
      if ((e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey && !e.nativeEvent.isComposing) {
        e.preventDefault();
        const picked = candidates[Math.min(activeMention, candidates.length - 1)];
        if (picked) pickMention(picked);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setMention(null);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === 'ArrowUp' && !editing && text === '' && onEditLast) {
      e.preventDefault();
      onEditLast();
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
            <span className="composer__quote">
              {previewText(replyTo.body) || attachmentsText(replyTo.attachments)}
            </span>
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
      {!editing && priority !== 'normal' && (
        <div className={`composer__bar composer__bar--${priority}`} data-testid="priority-bar">
          <span className="composer__bar-text">
            <strong>{priority === 'urgent' ? 'Urgent message' : 'Important message'}</strong>
            <span className="muted">
              {priority === 'urgent'
                ? 'Notifies everyone, even where the chat is muted'
                : 'Highlighted for everyone'}
            </span>
          </span>
          <button
            type="button"
            className="icon-button"
            onClick={() => setPriority('normal')}
            aria-label="Send as a normal message"
            data-testid="priority-clear-button"
          >
            ×
          </button>
        </div>
      )}
      {mention && candidates.length > 0 && (
        <ul
          className="mention-suggestions"
          role="listbox"
          aria-label="Mention someone"
          data-testid="mention-suggestions"
        >
          {candidates.map((c, i) => (
            <li key={c.id} role="option" aria-selected={i === activeMention}>
              <button
                type="button"
                className={`user-row user-row--button${i === activeMention ? ' user-row--active' : ''}`}
                onMouseDown={(e) => e.preventDefault()}
                onClick={() => pickMention(c)}
                data-testid="mention-suggestion"
                data-username={c.username}
              >
                <span className="user-row__name">{c.displayName}</span>
                <span className="muted">@{c.username}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {!editing && <UploadTray chatId={chatId} />}
      {recording && !editing ? (
        <VoiceRecorder onSend={sendVoice} onClose={() => setRecording(false)} />
      ) : (
        <div className="composer__row">
          {!editing && (
            <div className="composer__priority" ref={priorityRef}>
              <button
                type="button"
                className={`icon-button composer__priority-button composer__priority-button--${priority}`}
                aria-label={`Priority: ${priorityChoices.find((c) => c.value === priority)?.label ?? 'Normal'}`}
                title="Priority"
                aria-haspopup="menu"
                aria-expanded={priorityOpen}
                onClick={() => setPriorityOpen(!priorityOpen)}
                data-testid="priority-button"
                data-priority={priority}
              >
                !
              </button>
              {priorityOpen && (
                <div className="popup menu composer__priority-menu" role="menu" data-testid="priority-menu">
                  {priorityChoices.map((choice) => (
                    <button
                      key={choice.value}
                      type="button"
                      role="menuitemradio"
                      aria-checked={priority === choice.value}
                      onClick={() => {
                        setPriority(choice.value);
                        setPriorityOpen(false);
                        inputRef.current?.focus();
                      }}
                      data-testid={`priority-option-${choice.value}`}
                    >
                      <span className="menu__check" aria-hidden="true">
                        {priority === choice.value ? '✓' : ''}
                      </span>
                      <span className="menu__label">
                        {choice.label}
                        <span className="menu__hint">{choice.hint}</span>
                      </span>
                    </button>
                  ))}
                </div>
              )}
            </div>
          )}
          {!editing && (
            <>
              <button
                type="button"
                className="icon-button composer__attach"
                aria-label="Attach files"
                title="Attach files"
                onClick={() => fileRef.current?.click()}
                data-testid="attach-button"
              >
                <PaperclipIcon />
              </button>
              <input
                ref={fileRef}
                type="file"
                multiple
                hidden
                onChange={(e) => {
                  attachFiles(chatId, [...(e.target.files ?? [])]);
                  e.target.value = '';
                }}
                data-testid="attach-input"
              />
            </>
          )}
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
            onClick={() => findMention(text)}
            onKeyUp={(e) => {
              if (e.key === 'ArrowLeft' || e.key === 'ArrowRight' || e.key === 'Home' || e.key === 'End')
                findMention(text);
            }}
            onBlur={() => setMention(null)}
            onPaste={onPaste}
            aria-autocomplete="list"
            data-testid="composer-input"
          />
          {!editing && empty && uploads.length === 0 && (
            <button
              type="button"
              className="icon-button composer__mic"
              aria-label="Record a voice message"
              title="Record a voice message"
              onClick={() => setRecording(true)}
              data-testid="mic-button"
            >
              <MicIcon />
            </button>
          )}
          <button
            type="submit"
            className="button button--primary composer__send"
            disabled={!canSend}
            title={!editing && busy > 0 ? 'Waiting for the files to upload' : undefined}
            data-testid="send-button"
          >
            {editing ? 'Save' : 'Send'}
          </button>
        </div>
      )}
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
