-- Administrators deactivate accounts (npm run admin -- users deactivate): a deactivated
-- user cannot sign in, and their sessions are revoked when it happens. NULL = active.
ALTER TABLE "users" ADD COLUMN "deactivated_at" TIMESTAMPTZ(3);
