// `npm run migrate`: applies pending migrations to DATABASE_URL, or to the embedded PGlite
// database under DATA_DIR when DATABASE_URL is unset.
import { ConfigError, loadConfig } from '../config.js';
import { openDatabase } from './client.js';
import { migrate } from './migrate.js';

try {
  const config = loadConfig();
  const db = await openDatabase(config.database);
  try {
    const where = config.database.kind === 'postgres' ? 'PostgreSQL' : config.database.dir;
    const result = await migrate(db);
    console.log(
      result.applied.length
        ? `Applied ${result.applied.length} migration(s) to ${where}: ${result.applied.join(', ')}`
        : `Database ${where} is up to date (${result.alreadyApplied} migration(s) applied).`,
    );
    if (result.unknown.length) {
      console.warn(`The database has migrations this checkout lacks: ${result.unknown.join(', ')}`);
    }
  } finally {
    await db.close();
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `Migration failed: ${(err as Error).message}`);
  process.exitCode = 1;
}
