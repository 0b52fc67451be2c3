-- Full-text search over messages (issue 14), the same SQL on PostgreSQL and PGlite.
--
-- Each message carries two stored, generated columns, computed in the statement that
-- writes the row (the group-commit insert, an edit, the tombstone of a delete), so the
-- index is live the moment a send commits and no application code maintains it:
--   search_text    lower-cased, accents stripped, whitespace collapsed: for substrings,
--                  partial words and typos (pg_trgm GIN index) and exact phrase checks;
--   search_vector  the words of search_text (the language-neutral `simple` configuration,
--                  so names, code and any language tokenise) plus every run of CJK text as
--                  overlapping bigrams (as Lucene's CJK analyzer does), so a two-character
--                  word such as 上海 is an indexed look-up (GIN index).
-- The columns and indexes are database-only (Prisma has no generated columns, tsvector or
-- operator classes); the schema-drift test lists them as such and checks they exist.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- unaccent() is STABLE (it looks its dictionary up by search_path); naming the dictionary
-- makes the result depend on the text alone, so it may be used in stored columns.
CREATE FUNCTION parley_unaccent(t text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, t) $$;

CREATE FUNCTION parley_search_text(t text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT regexp_replace(lower(public.parley_unaccent(t)), '\s+', ' ', 'g') $$;

-- Runs of two or more Han, kana or Hangul characters, as overlapping bigrams separated by
-- spaces: '我家在上海' -> '我家 家在 在上 上海'.
CREATE FUNCTION parley_cjk_bigrams(t text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$
  SELECT coalesce(string_agg(substr(r.m[1], i, 2), ' ' ORDER BY r.n, i), '')
  FROM regexp_matches(t, '[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]{2,}', 'g')
    WITH ORDINALITY AS r(m, n)
  CROSS JOIN LATERAL generate_series(1, length(r.m[1]) - 1) AS i
$$;

CREATE FUNCTION parley_search_vector(t text) RETURNS tsvector
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT to_tsvector('simple'::regconfig, public.parley_search_text(t) || ' ' || public.parley_cjk_bigrams(t)) $$;

ALTER TABLE "messages"
  ADD COLUMN "search_text" TEXT GENERATED ALWAYS AS (parley_search_text("body")) STORED,
  ADD COLUMN "search_vector" TSVECTOR GENERATED ALWAYS AS (parley_search_vector("body")) STORED;

CREATE INDEX "messages_search_vector_idx" ON "messages" USING GIN ("search_vector");
CREATE INDEX "messages_search_text_trgm_idx" ON "messages" USING GIN ("search_text" gin_trgm_ops);
