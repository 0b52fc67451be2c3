/**
 * The messaging session of a signed-in tab: the chat list from REST, one realtime client,
 * and the glue between them. Events are applied to the stores as they come, except while
 * a re-sync is running: then they wait and are applied after the fresh REST state (every
 * event handler is idempotent, so an event the REST answer already contains is harmless).
 */
import { type ServerEvent, ephemeralEventTypes } from '@parley/contracts';
import { api, refreshAccessToken } from '../api/client';
import { useAuthStore } from '../auth/auth-store';
import { clearUploads } from '../media/upload-store';
import { clearMediaUrls } from '../media/url-store';
import { useConnectionStore } from '../realtime/connection-store';
import { RealtimeClient, type SocketLike, defaultSocketUrl } from '../realtime/realtime-client';
import { useContactsStore } from '../people/contacts-store';
import { retryMessage } from './actions';
import { applyEvent } from './apply-event';
import { useChatsStore } from './chats-store';
import { startExpiryClock } from './expiry';
import { type GapFiller, createGapFiller } from './gap-filler';
import { useMembersStore } from './members-store';
import { type SeqGap, isGapOpen, useMessagesStore } from './messages-store';
import { noteIncoming } from './notifications';
import { usePresenceStore } from './presence-store';
import { fetchGap, loadErrorMessage, refreshChat, resync } from './sync';
import { useTypingStore } from './typing-store';

export interface SessionOptions {
  createSocket?: (url: string) => SocketLike;
  url?: string;
  /** Reconnect jitter source (tests). */
  random?: () => number;
}

let client: RealtimeClient | null = null;
/** Events held back while a re-sync runs; null when none runs. */
let held: ServerEvent[] | null = null;
let resyncing: Promise<void> | null = null;
let resyncAgain = false;
let resyncFailed = false;
let retryTimer: ReturnType<typeof setTimeout> | null = null;
const refreshQueue = new Set<string>();
let refreshTimer: ReturnType<typeof setTimeout> | null = null;
/** Seqs live messages skipped, fetched over REST (null when signed out). */
let gapFiller: GapFiller | null = null;
let generation = 0;
let stopExpiryClock: (() => void) | null = null;

const ephemeral = new Set<string>(ephemeralEventTypes);

/** The running realtime client (null when signed out). */
export function getRealtime(): RealtimeClient | null {
  return client;
}

function me(): string {
  return useAuthStore.getState().user?.id ?? '';
}

function queueRefresh(chatId: string): void {
  refreshQueue.add(chatId);
  if (refreshTimer) return;
  const gen = generation;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    const ids = [...refreshQueue];
    refreshQueue.clear();
    if (gen !== generation) return;
    for (const id of ids) refreshChat(id).catch(() => {});
  }, 50);
}

/** Messages the request limit refused go again, in order, once the request is accepted. */
function resendRefused(chatId: string): void {
  const refused = (useMessagesStore.getState().byChat[chatId]?.pending ?? []).filter(
    (p) => p.status === 'failed' && p.errorCode === 'CHAT_REQUEST_LIMIT',
  );
  void (async () => {
    for (const p of refused) await retryMessage(chatId, p.clientMsgId);
  })();
}

function apply(event: ServerEvent): void {
  if (event.type === 'message:new') {
    const { message } = event.data;
    const chat = useChatsStore.getState().chats[message.chatId];
    const isNew = !chat || message.seq > chat.lastSeq;
    if (isNew) noteIncoming(message, chat ?? null, me());
  }
  applyEvent(event, me(), { refreshChat: queueRefresh, fetchGap: reportGap, requestAccepted: resendRefused });
}

/** Seqs a live message (or my own send's answer) skipped: fetched unless they turn up by themselves. */
export function reportGap(chatId: string, gap: SeqGap): void {
  gapFiller?.report(chatId, gap);
}

function onEvent(event: ServerEvent): void {
  if (held && !ephemeral.has(event.type)) held.push(event);
  else apply(event);
}

