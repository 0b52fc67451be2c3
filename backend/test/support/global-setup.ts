/**
 * Which PostgreSQL the backend tests use, decided once for the run:
 * - TEST_DATABASE_URL or DATABASE_URL set: that server (test files create their own databases);
 * - TEST_DB=pglite: none, the embedded PGlite only;
 * - otherwise, when a Docker engine is reachable: one throwaway PostgreSQL container
 *   (testcontainers), whose URL is handed to the test files as TEST_DATABASE_URL;
 * - otherwise PGlite (TEST_DB=postgres makes a missing Docker engine an error instead).
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_DATABASE_URL || process.env.DATABASE_URL) return;
  if (process.env.TEST_DB === 'pglite') return;
  const { getContainerRuntimeClient } = await import('testcontainers');
  const hasDocker = await getContainerRuntimeClient().then(
    () => true,
    () => false,
  );
  if (!hasDocker) {
    if (process.env.TEST_DB === 'postgres') {
      throw new Error(
        'TEST_DB=postgres needs a Docker engine for testcontainers, or set TEST_DATABASE_URL ' +
          '(for example postgresql://postgres@127.0.0.1:5432/postgres).',
      );
    }
    return;
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:15-alpine').start();
  process.env.TEST_DATABASE_URL = container.getConnectionUri();
  console.log(`Backend tests use a PostgreSQL container (testcontainers): ${process.env.TEST_DATABASE_URL}`);
  (globalThis as Record<string, unknown>).__parleyPg = container;
}
