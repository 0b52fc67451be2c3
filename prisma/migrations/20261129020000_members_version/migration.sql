-- A chat's membership version: bumped in the same transaction as every change to who is in
-- the chat or their role, whatever code path makes it (the triggers below). Nodes cache
-- memberships; a send or an event carries the version it committed under, and a node whose
-- cache is older than that reloads before it fans out, so a member added or removed on
-- another node a moment ago is never missed or wrongly told.
ALTER TABLE "chats" ADD COLUMN "members_version" INTEGER NOT NULL DEFAULT 0;

CREATE FUNCTION "chats_bump_members_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE "chats" SET "members_version" = "members_version" + 1
    WHERE "id" IN (SELECT DISTINCT "chat_id" FROM "changed_members");
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE "chats" SET "members_version" = "members_version" + 1
    WHERE "id" IN (SELECT DISTINCT "chat_id" FROM "changed_members");
  ELSE
    UPDATE "chats" SET "members_version" = "members_version" + 1 WHERE "id" = NEW."chat_id";
  END IF;
  RETURN NULL;
END
$$;

-- Once per statement for inserts and deletes (a group of 300 created in one statement is
-- one bump), once per row for a role that changed (read positions, hides and the like,
-- written all the time, fire nothing).
CREATE TRIGGER "chat_members_inserted" AFTER INSERT ON "chat_members"
  REFERENCING NEW TABLE AS "changed_members"
  FOR EACH STATEMENT EXECUTE FUNCTION "chats_bump_members_version"();
CREATE TRIGGER "chat_members_deleted" AFTER DELETE ON "chat_members"
  REFERENCING OLD TABLE AS "changed_members"
  FOR EACH STATEMENT EXECUTE FUNCTION "chats_bump_members_version"();
CREATE TRIGGER "chat_members_role_changed" AFTER UPDATE OF "role" ON "chat_members"
  FOR EACH ROW WHEN (OLD."role" IS DISTINCT FROM NEW."role")
  EXECUTE FUNCTION "chats_bump_members_version"();
