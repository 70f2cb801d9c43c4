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
}

export function toHostView(r: HostRow): HostView {
  const inv = JSON.parse(r.inventory) as Partial<Inventory>;
  return {
    id: r.id,
    hostname: r.hostname,
    status: r.status,
    statusSince: new Date(r.status_since_ms).toISOString(),
    lastSeen: new Date(r.last_seen_ms).toISOString(),
    firstSeen: new Date(r.first_seen_ms).toISOString(),
    tags: JSON.parse(r.tags) as Record<string, string>,
    agentVersion: r.agent_version,
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
  };
}

/** Hosts table access; every method runs inside the caller's transaction when there is one. */
export class HostsStore {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      get: db.prepare<[string], HostRow>('SELECT * FROM hosts WHERE id = ?'),
      list: db.prepare<[], HostRow>('SELECT * FROM hosts ORDER BY id'),
      online: db.prepare<[], HostRow>("SELECT * FROM hosts WHERE status = 'online'"),
      insert: db.prepare(
        `INSERT INTO hosts (id, hostname, status, status_since_ms, first_seen_ms, last_seen_ms, last_hb_ts_ms, tags, agent_version, rpc_endpoint, rpc_tls, instance_id, last_hb_seq, hb_interval_ms, inventory)
         VALUES (@id, @hostname, 'online', @now, @now, @now, @ts, @tags, @agent_version, @rpc_endpoint, @rpc_tls, @instance_id, @seq, @interval, @inventory)`,
      ),
      updateInventory: db.prepare(
        `UPDATE hosts SET hostname = @hostname, last_hb_ts_ms = @ts, tags = @tags, agent_version = @agent_version, rpc_endpoint = @rpc_endpoint,
           rpc_tls = @rpc_tls, instance_id = @instance_id, last_hb_seq = @seq, hb_interval_ms = @interval, inventory = @inventory, last_seen_ms = max(last_seen_ms, @now)
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

  listOnline(): HostRow[] {
    return this.stmts.online.all();
  }

  /**
   * Applies a heartbeat. Inventory is replaced only by a heartbeat newer (agent clock) than the
   * last applied one, so a backlog drained out of order never rolls a host back.
   * Returns the previous status when the host came back (offline → online), or 'new'.
   */
  applyHeartbeat(hb: Heartbeat, ev: { tsMs: number; seq: number; instanceId: string; hostId: string }, nowMs: number): 'new' | 'returned' | 'same' {
    const inv = hb.inventory;
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
    };
    const row = this.get(ev.hostId);
    if (!row) {
      this.stmts.insert.run(params);
      return 'new';
    }
    if (ev.tsMs >= row.last_hb_ts_ms) this.stmts.updateInventory.run(params);
    else this.stmts.touch.run(nowMs, ev.hostId);
    if (row.status !== 'online') {
      this.stmts.setStatus.run('online', nowMs, ev.hostId);
      return 'returned';
    }
    return 'same';
  }

  /** Any event proves the host alive. */
  touch(id: string, nowMs: number): void {
    this.stmts.touch.run(nowMs, id);
  }

  setStatus(id: string, status: HostStatus, nowMs: number): void {
    this.stmts.setStatus.run(status, nowMs, id);
  }
}
