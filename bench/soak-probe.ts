import { readFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';

/** Resident set size of a process in bytes (from /proc), 0 when it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Size of a SQLite file with its -wal, 0 for what does not exist. */
export function fileBytes(file: string): number {
  let n = 0;
  for (const f of [file, `${file}-wal`]) {
    try {
      n += statSync(f).size;
    } catch {
      /* not there (yet) */
    }
  }
  return n;
}

export interface DbShape {
  /** Bytes in pages that hold data (page_count − freelist) . */
  usedBytes: number;
  events: number;
  /** Bytes of the events table and its indexes (dbstat). */
  eventsBytes: number;
  eventsByKind: Record<string, { rows: number; payloadBytes: number }>;
  metricHistoryRows: number;
  metricHistoryBytes: number;
}

/** Reads a running controller's database read-only (WAL lets it, without blocking the writer). */
export function dbShape(file: string): DbShape {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    const sizes = db.prepare<[], { name: string; tbl: string | null; bytes: number }>("SELECT d.name AS name, m.tbl_name AS tbl, sum(d.pgsize) AS bytes FROM dbstat d LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY d.name").all();
    const bytesOf = (tbl: string) => sizes.filter((s) => s.tbl === tbl || s.name === tbl || s.name.startsWith(`sqlite_autoindex_${tbl}_`)).reduce((a, s) => a + s.bytes, 0);
    const byKind = db.prepare<[], { kind: string; rows: number; payload: number }>('SELECT kind, count(*) AS rows, sum(length(payload)) AS payload FROM events GROUP BY kind').all();
    return {
      usedBytes: (pages - free) * pageSize,
      events: byKind.reduce((a, k) => a + k.rows, 0),
      eventsBytes: bytesOf('events'),
      eventsByKind: Object.fromEntries(byKind.map((k) => [k.kind, { rows: k.rows, payloadBytes: k.payload }])),
      metricHistoryRows: (db.prepare('SELECT count(*) AS n FROM metric_history').get() as { n: number }).n,
      metricHistoryBytes: bytesOf('metric_history'),
    };
  } finally {
    db.close();
  }
}

export interface RowCost {
  /** Bytes per events row at scale (table + indexes, page slack included). */
  eventsPerRow: number;
  /** Of which not payload: ids, columns, index entries, slack. */
  eventsOverheadPerRow: number;
  /** Average stored payload by kind. */
  payloadByKind: Record<string, number>;
  historyPerRow: number;
  rows: number;
}

/**
 * Row sizes at scale: the soak's rows are copied into a scratch copy of the same database (same
 * schema: this tree's or the baseline's) as if `hosts` hosts had sent them, interleaved in time
 * like a real fleet, then measured with dbstat. A few hundred soak rows alone would be mostly
 * page overhead.
 */
export function rowCostAtScale(dbFile: string, scratch: string, hosts = 200): RowCost {
  const src = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    src.exec(`VACUUM INTO '${scratch.replace(/'/g, "''")}'`);
  } finally {
    src.close();
  }
  const db = new Database(scratch);
  try {
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TEMP TABLE src_events AS SELECT rowid AS rid, * FROM events; DELETE FROM events; CREATE TEMP TABLE src_hist AS SELECT * FROM metric_history; DELETE FROM metric_history;');
    const cols = (t: string) => db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${t}')`).all().map((c) => c.name);
    const ev = cols('events');
    // Host ids like "f123-1" (soak-1 of copy 123): short, as real host names are.
    const host = `'f' || h || substr(s.host_id, 5)`;
    const evSel = ev.map((c) => (c === 'id' ? `${host} || substr(s.id, length(s.host_id) + 1)` : c === 'host_id' ? host : `s.${c}`));
    const hist = cols('metric_history');
    const histSel = hist.map((c) => (c === 'host_id' ? host : `s.${c}`));
    db.transaction(() => {
      db.exec(`WITH RECURSIVE hs(h) AS (SELECT 0 UNION ALL SELECT h + 1 FROM hs WHERE h < ${hosts - 1})
        INSERT INTO events (${ev.join(', ')}) SELECT ${evSel.join(', ')} FROM src_events s, hs ORDER BY s.rid, h`);
      db.exec(`WITH RECURSIVE hs(h) AS (SELECT 0 UNION ALL SELECT h + 1 FROM hs WHERE h < ${hosts - 1})
        INSERT INTO metric_history (${hist.join(', ')}) SELECT ${histSel.join(', ')} FROM src_hist s, hs ORDER BY s.bucket_ms, h`);
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
    const sizes = db.prepare<[], { name: string; tbl: string | null; bytes: number }>('SELECT d.name AS name, m.tbl_name AS tbl, sum(d.pgsize) AS bytes FROM dbstat d LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY d.name').all();
    const bytesOf = (tbl: string) => sizes.filter((s) => s.tbl === tbl || s.name.startsWith(`sqlite_autoindex_${tbl}_`)).reduce((a, s) => a + s.bytes, 0);
    const byKind = db.prepare<[], { kind: string; rows: number; payload: number }>('SELECT kind, count(*) AS rows, sum(length(payload)) AS payload FROM events GROUP BY kind').all();
    const rows = byKind.reduce((a, k) => a + k.rows, 0);
    const payload = byKind.reduce((a, k) => a + k.payload, 0);
    const histRows = (db.prepare('SELECT count(*) AS n FROM metric_history').get() as { n: number }).n;
    return {
      eventsPerRow: bytesOf('events') / Math.max(1, rows),
      eventsOverheadPerRow: (bytesOf('events') - payload) / Math.max(1, rows),
      payloadByKind: Object.fromEntries(byKind.map((k) => [k.kind, k.payload / k.rows])),
      historyPerRow: bytesOf('metric_history') / Math.max(1, histRows),
      rows,
    };
  } finally {
    db.close();
  }
}
