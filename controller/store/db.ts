import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { OpsError } from '../../shared/errors.js';
import { MIGRATIONS } from './migrations.js';

/** Opens the controller database (WAL) in data_dir and applies pending migrations. */
export function openDatabase(dataDir: string, file = 'controller.db'): Database.Database {
  let db: Database.Database;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o750 });
    db = new Database(join(dataDir, file));
  } catch (err) {
    throw new OpsError('OPS_ERR_STORE_OPEN', `cannot open database in data_dir ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL: a committed transaction survives a killed process; a power loss can take
  // the last ones. Those messages were already acked, so the durable consumer will not
  // redeliver them: recovering them means replaying the stream (it keeps max_age of events).
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new OpsError('OPS_ERR_STORE_VERSION', `database schema version ${version} is newer than this controller knows (${MIGRATIONS.length}); upgrade the controller`);
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}
