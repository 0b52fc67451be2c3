-- AlterTable
ALTER TABLE "chats" ADD COLUMN     "rejected_at" TIMESTAMPTZ(3),
ADD COLUMN     "request_state" VARCHAR(10),
ADD COLUMN     "requested_by" UUID;
