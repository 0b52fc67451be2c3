-- Typo tolerance (search/search-messages.ts, "similar words"): the distinct words that
-- messages and attachment names contain, with a trigram index. A query word that matches
-- nothing ("deplyment") is looked up here — a list of words, not a million messages — and
-- the words within a small edit distance (fuzzystrmatch's levenshtein) are then searched
-- for as they are, through the messages' tsvector index. Only words: no message, chat,
-- sender or time. search/word-list.ts fills it in the background from the messages sent
-- (and edited) since it last ran; words of disappearing messages are never added.
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;

-- The words of a tsvector worth correcting to: 4 to 32 characters, no digits or
-- punctuation (identifiers and numbers are found by substring), no CJK (bigrams).
CREATE FUNCTION parley_dictionary_words(v tsvector) RETURNS SETOF text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$
  SELECT w FROM unnest(tsvector_to_array(v)) AS w
  WHERE length(w) BETWEEN 4 AND 32
    AND w !~ '[[:digit:][:punct:][:space:]]'
    AND w !~ '[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]'
$$;

-- The same words of a file name ("Q3-report_final.pdf": q3, report, final, pdf; then the
-- filter above keeps report, final).
CREATE FUNCTION parley_name_words(name text) RETURNS SETOF text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT parley_dictionary_words(to_tsvector('simple', regexp_replace(name, '[[:punct:]]+', ' ', 'g'))) $$;

CREATE TABLE "search_words" (
    "word" TEXT NOT NULL,

    CONSTRAINT "search_words_pkey" PRIMARY KEY ("word")
);

CREATE INDEX "search_words_word_trgm_idx" ON "search_words" USING GIN ("word" gin_trgm_ops);

-- How far the word list has read: messages by (created_at, id), edits by (edited_at, id).
CREATE TABLE "search_word_progress" (
    "id" SMALLINT NOT NULL DEFAULT 1,
    "sent_at" TIMESTAMPTZ(3) NOT NULL,
    "sent_id" UUID NOT NULL,
    "edited_at" TIMESTAMPTZ(3) NOT NULL,
    "edited_id" UUID NOT NULL,

    CONSTRAINT "search_word_progress_pkey" PRIMARY KEY ("id")
);

-- Edits in the order the word list reads them; sends never write edited_at, so they do
-- not maintain this index.
CREATE INDEX "messages_edited_at_idx" ON "messages"("edited_at", "id") WHERE "edited_at" IS NOT NULL;

-- The words of what exists now, and the list's starting point.
INSERT INTO "search_words" ("word")
SELECT DISTINCT w FROM (
  SELECT parley_dictionary_words(m.search_vector) AS w
  FROM "messages" m WHERE m.deleted_at IS NULL AND m.expires_at IS NULL
  UNION ALL
  SELECT parley_name_words(x.search_name)
  FROM "media" x JOIN "messages" m ON m.id = x.message_id
  WHERE x.deleted_at IS NULL AND m.deleted_at IS NULL AND m.expires_at IS NULL
) s
ON CONFLICT DO NOTHING;

INSERT INTO "search_word_progress" ("id", "sent_at", "sent_id", "edited_at", "edited_id")
VALUES (1, CURRENT_TIMESTAMP, '00000000-0000-0000-0000-000000000000',
        CURRENT_TIMESTAMP, '00000000-0000-0000-0000-000000000000');
