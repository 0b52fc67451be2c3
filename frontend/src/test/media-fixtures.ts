/** Builders for contract-shaped attachments and media in tests. */
import type { Attachment, Media } from '@parley/contracts';
import { ME, at, id } from './chat-fixtures';

/** A 1×1 PNG as a data: URL (what the server's placeholders look like). */
export const PLACEHOLDER =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

export function attachment(label: string, extra: Partial<Attachment> = {}): Attachment {
  return {
    id: id(`media ${label}`),
    kind: 'image',
    status: 'ready',
    failureReason: null,
    name: `${label}.jpg`,
    mime: 'image/jpeg',
    size: 123_456,
    width: 1600,
    height: 1200,
    durationMs: null,
    placeholder: PLACEHOLDER,
    waveform: null,
    animated: false,
    variants: ['preview', 'thumbnail'],
    createdAt: at(0),
    ...extra,
  };
}

/** Signed URLs as the server makes them (relative, per variant). */
export function urlsFor(a: Pick<Attachment, 'id' | 'variants'>, expires = 'e1') {
  return Object.fromEntries(
    a.variants.map((v) => [v, `/api/media/${a.id}/${v}?expires=${expires}&user=${ME}&signature=s`]),
  );
}

export function media(a: Attachment, extra: Partial<Media> = {}): Media {
  return {
    ...a,
    chatId: null,
    messageId: null,
    seq: null,
    senderId: ME,
    urls: urlsFor(a),
    urlsExpireAt: new Date(Date.now() + 10 * 60_000).toISOString(),
    ...extra,
  };
}
