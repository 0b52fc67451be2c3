-- The transactional outbox: what a committed transaction must still publish. Written in
-- the transaction that makes the change, deleted once the events are in the recipients'
-- inboxes; rows that stay (a node died between commit and publish) are claimed and
-- published by the relay of any node.
CREATE TABLE "outbox" (
    "id" BIGSERIAL NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "chat_id" UUID,
    "user_ids" UUID[] DEFAULT ARRAY[]::UUID[],
    "message_ids" UUID[] DEFAULT ARRAY[]::UUID[],
    "payload" JSONB,
    "claimed_at" TIMESTAMPTZ(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "outbox_pkey" PRIMARY KEY ("id")
);
