import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { compileTarget, type TargetHost } from '../dispatch/target.js';

/** Columns of a fleet row, in order: rows are arrays so 5,000 hosts do not repeat 5,000 sets of keys. */
export const FLEET_COLUMNS = ['id', 'hostname', 'status', 'statusSince', 'lastSeen', 'agentVersion', 'tags', 'os', 'distro', 'virtual', 'cpuCores', 'memoryTotalBytes'] as const;

export type FleetRow = [string, string, string, number, number, string, Record<string, string>, string, string, string, number, number];

export interface FleetPage {
  total: number;
  matched: number;
  counts: Record<string, number>;
  columns: typeof FLEET_COLUMNS;
  rows: FleetRow[];
  offset: number;
  limit: number;
}

export interface FleetQuery {
  target?: string | undefined;
  status?: string | undefined;
  /** Substring of id or hostname, case-insensitive. */
  q?: string | undefined;
  /** The caller's token scope (a target expression), when it has one. */
  scope?: string | undefined;
  offset: number;
  limit: number;
}

interface Raw {
  id: string;
  hostname: string;
  status: string;
  status_since_ms: number;
  last_seen_ms: number;
  agent_version: string;
  tags: string;
  os: string | null;
  distro: string | null;
  arch: string | null;
  cpu_cores: number | null;
  mem: number | null;
  facts: string | null;
  facts_ms: number | null;
  virtual: string | null;
}

type Facts = Record<string, string | number | boolean>;

/**
 * The dashboard's fleet list. What makes it fast with thousands of hosts: SQLite extracts the
 * few inventory fields (no JSON.parse of whole inventories in JS), facts are parsed only for
 * hosts a target actually asks a fact of, rows are compact arrays, and a version of the host
 * tables (cheap sums over the columns every update moves) answers `If-None-Match` without
 * building the list at all.
 */
export class FleetView {
  private readonly stmts;
  /** Parsed facts by host, valid while the stored row's receive time is the same (facts change rarely). */
  private readonly factsCache = new Map<string, { ms: number; facts: Facts }>();
  /** Parsed tags by their JSON text: most hosts of a fleet share a few tag sets. */
  private tagsCache = new Map<string, Record<string, string>>();

  constructor(db: Database.Database) {
    this.stmts = {
      rows: db.prepare<[], Raw>(
        `SELECT h.id, h.hostname, h.status, h.status_since_ms, h.last_seen_ms, h.agent_version, h.tags,
           json_extract(h.inventory, '$.os') AS os, json_extract(h.inventory, '$.distro') AS distro, json_extract(h.inventory, '$.arch') AS arch,
           json_extract(h.inventory, '$.cpuCores') AS cpu_cores, json_extract(h.inventory, '$.memoryTotalBytes') AS mem,
           f.facts AS facts, f.received_ms AS facts_ms, json_extract(f.facts, '$.virtual') AS virtual
         FROM hosts h LEFT JOIN host_facts f ON f.host_id = h.id ORDER BY h.id`,
      ),
      version: db.prepare<[], { n: number; a: number; b: number; c: number; fn: number; fg: number }>(
        `SELECT (SELECT count(*) FROM hosts) AS n, (SELECT total(last_seen_ms) FROM hosts) AS a, (SELECT total(status_since_ms) FROM hosts) AS b,
           (SELECT total(last_hb_received_ms) FROM hosts) AS c, (SELECT count(*) FROM host_facts) AS fn, (SELECT total(received_ms) FROM host_facts) AS fg`,
      ),
    };
  }

  /**
   * An entity tag for the answer to `q`: changes whenever any host row or facts row changes
   * (every update moves one of the summed columns forward) or the query differs.
   */
  etag(q: FleetQuery): string {
    const v = this.stmts.version.get()!;
    const h = createHash('sha256').update(JSON.stringify([v, q.target ?? '', q.status ?? '', q.q ?? '', q.scope ?? '', q.offset, q.limit])).digest('base64url').slice(0, 22);
    return `"${h}"`;
  }

  /** Throws TargetSyntaxError (OPS_ERR_TARGET_SYNTAX) for a bad target. */
  list(q: FleetQuery): FleetPage {
    const match = q.target ? compileTarget(q.target) : undefined;
    const scope = q.scope ? compileTarget(q.scope) : undefined;
    const needle = q.q?.toLowerCase();
    const counts: Record<string, number> = {};
    const rows: FleetRow[] = [];
    let total = 0;
    let matched = 0;
    for (const r of this.stmts.rows.all()) {
      const th = this.targetHostOf(r);
      if (scope && !scope(th)) continue;
      total++;
      if (q.status && r.status !== q.status) continue;
      if (needle && !r.id.toLowerCase().includes(needle) && !r.hostname.toLowerCase().includes(needle)) continue;
      if (match && !match(th)) continue;
      matched++;
      counts[r.status] = (counts[r.status] ?? 0) + 1;
      if (matched > q.offset && rows.length < q.limit) {
        rows.push([r.id, r.hostname, r.status, r.status_since_ms, r.last_seen_ms, r.agent_version, th.tags, r.os ?? '', r.distro ?? '', r.virtual ?? '', r.cpu_cores ?? 0, r.mem ?? 0]);
      }
    }
    return { total, matched, counts, columns: FLEET_COLUMNS, rows, offset: q.offset, limit: q.limit };
  }

  /** A target host whose facts are parsed only when the expression asks for one, and then cached. */
  private targetHostOf(r: Raw): TargetHost {
    let tags = this.tagsCache.get(r.tags);
    if (!tags) {
      if (this.tagsCache.size > 50_000) this.tagsCache = new Map();
      tags = JSON.parse(r.tags) as Record<string, string>;
      this.tagsCache.set(r.tags, tags);
    }
    const cache = this.factsCache;
    return {
      id: r.id,
      hostname: r.hostname,
      status: r.status,
      tags,
      os: r.os ?? '',
      arch: r.arch ?? '',
      get facts(): Facts {
        if (!r.facts) return {};
        const hit = cache.get(r.id);
        if (hit && hit.ms === r.facts_ms) return hit.facts;
        const facts = JSON.parse(r.facts) as Facts;
        if (cache.size > 100_000) cache.clear();
        cache.set(r.id, { ms: r.facts_ms ?? 0, facts });
        return facts;
      },
    };
  }
}
