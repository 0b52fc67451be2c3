-- Search is indexed off the send path (search/search-index.ts). The two GIN indexes and the
-- search columns of each message were computed and written in every send's commit: on
-- PostgreSQL that doubled the WAL and the commit time of a send, and held-rate delivery
-- missed its goals (specs/benchmarks.md, "Regression, found 2026-11-30").
--
-- Now a send adds only its id to message_search_queue (one small row, in the send's own
-- statement). A background job moves queued messages in batches into message_search: the
-- same search_text and search_vector as before (see the search migration), with the GIN
-- indexes. Search reads message_search and, for what is still queued, computes the same
-- values from the message's text, so a message is found as soon as its send is
-- acknowledged. An edit or a delete for everyone writes its message's row itself, in its
-- own transaction (a delete writes it empty), and takes it off the queue; the job never
-- overwrites a row (ON CONFLICT DO NOTHING), so it cannot put back an older text.

CREATE TABLE "message_search" (
    "message_id" UUID NOT NULL,
    "chat_id" UUID NOT NULL,
    -- The message's, copied (neither ever changes): from: and the chat scope narrow the
    -- text index's matches without reading the messages.
    "sender_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "search_text" TEXT NOT NULL,
    "search_vector" TSVECTOR NOT NULL,

    CONSTRAINT "message_search_pkey" PRIMARY KEY ("message_id")
);

-- No foreign key: a message erased while queued leaves its id behind, and the job drops it.
CREATE TABLE "message_search_queue" (
    "message_id" UUID NOT NULL,

    CONSTRAINT "message_search_queue_pkey" PRIMARY KEY ("message_id")
);

INSERT INTO "message_search" ("message_id", "chat_id", "sender_id", "created_at", "search_text", "search_vector")
SELECT "id", "chat_id", "sender_id", "created_at", "search_text", "search_vector" FROM "messages" WHERE "kind" = 'text';

ALTER TABLE "message_search" ADD CONSTRAINT "message_search_message_id_fkey" FOREIGN KEY ("message_id") REFERENCES "messages"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Their GIN indexes go with them.
ALTER TABLE "messages" DROP COLUMN "search_text", DROP COLUMN "search_vector";

CREATE INDEX "message_search_search_vector_idx" ON "message_search" USING GIN ("search_vector");
CREATE INDEX "message_search_search_text_trgm_idx" ON "message_search" USING GIN ("search_text" gin_trgm_ops);
-- Relevance ranks the newest matches and sort=date lists them newest first: the planner
-- may walk this index and stop (as it did messages_created_at_idx).
CREATE INDEX "message_search_created_at_idx" ON "message_search"("created_at");
-- A caller in few chats: the chat index narrows the text index's matches.
CREATE INDEX "message_search_chat_id_created_at_idx" ON "message_search"("chat_id", "created_at");
-- from:@someone: the sender's messages narrow the text index's matches (a bitmap AND)
-- instead of reading every row that has the word.
CREATE INDEX "message_search_sender_id_idx" ON "message_search"("sender_id");
-- See the search_statistics migration.
ALTER TABLE "message_search" ALTER COLUMN "search_text" SET STATISTICS 1000;
