import type Database from 'better-sqlite3';
import type { Heartbeat, Inventory } from '../../shared/gen/opsfleet/v1/events.js';

export type HostStatus = 'online' | 'offline';

export interface HostRow {
  id: string;
  hostname: string;
  status: HostStatus;
  status_since_ms: number;
  first_seen_ms: number;
  last_seen_ms: number;
  last_hb_ts_ms: number;
  tags: string;
  agent_version: string;
  rpc_endpoint: string;
  rpc_tls: number;
  instance_id: string;
  last_hb_seq: number;
  hb_interval_ms: number;
  inventory: string;
  /** Controller clock when the applied heartbeat arrived: what orders host updates. */
  last_hb_received_ms: number;
  /** Agent clock minus controller clock at the last heartbeat (ms); flagged beyond the bound. */
  clock_skew_ms: number;
  /** Flat host facts (JSON object, `{}` before the agent sent any), joined from host_facts. */
  facts?: string;
}

/** The API's view of a host (camelCase, ISO times). */
export interface HostView {
  id: string;
  hostname: string;
  status: HostStatus;
  statusSince: string;
  lastSeen: string;
  firstSeen: string;
  tags: Record<string, string>;
  agentVersion: string;
  rpcEndpoint: string;
  rpcTls: boolean;
  instanceId: string;
  lastHeartbeatSeq: number;
  heartbeatIntervalMs: number;
  os: string;
  distro: string;
  kernel: string;
  arch: string;
  cpuModel: string;
  cpuCores: number;
  memoryTotalBytes: number;
  ipAddresses: string[];
  bootId: string;
  uptimeS: number;
  /** Agent clock minus controller clock at the last heartbeat, in ms. */
  clockSkewMs: number;
  /** True when that skew exceeds the accepted bound (the host's timestamps are not trusted). */
  clockSkewFlagged: boolean;
  /** Identity state (controller/pki): `none` for a host that reports without having enrolled. Set by the API. */
  identity?: 'pending' | 'enrolled' | 'removed' | 'none';
  /** When its certificate expires (enrolled hosts). */
  certNotAfter?: string | null;
}

/** The columns the full view and the summary share. */
type HostHeadRow = Pick<HostRow, 'id' | 'hostname' | 'status' | 'status_since_ms' | 'last_seen_ms' | 'tags' | 'agent_version'>;

/** What the full view and the summary show alike, mapped once so the two cannot drift apart. */
function toHostHead(r: HostHeadRow): Pick<HostView, 'id' | 'hostname' | 'status' | 'statusSince' | 'lastSeen' | 'tags' | 'agentVersion'> {
  return {
    id: r.id,
    hostname: r.hostname,
    status: r.status,
    statusSince: new Date(r.status_since_ms).toISOString(),
    lastSeen: new Date(r.last_seen_ms).toISOString(),
    tags: JSON.parse(r.tags) as Record<string, string>,
    agentVersion: r.agent_version,
  };
}

export function toHostView(r: HostRow): HostView {
  const inv = JSON.parse(r.inventory) as Partial<Inventory>;
  return {
    ...toHostHead(r),
    firstSeen: new Date(r.first_seen_ms).toISOString(),
    rpcEndpoint: r.rpc_endpoint,
    rpcTls: r.rpc_tls === 1,
    instanceId: r.instance_id,
    lastHeartbeatSeq: r.last_hb_seq,
    heartbeatIntervalMs: r.hb_interval_ms,
    os: inv.os ?? '',
    distro: inv.distro ?? '',
    kernel: inv.kernel ?? '',
    arch: inv.arch ?? '',
    cpuModel: inv.cpuModel ?? '',
    cpuCores: inv.cpuCores ?? 0,
    memoryTotalBytes: inv.memoryTotalBytes ?? 0,
    ipAddresses: inv.ipAddresses ?? [],
    bootId: inv.bootId ?? '',
    uptimeS: inv.uptimeS ?? 0,
    clockSkewMs: r.clock_skew_ms,
    clockSkewFlagged: Math.abs(r.clock_skew_ms) > MAX_CLOCK_SKEW_MS,
  };
}

/** Agent clocks further than this from the controller's are flagged (the agent's times are shown but not trusted). */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/**
 * A heartbeat of the same instance with a lower seq than the applied one is normally a stale
 * one delivered late (batches retried out of order) and is ignored. But a seq is a claim too:
 * once the applied heartbeat is this old on the controller's clock, a lower seq wins, so a
 * forged huge seq cannot hold a host's record beyond this bound.
 */
