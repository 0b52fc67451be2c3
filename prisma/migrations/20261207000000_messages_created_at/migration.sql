-- Messages by time, for search (issue 14): relevance ranks the newest matches, and sorting
-- by date shows the newest first, so the planner may walk this index from the newest
-- message and stop once it has enough, instead of reading every match of a common word.
CREATE INDEX "messages_created_at_idx" ON "messages"("created_at");
