-- Search by file name (GET /api/search?type=files): an attachment's name in the form
-- message search matches text in (parley_search_text: lower case, accents stripped), with
-- a trigram index for substrings ("report" in "Q3-report-final.pdf") and similar words.
ALTER TABLE "media"
  ADD COLUMN "search_name" TEXT GENERATED ALWAYS AS (parley_search_text("name")) STORED;

CREATE INDEX "media_search_name_trgm_idx" ON "media" USING GIN ("search_name" gin_trgm_ops);

-- type=files lists the newest files first: attached ones by the time they were attached.
CREATE INDEX "media_attached_idx" ON "media" ("attached_at", "id") WHERE "message_id" IS NOT NULL;