export function staleAfterMs(hbIntervalMs: number): number {
  const interval = Math.min(Math.max(hbIntervalMs, 100), 60_000);
  return 3 * interval;
}

/** Where a host's agent answers gRPC, as its last applied heartbeat announced. */
export type HostEndpoint = Pick<HostRow, 'id' | 'rpc_endpoint' | 'rpc_tls'>;

/** What applyHeartbeat did, for the caller's logs and counters. */
export interface HeartbeatOutcome {
  status: 'new' | 'returned' | 'same';
  /** Whether the host's record (inventory, endpoint, instance) was replaced. */
  applied: boolean;
  /** Set when the same instance's seq stayed lower than the applied one past the stale bound (reset outbox or forgery). */
  seqRegression?: { lastSeq: number; seq: number };
  /** Set when the skew crossed the bound in either direction with this heartbeat. */
  skewChanged?: { skewMs: number; flagged: boolean };
}

/** One row of the hosts list's summary view: what `opsctl hosts` shows, without the inventory. */
export interface HostSummaryView {
  id: string;
  hostname: string;
  status: HostStatus;
  statusSince: string;
  lastSeen: string;
  tags: Record<string, string>;
  agentVersion: string;
  os: string;
  distro: string;
  ipAddresses: string[];
  identity?: 'pending' | 'enrolled' | 'removed' | 'none';
  certNotAfter?: string | null;
}

interface HostSummaryRow extends HostHeadRow {
  os: string | null;
  distro: string | null;
  ips: string | null;
}

export function toHostSummary(r: HostSummaryRow): HostSummaryView {
  return {
    ...toHostHead(r),
    os: r.os ?? '',
    distro: r.distro ?? '',
    ipAddresses: r.ips ? (JSON.parse(r.ips) as string[]) : [],
  };
}

/** A page of the hosts list: by id, after `after` (exclusive); all when `limit` is absent. */
export interface HostPageQuery {
  after?: string;
  limit?: number;
}

/** A row of HostsStore.listKeys: `[id, "status,status_since_ms,last_seen_ms,last_hb_received_ms,last_hb_seq,instance_id"]`. */
export type HostListKey = [string, string];

/** A host's liveness deadline; the index hosts_online_deadline (migrations.ts) has this exact expression. */
export const DEADLINE_SQL = 'last_seen_ms + (CASE WHEN hb_interval_ms > 0 THEN 3 * hb_interval_ms ELSE 30000 END)';

/** Host rows with their flat facts: what target expressions match. */
const WITH_FACTS = "h.*, coalesce(f.facts, '{}') AS facts FROM hosts h LEFT JOIN host_facts f ON f.host_id = h.id";

/** What a target expression sees of a host: its view plus its facts. */
export function toTargetHost(r: HostRow): HostView & { facts: Record<string, string | number | boolean> } {
  return { ...toHostView(r), facts: JSON.parse(r.facts ?? '{}') as Record<string, string | number | boolean> };
}

