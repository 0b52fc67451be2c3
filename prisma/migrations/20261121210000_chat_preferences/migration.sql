-- AlterTable
ALTER TABLE "chat_members" ADD COLUMN     "archived" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "muted_until" TIMESTAMPTZ(3),
ADD COLUMN     "notify" VARCHAR(10) NOT NULL DEFAULT 'all';
