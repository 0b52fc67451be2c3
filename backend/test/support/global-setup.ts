/**
 * With TEST_DB=postgres and no database URL, start one PostgreSQL container for the whole
 * run (testcontainers; needs a Docker engine) and hand its URL to the test files.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_DB !== 'postgres') return;
  if (process.env.TEST_DATABASE_URL || process.env.DATABASE_URL) return;
  const { getContainerRuntimeClient } = await import('testcontainers');
  const hasDocker = await getContainerRuntimeClient().then(
    () => true,
    () => false,
  );
  if (!hasDocker) {
    throw new Error(
      'TEST_DB=postgres needs a Docker engine for testcontainers, or set TEST_DATABASE_URL ' +
        '(for example postgresql://postgres@127.0.0.1:5432/postgres).',
    );
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:15-alpine').start();
  process.env.TEST_DATABASE_URL = container.getConnectionUri();
  (globalThis as Record<string, unknown>).__parleyPg = container;
}
