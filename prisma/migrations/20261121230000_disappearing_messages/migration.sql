-- AlterTable
ALTER TABLE "chats" ADD COLUMN     "message_ttl_seconds" INTEGER;

-- AlterTable
ALTER TABLE "messages" ADD COLUMN     "expires_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "messages_expires_at_idx" ON "messages"("expires_at");
