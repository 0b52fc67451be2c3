-- Media analysis (issue 16): the text read in a picture (OCR) and the objects seen in it
-- (labels with their score), found by search. One row per picture, made pending when the
-- picture becomes ready (with MEDIA_ANALYSIS on); media/analysis/ runs the job. The row is
-- the job's queue as well (status, attempts, lease_until: FOR UPDATE SKIP LOCKED), like
-- media's own.
CREATE TABLE "media_analysis" (
    "media_id" UUID NOT NULL,
    -- pending, done, failed
    "status" VARCHAR(10) NOT NULL DEFAULT 'pending',
    "failure_reason" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lease_until" TIMESTAMPTZ(3),
    -- The lines read, one per line, as the model read them.
    "text" TEXT,
    -- What search matches: the text and the labels in parley_search_text's form (lower
    -- case, accents stripped), plus readings of OCR's digit-for-letter slips ("err0r" also
    -- as "error"); written by the job.
    "search_text" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "analysed_at" TIMESTAMPTZ(3),

    CONSTRAINT "media_analysis_pkey" PRIMARY KEY ("media_id")
);

ALTER TABLE "media_analysis" ADD CONSTRAINT "media_analysis_media_id_fkey" FOREIGN KEY ("media_id") REFERENCES "media"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The job's queue.
CREATE INDEX "media_analysis_pending_idx" ON "media_analysis"("created_at") WHERE "status" = 'pending';
-- Search: a piece of the text or a label (trigram index, as for messages and file names).
CREATE INDEX "media_analysis_search_text_trgm_idx" ON "media_analysis" USING GIN ("search_text" gin_trgm_ops);

-- The objects seen in a picture, each with the model's confidence (0–1), at or above
-- MEDIA_ANALYSIS_LABEL_MIN_SCORE.
CREATE TABLE "media_labels" (
    "media_id" UUID NOT NULL,
    "label" VARCHAR(40) NOT NULL,
    "score" REAL NOT NULL,

    CONSTRAINT "media_labels_pkey" PRIMARY KEY ("media_id", "label")
);

ALTER TABLE "media_labels" ADD CONSTRAINT "media_labels_media_id_fkey" FOREIGN KEY ("media_id") REFERENCES "media"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A gallery filtered by label.
CREATE INDEX "media_labels_label_idx" ON "media_labels"("label");

-- Privacy: what was read in a picture goes with the picture's message. A delete for
-- everyone (deleted_at) or an expiry or deleted chat (the foreign key sets message_id to
-- null) removes the text and the labels in the same transaction, before the sweep removes
-- the files: a trigger, so no code path can forget it.
CREATE FUNCTION "media_forget_analysis"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "media_analysis" WHERE "media_id" = NEW."id";
  DELETE FROM "media_labels" WHERE "media_id" = NEW."id";
  RETURN NULL;
END;
$$;

CREATE TRIGGER "media_deleted_forget_analysis" AFTER UPDATE OF "deleted_at", "message_id" ON "media"
  FOR EACH ROW
  WHEN ((NEW."deleted_at" IS NOT NULL AND OLD."deleted_at" IS NULL)
     OR (OLD."message_id" IS NOT NULL AND NEW."message_id" IS NULL))
  EXECUTE FUNCTION "media_forget_analysis"();