/** Re-sync from REST; calls while one runs make it run once more afterwards. */
export function requestResync(): Promise<void> {
  if (resyncing) {
    resyncAgain = true;
    return resyncing;
  }
  const gen = generation;
  held ??= [];
  resyncing = (async () => {
    do {
      resyncAgain = false;
      try {
        await resync();
        resyncFailed = false;
      } catch (err) {
        resyncFailed = true;
        if (gen === generation && !useChatsStore.getState().loaded) {
          useChatsStore.getState().setError(loadErrorMessage(err));
        }
      }
    } while (resyncAgain && gen === generation);
  })().finally(() => {
    if (gen !== generation) return;
    const events = held ?? [];
    held = null;
    resyncing = null;
    for (const e of events) apply(e);
    if (resyncFailed && !retryTimer) {
      retryTimer = setTimeout(() => {
        retryTimer = null;
        if (client?.isReady) void requestResync();
      }, 5_000);
    }
  });
  return resyncing;
}

/** Presence of the people in my direct chats (the chat list does not carry it). */
async function loadDirectPresence(): Promise<void> {
  const gen = generation;
  const direct = Object.values(useChatsStore.getState().chats)
    .filter((c) => c.kind === 'direct' && c.peer)
    .slice(0, 30);
  const queue = [...direct];
  const worker = async () => {
    for (let chat = queue.shift(); chat; chat = queue.shift()) {
      if (gen !== generation) return;
      const res = await api.chats.listMembers({ params: { chatId: chat.id } }).catch(() => null);
      if (res?.status === 200 && gen === generation)
        usePresenceStore.getState().fromMembers(res.body.members);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
}

export function startMessaging(options: SessionOptions = {}): () => void {
  stopMessaging();
  const gen = ++generation;
  useConnectionStore.setState({ state: 'connecting' });
  stopExpiryClock = startExpiryClock(me);
  gapFiller = createGapFiller({
    fetchAfter: (chatId, afterSeq) => (gen === generation ? fetchGap(chatId, afterSeq) : Promise.resolve()),
    isOpen: (chatId, gap) => isGapOpen(useMessagesStore.getState().byChat[chatId], gap),
  });
  // The first load is a re-sync too: the socket's first auth asks for another, which runs
  // after it, so two chat lists never race each other into the store.
  void requestResync().then(() => (gen === generation ? loadDirectPresence() : undefined));
  client = new RealtimeClient({
    url: options.url ?? defaultSocketUrl(),
    ...(options.createSocket ? { createSocket: options.createSocket } : {}),
    ...(options.random ? { random: options.random } : {}),
    getToken: () => useAuthStore.getState().accessToken,
    refreshToken: refreshAccessToken,
    onEvent,
    onResync: () => {
      void requestResync().then(() => (gen === generation ? loadDirectPresence() : undefined));
    },
    onStateChange: (state) => {
      useConnectionStore.setState({ state });
      if (state === 'online' && resyncFailed) void requestResync();
    },
  });
  client.start();
  return stopMessaging;
}

/** Close the socket and forget every chat (logout, or the signed-in shell going away). */
export function stopMessaging(): void {
  generation += 1;
  client?.stop();
  client = null;
  held = null;
  resyncing = null;
  resyncAgain = false;
  resyncFailed = false;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  if (refreshTimer) clearTimeout(refreshTimer);
  refreshTimer = null;
  refreshQueue.clear();
  gapFiller?.stop();
  gapFiller = null;
  stopExpiryClock?.();
  stopExpiryClock = null;
  useConnectionStore.setState({ state: 'idle' });
  useContactsStore.getState().clear();
  useChatsStore.getState().clear();
  useMessagesStore.getState().clear();
  useMembersStore.getState().clear();
  usePresenceStore.getState().clear();
  useTypingStore.getState().clear();
  clearUploads();
  clearMediaUrls();
}
