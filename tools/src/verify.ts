/**
 * The end of a run under failures: every acked message looked for on every member's
 * devices. What each device got (live, replayed on resume, over REST) is the ledger's
 * verdict; this adds the server's side, as a client opening each of its chats would see
 * it: every device (or one device per user) reads its chats over REST and checks that
 * every message acked in them is there. A delivery missing on a device is then either
 * "on the server" (the live path and its recovery lost it: a reload would show it) or
 * "not on the server" (acked, and gone: the worst outcome). An acked message that a member
 * cannot read over REST is counted on its own, and so is a message stored under two ids.
 */
import { mapConcurrent } from './api.js';
import type { VerifyMode } from './options.js';
import type { MessageReader } from './recovery.js';
import type { DeliveryVerdict, Ledger, SentMessage } from './stats.js';

export interface Verification {
  /** Whether the devices reconnected, resumed, re-synced and retried (on unless --no-reconnect). */
  reconnect: boolean;
  /** devices: every device read its chats; users: one device per user; off: no REST check. */
  mode: VerifyMode;
  ackedMessages: number;
  /** Deliveries of acked messages to recipient devices: expected = live + resume + rest + missing. */
  deliveries: { expected: number; live: number; resume: number; rest: number; missing: number };
  /** Of the missing deliveries, those the final check found on the server, and not (null: not checked). */
  missingOnServer: number | null;
  missingNotOnServer: number | null;
  /** Acked messages some member could not read over REST at the end, and the (message, reader) pairs. */
  notRetrievable: { messages: number; pairs: number } | null;
  /** A device seeing a message twice is deduped by id; these count what was seen twice. */
  duplicates: {
    /** message:new frames for a message the device already had (live or replayed). */
    raw: number;
    /** Messages the server stored under more than one id (a retry made a second message): must be 0. */
    afterDedupe: number;
  };
  /** Sends: messages written more than once, the writes after the first, duplicate acks. */
  retriedSends: number;
  resends: number;
  duplicateAcks: number;
  /** The final check's REST work: readers (devices or users), chats read, requests, failed reads. */
  check: { readers: number; chatsRead: number; requests: number; failedReads: number; durationS: number };
  /** A few missing deliveries, for evidence: message, chat, device, and whether the server has it. */
  examples: MissingExample[];
}

export interface MissingExample {
  messageIndex: number;
  messageId: string | null;
  chatId: string;
  device: number;
  user: number;
  onServer: boolean | null;
}

export interface VerifyInput {
  ledger: Ledger;
  verdict: DeliveryVerdict;
  mode: VerifyMode;
  reconnect: boolean;
  /** Devices in the run: index → user and the server it uses now. */
  devices: readonly { index: number; user: number; current: number }[];
  /** Devices that took part (connected at the start): the readers in "devices" mode. */
  members: ReadonlySet<number>;
  chatsOfUser: readonly (readonly string[])[];
  baseSeq: (chatId: string) => number;
  reader: MessageReader;
  concurrency: number;
  raw: { duplicates: number; retriedSends: number; resends: number; duplicateAcks: number };
  progress?: (line: string) => void;
  stop?: () => boolean;
}

const EXAMPLES = 10;

