export default async function globalTeardown(): Promise<void> {
  const container = (globalThis as Record<string, unknown>).__parleyPg as
    { stop(): Promise<unknown> } | undefined;
  await container?.stop();
}
