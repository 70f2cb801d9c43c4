import type Database from 'better-sqlite3';
import type { StatePut } from '../events/sink.js';

// Rows are written in the same SQLite transaction as the events the state describes (see
// OutboxStore.appendMany), so "these events are queued" and "the source has read up to here"
// can never disagree after a crash.
export type { StatePut };

/**
 * The `component_state` table in outbox.db: (scope, key) → text. A scope is one component's
 * namespace (e.g. `logs/<source>`). Created on first use, so opening an outbox does not depend
 * on it.
 */
export class ComponentStateTable {
  private readonly stmts;

  constructor(db: Database.Database) {
    db.exec('CREATE TABLE IF NOT EXISTS component_state (scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (scope, key)) WITHOUT ROWID');
    this.stmts = {
      put: db.prepare('INSERT INTO component_state (scope, key, value) VALUES (?, ?, ?) ON CONFLICT(scope, key) DO UPDATE SET value = excluded.value'),
      del: db.prepare('DELETE FROM component_state WHERE scope = ? AND key = ?'),
      clear: db.prepare('DELETE FROM component_state WHERE scope = ?'),
      read: db.prepare<[string], { key: string; value: string }>('SELECT key, value FROM component_state WHERE scope = ? ORDER BY key'),
    };
  }

  /** Applies puts inside the caller's transaction; scopes in `replace` are emptied first. */
  apply(puts: readonly StatePut[], replace: readonly string[] = []): void {
    for (const s of replace) this.stmts.clear.run(s);
    for (const p of puts) {
      if (p.value === null) this.stmts.del.run(p.scope, p.key);
      else this.stmts.put.run(p.scope, p.key, p.value);
    }
  }

  read(scope: string): Array<{ key: string; value: string }> {
    return this.stmts.read.all(scope);
  }
}
