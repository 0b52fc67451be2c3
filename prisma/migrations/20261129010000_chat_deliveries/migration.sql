-- Delivery positions get a table of their own. Receipts are written by a different
-- path (coalesced, many rows at a time) than read positions and sends, which write
-- chat_members: apart, the two never wait on each other's row locks. A member's
-- delivered position is the greater of this row (if any) and their read position.
CREATE TABLE "chat_deliveries" (
    "chat_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "last_delivered_seq" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "chat_deliveries_pkey" PRIMARY KEY ("chat_id","user_id")
);

ALTER TABLE "chat_deliveries" ADD CONSTRAINT "chat_deliveries_chat_id_user_id_fkey" FOREIGN KEY ("chat_id", "user_id") REFERENCES "chat_members"("chat_id", "user_id") ON DELETE CASCADE ON UPDATE CASCADE;

INSERT INTO "chat_deliveries" ("chat_id", "user_id", "last_delivered_seq")
SELECT "chat_id", "user_id", "last_delivered_seq" FROM "chat_members" WHERE "last_delivered_seq" > "last_read_seq";

ALTER TABLE "chat_members" DROP COLUMN "last_delivered_seq";
