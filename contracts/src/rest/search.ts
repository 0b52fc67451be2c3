import { initContract } from '@ts-rest/core';
import { z } from 'zod';
import { isoDateTime, text, uuid } from '../common.js';
import { errorBodySchema } from '../errors.js';
import { mediaKindSchema } from './media.js';
import { messageSenderSchema } from './messages.js';
import { publicUserSchema } from './users.js';

const c = initContract();

export const SEARCH_QUERY_MAX_LENGTH = 256;
export const SEARCH_PAGE_DEFAULT = 20;
export const SEARCH_PAGE_MAX = 50;

export const searchQuerySchema = z.object({
  /** The query language is described in the README ("Search"). */
  // text(): a NUL or a lone surrogate is a 400 here, not a 500 from PostgreSQL.
  q: text()
    .trim()
    .min(1, 'Type something to search for.')
    .max(SEARCH_QUERY_MAX_LENGTH, `Use at most ${SEARCH_QUERY_MAX_LENGTH} characters.`),
  /** Only this chat ("search in this chat"). */
  chatId: uuid.optional(),
  limit: z.coerce.number().int().min(1).max(SEARCH_PAGE_MAX).default(SEARCH_PAGE_DEFAULT),
  /** Opaque cursor from the previous page's `nextCursor` (same q, sort and type). */
  cursor: text().max(400).optional(),
  /** relevance: best match first, newer first among equals; date: newest first. */
  sort: z.enum(['relevance', 'date']).default('relevance'),
  /**
   * messages: by their text (with has:image, also by what their pictures show); files:
   * attachments by name (one hit per file, newest first); media: pictures by the text read
   * in them and the objects seen (one hit per picture, newest first); users: people.
   */
  type: z.enum(['messages', 'files', 'media', 'users']).default('messages'),
});
export type SearchQuery = z.infer<typeof searchQuerySchema>;

/** A span of `text` to highlight: [start, end) in UTF-16 code units (JavaScript string indexes). */
export const highlightRangeSchema = z.object({
  start: z.number().int().min(0),
  end: z.number().int().min(0),
});
export type HighlightRange = z.infer<typeof highlightRangeSchema>;

/** Plain text (never HTML) around the match, with what to highlight in it. */
export const searchSnippetSchema = z.object({
  text: z.string(),
  highlights: z.array(highlightRangeSchema),
});
export type SearchSnippet = z.infer<typeof searchSnippetSchema>;

/** An object seen in a picture, with the model's confidence (0–1). */
export const mediaLabelSchema = z.object({ label: z.string(), score: z.number().min(0).max(1) });
export type MediaLabel = z.infer<typeof mediaLabelSchema>;

/**
 * A picture found by what it shows (has:image, type=media): its thumbnail, signed for the
 * caller, and what matched — the text read in it around the match, and the labels that matched.
 */
export const imageHitSchema = z.object({
  id: uuid,
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  /** A tiny blurred picture (data: URL) to show before the thumbnail arrives. */
  placeholder: z.string().nullable(),
  thumbnailUrl: z.string().nullable(),
  /** The text read in the picture (OCR; may hold reading errors), around the match. */
  text: searchSnippetSchema,
  /** The picture's labels that the query matched. */
  labels: z.array(mediaLabelSchema),
});
export type ImageHit = z.infer<typeof imageHitSchema>;

export const messageHitSchema = z.object({
  messageId: uuid,
  chat: z.object({ id: uuid, kind: z.enum(['direct', 'group']), title: z.string() }),
  /** Null when the sender's account is gone. */
  sender: messageSenderSchema.nullable(),
  seq: z.number().int(),
  createdAt: isoDateTime,
  editedAt: isoDateTime.nullable(),
  snippet: searchSnippetSchema,
  /** The app's deep link to the message: /chats/:chatId/messages/:messageId. */
  link: z.string(),
  /** type=files: the attachment whose name matched (the snippet is its name). */
  file: z
    .object({
      id: uuid,
      name: z.string(),
      kind: mediaKindSchema,
      mime: z.string(),
      size: z.number().int().min(0),
    })
    .optional(),
  /** has:image and type=media: the picture of the message that was found (or its first). */
  image: imageHitSchema.optional(),
});
export type MessageHit = z.infer<typeof messageHitSchema>;

export const searchResultSchema = z.object({
  /** type=messages */
  messages: z.array(messageHitSchema),
  /** type=users */
  users: z.array(publicUserSchema),
  nextCursor: z.string().nullable(),
  /** The text the query looks for, to highlight in the chat when a result is opened. */
  terms: z.array(z.string()),
  /**
   * True when nothing matched as typed and these are matches of similar words (typos):
   * "deplyment" finds "deployment".
   */
  approximate: z.boolean().optional(),
});
export type SearchResult = z.infer<typeof searchResultSchema>;

export const searchContract = c.router(
  {
    search: {
      method: 'GET',
      path: '/search',
      summary:
        'Full-text search over the messages of the chats the caller is in (their files by name: type=files; ' +
        'their pictures by the text and objects in them: type=media, or has:image; people: type=users): ' +
        'words, "phrases", -exclusions, prefix*, from:, in:, has:, is:unread, before:/after:/on:',
      query: searchQuerySchema,
      responses: {
        200: searchResultSchema,
        400: errorBodySchema,
        401: errorBodySchema,
      },
    },
  },
  { strictStatusCodes: true },
);
