-- Media (issue 13): uploads, their processing state and variants. An upload belongs to its
-- uploader until a message takes it (message_id, chat_id); from then on the chat's members
-- may see it. The bytes live in the object store under keys the server makes
-- (media/<id>/<variant>); `variants` maps each variant to its key, type, size and size in
-- pixels.
CREATE TABLE "media" (
    "id" UUID NOT NULL,
    "owner_id" UUID NOT NULL,
    "chat_id" UUID,
    "message_id" UUID,
    "position" SMALLINT NOT NULL DEFAULT 0,
    "kind" VARCHAR(10) NOT NULL,
    -- uploading (direct upload not completed), pending, ready, failed
    "status" VARCHAR(10) NOT NULL,
    "failure_reason" TEXT,
    "name" TEXT NOT NULL,
    "mime" VARCHAR(127) NOT NULL,
    "size" BIGINT NOT NULL,
    "width" INTEGER,
    "height" INTEGER,
    "duration_ms" INTEGER,
    "placeholder" TEXT,
    "waveform" JSONB,
    "animated" BOOLEAN NOT NULL DEFAULT false,
    "keep_original" BOOLEAN NOT NULL DEFAULT false,
    "variants" JSONB NOT NULL DEFAULT '{}',
    "source_key" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lease_until" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "attached_at" TIMESTAMPTZ(3),
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "media_pkey" PRIMARY KEY ("id")
);

-- A message's attachments, in order.
CREATE INDEX "media_message_id_position_idx" ON "media"("message_id", "position");
-- A chat's gallery, newest first.
CREATE INDEX "media_chat_id_attached_at_idx" ON "media"("chat_id", "attached_at");
-- Quota: what a user keeps stored.
CREATE INDEX "media_owner_id_idx" ON "media"("owner_id");
-- The worker's queue.
CREATE INDEX "media_pending_idx" ON "media"("created_at") WHERE "status" = 'pending';
-- The sweep: never attached, detached (message expired or chat deleted), or deleted.
CREATE INDEX "media_unattached_idx" ON "media"("created_at") WHERE "message_id" IS NULL;
CREATE INDEX "media_deleted_idx" ON "media"("deleted_at") WHERE "deleted_at" IS NOT NULL;

ALTER TABLE "media" ADD CONSTRAINT "media_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
-- A deleted chat or an expired message leaves its uploads detached: the sweep deletes them.
ALTER TABLE "media" ADD CONSTRAINT "media_chat_id_fkey" FOREIGN KEY ("chat_id") REFERENCES "chats"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "media" ADD CONSTRAINT "media_message_id_fkey" FOREIGN KEY ("message_id") REFERENCES "messages"("id") ON DELETE SET NULL ON UPDATE CASCADE;
