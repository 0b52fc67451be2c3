-- Deleting a message row (the expiry sweep, a deleted chat) sets the replies to it to null
-- (the foreign key's ON DELETE SET NULL), and PostgreSQL finds those replies by
-- reply_to_id: without an index, each deleted message read the whole table (a DELETE of
-- 9,000 messages of a million was still running after three minutes; specs/benchmarks.md,
-- "Seen on the way"). Only replies are indexed, so a send that replies to nothing pays
-- nothing; the foreign key's lookup (reply_to_id = $1) implies IS NOT NULL, so it uses it.
CREATE INDEX "messages_reply_to_id_idx" ON "messages"("reply_to_id") WHERE "reply_to_id" IS NOT NULL;