/** Hosts table access; every method runs inside the caller's transaction when there is one. */
export class HostsStore {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      get: db.prepare<[string], HostRow>(`SELECT ${WITH_FACTS} WHERE h.id = ?`),
      list: db.prepare<[], HostRow>(`SELECT ${WITH_FACTS} ORDER BY h.id`),
      online: db.prepare<[], HostRow>("SELECT * FROM hosts WHERE status = 'online'"),
      onlineEndpoints: db.prepare<[], HostEndpoint>("SELECT id, rpc_endpoint, rpc_tls FROM hosts WHERE status = 'online' AND rpc_endpoint != ''"),
      byStatus: db.prepare<[], { status: HostStatus; n: number }>('SELECT status, count(*) AS n FROM hosts GROUP BY status'),
      // Liveness candidates through the partial indexes of migration 15 (same expression, or SQLite scans).
      pastDeadline: db.prepare<[number], HostRow>(`SELECT * FROM hosts WHERE status = 'online' AND ${DEADLINE_SQL} < ?`),
      silentSince: db.prepare<[number], HostRow>("SELECT * FROM hosts WHERE status = 'online' AND last_seen_ms < ?"),
      // The API's pages: rows by id after a cursor (the primary key index), without the facts
      // join that only target expressions need. LIMIT -1 = all.
      page: db.prepare<[string, number], HostRow>('SELECT * FROM hosts WHERE id > ? ORDER BY id LIMIT ?'),
      // The inventory's few summary fields extracted by SQLite (C) rather than JSON.parse of ~1 KB per host in JS.
      summaryPage: db.prepare<[string, number], HostSummaryRow>(
        "SELECT id, hostname, status, status_since_ms, last_seen_ms, tags, agent_version, json_extract(inventory, '$.os') AS os, json_extract(inventory, '$.distro') AS distro, json_extract(inventory, '$.ipAddresses') AS ips FROM hosts WHERE id > ? ORDER BY id LIMIT ?",
      ),
      // What the hosts list's fragment cache checks every row by (controller/api/hosts-list.ts):
      // small columns only, joined by SQLite into one string, rows as arrays (half the cost of
      // seven JS values and an object per row).
      listKeys: db
        .prepare<[string, number], HostListKey>(
          "SELECT id, status || ',' || status_since_ms || ',' || last_seen_ms || ',' || last_hb_received_ms || ',' || last_hb_seq || ',' || instance_id FROM hosts WHERE id > ? ORDER BY id LIMIT ?",
        )
        .raw(),
      // Many rows by id in one statement (a JSON array of ids): 500 single-row reads cost ~3x more.
      rows: db.prepare<[string], HostRow>('SELECT h.* FROM json_each(?) j CROSS JOIN hosts h ON h.id = j.value'),
      insert: db.prepare(
        `INSERT INTO hosts (id, hostname, status, status_since_ms, first_seen_ms, last_seen_ms, last_hb_ts_ms, tags, agent_version, rpc_endpoint, rpc_tls, instance_id, last_hb_seq, hb_interval_ms, inventory, last_hb_received_ms, clock_skew_ms)
         VALUES (@id, @hostname, 'online', @now, @now, @now, @ts, @tags, @agent_version, @rpc_endpoint, @rpc_tls, @instance_id, @seq, @interval, @inventory, @now, @skew)`,
      ),
      updateInventory: db.prepare(
        `UPDATE hosts SET hostname = @hostname, last_hb_ts_ms = @ts, tags = @tags, agent_version = @agent_version, rpc_endpoint = @rpc_endpoint,
           rpc_tls = @rpc_tls, instance_id = @instance_id, last_hb_seq = @seq, hb_interval_ms = @interval, inventory = @inventory, last_seen_ms = max(last_seen_ms, @now),
           last_hb_received_ms = @now, clock_skew_ms = @skew
         WHERE id = @id`,
      ),
      touch: db.prepare('UPDATE hosts SET last_seen_ms = max(last_seen_ms, ?) WHERE id = ?'),
      setStatus: db.prepare('UPDATE hosts SET status = ?, status_since_ms = ? WHERE id = ?'),
    };
  }

  get(id: string): HostRow | undefined {
    return this.stmts.get.get(id);
  }

  list(): HostRow[] {
    return this.stmts.list.all();
  }

  /** Full rows by id after `after`, at most `limit` (all when absent); no facts. */
  page(q: HostPageQuery = {}): HostRow[] {
    return this.stmts.page.all(q.after ?? '', q.limit ?? -1);
  }

  /**
   * Each host's change key by id after `after`, at most `limit` (all when absent):
   * `[id, "status,status_since_ms,last_seen_ms,last_hb_received_ms,last_hb_seq,instance_id"]`.
   * Every write of a host's other columns (insert, an applied heartbeat) moves the last three
   * (see HEARTBEAT_KEY_INVARIANT), so a row whose three are unchanged has the same inventory,
   * tags, endpoint and skew as before.
   */
  listKeys(q: HostPageQuery = {}): HostListKey[] {
    return this.stmts.listKeys.all(q.after ?? '', q.limit ?? -1) as HostListKey[];
  }

  /** These hosts' rows without the facts join (what the API's host view needs), in no particular order; unknown ids are left out. */
  rows(ids: readonly string[]): HostRow[] {
    return ids.length === 0 ? [] : this.stmts.rows.all(JSON.stringify(ids));
  }

  /** Summary rows by id after `after`, at most `limit` (all when absent). */
  summaryPage(q: HostPageQuery = {}): HostSummaryView[] {
    return this.stmts.summaryPage.all(q.after ?? '', q.limit ?? -1).map(toHostSummary);
  }

  /**
   * Online hosts silent past their own threshold (3 x their heartbeat interval, 30 s when they
   * never told one) as of `readThroughMs`, or past `fixedMs` when set: what liveness checks,
   * read through an index instead of every online row.
   */
  offlineCandidates(readThroughMs: number, fixedMs?: number): HostRow[] {
    return fixedMs === undefined ? this.stmts.pastDeadline.all(readThroughMs) : this.stmts.silentSince.all(readThroughMs - fixedMs);
  }

  /** How many hosts are in each status (the /metrics gauge), without reading the rows into JS. */
  countByStatus(): Map<HostStatus, number> {
    return new Map(this.stmts.byStatus.all().map((r) => [r.status, r.n]));
  }

  listOnline(): HostRow[] {
    return this.stmts.online.all();
  }

  /** Online hosts that announce a gRPC endpoint, without the inventory (the channel warmer reads it every few minutes). */
  onlineEndpoints(): HostEndpoint[] {
    return this.stmts.onlineEndpoints.all();
  }

  /**
   * Applies a heartbeat. Everything in it is a claim (any NATS client can publish one), so the
   * order of updates comes from what the controller can trust: its own receive time, and the
   * agent's instance id and seq. A heartbeat from another instance than the applied one is
   * newer (it arrived later); within one instance a higher seq is newer, and a lower seq only
   * wins once the applied heartbeat is stale (`staleAfterMs`). The agent's ts_ms never orders
   * anything: its distance from our clock is recorded and flagged beyond MAX_CLOCK_SKEW_MS, so
   * a clock ten years ahead (or a forged one) shows up but cannot freeze the record.
   */
  // HEARTBEAT_KEY_INVARIANT: the insert and updateInventory statements are the only writers of
  // the columns other than status, status_since_ms and last_seen_ms, and each sets
  // (last_hb_received_ms, last_hb_seq, instance_id) to a triple the row never had: another
  // instance, a higher seq, or (a lower or equal seq wins only when stale) a later receive time.
  // The hosts list's cache (controller/api/hosts-list.ts) relies on it: keep it when adding a write.
  applyHeartbeat(hb: Heartbeat, ev: { tsMs: number; seq: number; instanceId: string; hostId: string }, nowMs: number): HeartbeatOutcome {
    const inv = hb.inventory;
    const skew = ev.tsMs - nowMs;
    const params = {
      id: ev.hostId,
      hostname: inv?.hostname ?? '',
      now: nowMs,
      ts: ev.tsMs,
      tags: JSON.stringify(inv?.tags ?? {}),
      agent_version: inv?.agentVersion ?? '',
      rpc_endpoint: inv?.rpcEndpoint ?? '',
      rpc_tls: inv?.rpcTls ? 1 : 0,
      instance_id: ev.instanceId,
      seq: ev.seq,
      interval: hb.intervalMs,
      inventory: JSON.stringify(inv ?? {}),
      skew,
    };
    const flagged = Math.abs(skew) > MAX_CLOCK_SKEW_MS;
    const row = this.get(ev.hostId);
    if (!row) {
      this.stmts.insert.run(params);
      return { status: 'new', applied: true, ...(flagged ? { skewChanged: { skewMs: skew, flagged } } : {}) };
    }
    const out: HeartbeatOutcome = { status: 'same', applied: false };
    const sameInstance = row.instance_id === ev.instanceId;
    const stale = nowMs - row.last_hb_received_ms > staleAfterMs(row.hb_interval_ms);
    // A lower seq arriving within a few intervals is a batch retried out of order (normal); one
    // that is still lower once the applied heartbeat went stale means the sequence restarted
    // (a lost outbox) or the applied one was forged: that is the regression worth a warning.
    if (sameInstance && ev.seq < row.last_hb_seq && stale) out.seqRegression = { lastSeq: row.last_hb_seq, seq: ev.seq };
    const newer = !sameInstance || ev.seq > row.last_hb_seq || stale;
    if (newer) {
      this.stmts.updateInventory.run(params);
      out.applied = true;
      const wasFlagged = Math.abs(row.clock_skew_ms) > MAX_CLOCK_SKEW_MS;
      if (wasFlagged !== flagged) out.skewChanged = { skewMs: skew, flagged };
    } else {
      this.stmts.touch.run(nowMs, ev.hostId);
    }
    if (row.status !== 'online') {
      this.stmts.setStatus.run('online', nowMs, ev.hostId);
      out.status = 'returned';
    }
    return out;
  }

  /** Any event proves the host alive. */
  touch(id: string, nowMs: number): void {
    this.stmts.touch.run(nowMs, id);
  }

  setStatus(id: string, status: HostStatus, nowMs: number): void {
    this.stmts.setStatus.run(status, nowMs, id);
  }
}