export async function verifyDeliveries(input: VerifyInput): Promise<Verification> {
  const { ledger, verdict, mode } = input;
  const t0 = performance.now();
  const out: Verification = {
    reconnect: input.reconnect,
    mode,
    ackedMessages: verdict.ackedMessages,
    deliveries: {
      expected: verdict.expected,
      live: verdict.live,
      resume: verdict.resume,
      rest: verdict.rest,
      missing: verdict.missing,
    },
    missingOnServer: null,
    missingNotOnServer: null,
    notRetrievable: null,
    duplicates: { raw: input.raw.duplicates, afterDedupe: verdict.duplicatesAfterDedupe },
    retriedSends: input.raw.retriedSends,
    resends: input.raw.resends,
    duplicateAcks: input.raw.duplicateAcks,
    check: { readers: 0, chatsRead: 0, requests: 0, failedReads: 0, durationS: 0 },
    examples: [],
  };
  const deviceOf = new Map(input.devices.map((d) => [d.index, d]));
  const example = (index: number, device: number, onServer: boolean | null): MissingExample => {
    const msg = ledger.get(index)!;
    return {
      messageIndex: index,
      messageId: msg.messageId ?? null,
      chatId: msg.chatId,
      device,
      user: deviceOf.get(device)?.user ?? -1,
      onServer,
    };
  };
  if (mode === 'off') {
    out.examples = verdict.missingList.slice(0, EXAMPLES).map((m) => example(m.index, m.device, null));
    return out;
  }

  // Who reads: every device that took part, or the first of each user's.
  const readers: { device: number; user: number; node: number }[] = [];
  const seenUsers = new Set<number>();
  for (const d of input.devices) {
    if (!input.members.has(d.index)) continue;
    if (mode === 'users' && seenUsers.has(d.user)) continue;
    seenUsers.add(d.user);
    readers.push({ device: d.index, user: d.user, node: d.current });
  }
  // Missing deliveries by the reader that answers for them: the device itself, or its user.
  const key = (device: number) => (mode === 'devices' ? device : deviceOf.get(device)!.user);
  const missingBy = new Map<number, { index: number; device: number }[]>();
  for (const m of verdict.missingList) {
    const k = key(m.device);
    const list = missingBy.get(k);
    if (list) list.push(m);
    else missingBy.set(k, [m]);
  }
  const acked = ledger.ackedByChat();
  const requests0 = input.reader.requests;
  const notRetrievable = new Set<number>();
  let pairs = 0;
  let onServer = 0;
  let notOnServer = 0;
  const examples: MissingExample[] = [];
  let done = 0;

  await mapConcurrent(
    readers,
    input.concurrency,
    async (r) => {
      const present = new Set<string>();
      const unread = new Set<string>();
      for (const chatId of input.chatsOfUser[r.user] ?? []) {
        try {
          await input.reader.readAfter(r.user, chatId, input.baseSeq(chatId), r.node, (messages) => {
            for (const m of messages) {
              present.add(m.id);
              const index = ledger.indexOf(m.body);
              const msg = index === undefined ? undefined : ledger.get(index);
              if (msg) ledger.noteId(msg, m.id);
            }
          });
          out.check.chatsRead += 1;
        } catch {
          out.check.failedReads += 1;
          unread.add(chatId);
          continue;
        }
        for (const msg of acked.get(chatId) ?? []) {
          if (isThere(msg, present)) continue;
          pairs += 1;
          notRetrievable.add(msg.index);
        }
      }
      for (const m of missingBy.get(mode === 'devices' ? r.device : r.user) ?? []) {
        const msg = ledger.get(m.index)!;
        // A chat that could not be read says nothing either way.
        const there = unread.has(msg.chatId) ? null : isThere(msg, present);
        if (there === true) onServer += 1;
        else if (there === false) notOnServer += 1;
        if (examples.length < EXAMPLES) examples.push(example(m.index, m.device, there));
      }
      done += 1;
      if (input.progress && (done % 100 === 0 || done === readers.length)) {
        input.progress(`final check: ${done}/${readers.length} ${mode === 'devices' ? 'devices' : 'users'}`);
      }
    },
    undefined,
    input.stop,
  ).catch(() => undefined); // interrupted: what was checked is reported

  out.check.readers = readers.length;
  out.check.requests = input.reader.requests - requests0;
  out.check.durationS = Math.round((performance.now() - t0) / 100) / 10;
  out.missingOnServer = onServer;
  out.missingNotOnServer = notOnServer;
  out.notRetrievable = { messages: notRetrievable.size, pairs };
  // Reads may have shown a message under a second id.
  out.duplicates.afterDedupe = ledger.duplicatesAfterDedupe();
  out.examples = examples;
  return out;
}

function isThere(msg: SentMessage, present: ReadonlySet<string>): boolean {
  if (msg.messageId !== undefined && present.has(msg.messageId)) return true;
  return msg.extraIds?.some((id) => present.has(id)) ?? false;
}
