import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { EVENT_KINDS } from '../../shared/nats/subjects.js';
import { startAgent, startController, type AgentProc, type ControllerProc } from './daemons.js';
import { NatsCluster, type ClusterNode } from './nats-cluster.js';
import type { Child } from './process.js';
import { freePort } from './ports.js';
import { tempDir } from './tmp.js';
import { waitFor } from './wait.js';

/** Per agent: stored rows, distinct (instance, seq) pairs, lowest and highest seq. */
export interface StoredSeqs {
  host: string;
  n: number;
  distinctSeqs: number;
  lo: number;
  hi: number;
}

/** Exactly once: seq 1..max, no gap (rows = max), no second row of a seq. One agent instance each. */
export const exactlyOnce = (r: StoredSeqs): boolean => r.lo === 1 && r.n === r.hi && r.distinctSeqs === r.n;

// Three nats-servers, two controllers under tsx and agents share two loaded cores in CI:
// start-up waits are generous (they bound a hang, they do not measure speed).
const START_TIMEOUT_MS = 120_000;

/**
 * The fleet the cluster tests run (test/cluster/): a three-node operator-mode NATS cluster, real
 * controllers with the event stream at three replicas, and enrolled agents (per-host NATS
 * creds from the controller) listing all three nodes. Everything it starts it stops by PID.
 */
export class ClusterFleet {
  readonly dir = tempDir('opsfleet-cluster-');
  readonly agents: AgentProc[] = [];
  readonly controllers: ControllerProc[] = [];
  private readonly dbs = new Map<string, Database.Database>();

  private constructor(readonly cluster: NatsCluster) {}

  static async start(): Promise<ClusterFleet> {
    return new ClusterFleet(await NatsCluster.start({ size: 3 }));
  }

  /**
   * A controller on every node (stream R3), waited for until it ingests. `dataDir` is
   * `<dir>/<name>-data`; `extraYaml` adds keys (ha, alerting, tasks; not `stream`) and is given
   * the HTTP port, chosen before the start because `ha.advertise_url` names it.
   */
  async controller(name: string, o: { extraYaml?: (port: number) => string; streamExtra?: string } = {}): Promise<ControllerProc & { dataDir: string; port: number }> {
    const dataDir = this.dataDir(name);
    // A free port can be taken by another process before the controller binds it (tests of
    // other areas run beside these): a bind failure is retried on another port.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        const ctl = await startController({
          natsUrl: this.cluster.url,
          dir: this.dir.path,
          configName: `${name}.yaml`,
          dataDir,
          startTimeoutMs: START_TIMEOUT_MS,
          listen: `127.0.0.1:${port}`,
          extraYaml: [`stream: { replicas: 3, duplicate_window: 2m${o.streamExtra ? `, ${o.streamExtra}` : ''} }`, o.extraYaml?.(port) ?? ''].join('\n'),
        });
        this.controllers.push(ctl);
        await ctl.child.waitForLog((l) => l.msg === 'ingest running', 60_000, `controller ${name} ingest on the cluster`);
        return { ...ctl, dataDir, port };
      } catch (err) {
        if (attempt >= 3 || !/OPS_ERR_HTTP_BIND/.test((err as Error).message)) throw err;
      }
    }
  }

  dataDir(name: string): string {
    return join(this.dir.path, `${name}-data`);
  }

  /** An agent listing every node, enrolled with `enroll` (its NATS creds come from that controller). */
  async agent(id: string, enroll: ControllerProc, extraYaml?: string): Promise<AgentProc> {
    const dir = join(this.dir.path, `agent-${id}`);
    mkdirSync(dir, { recursive: true });
    const a = await startAgent({ natsUrl: this.cluster.url, dir, id, enroll, heartbeat: '250ms', startTimeoutMs: START_TIMEOUT_MS, ...(extraYaml ? { extraYaml } : {}) });
    this.agents.push(a);
    return a;
  }

  /** The per-host .creds an agent of this fleet got at enrollment. */
  credsOf(id: string): string {
    return join(this.dir.path, `agent-${id}`, `agent-${id}`, 'identity', 'nats.creds');
  }

  /** The node a daemon's main NATS connection is on now. */
  nodeOf(child: Child): ClusterNode | undefined {
    return this.cluster.nodeOf(child);
  }

  /** The event stream's replica count and its placement (leader + followers) as the cluster reports them. */
  async eventStreamReplicas(): Promise<{ configured: number; placed: number }> {
    const nc = await connect(this.cluster.connectOptions());
    try {
      const si = await (await jetstreamManager(nc)).streams.info('OPSFLEET_EVENTS');
      return { configured: si.config.num_replicas, placed: (si.cluster?.replicas?.length ?? 0) + (si.cluster?.leader ? 1 : 0) };
    } finally {
      await nc.close();
    }
  }

  /** Per agent of this fleet: what a controller's SQLite holds of its events (every kind takes a seq). */
  stored(dataDir: string): StoredSeqs[] {
    let db = this.dbs.get(dataDir);
    if (!db) {
      db = new Database(join(dataDir, 'controller.db'), { readonly: true });
      this.dbs.set(dataDir, db);
    }
    const hosts = this.agents.map((a) => `'${a.id}'`).join(',');
    return db
      .prepare(`SELECT host_id AS host, count(*) AS n, count(DISTINCT instance_id || ':' || seq) AS distinctSeqs, min(seq) AS lo, max(seq) AS hi FROM events WHERE host_id IN (${hosts}) AND kind IN (${EVENT_KINDS.map((k) => `'${k}'`).join(',')}) GROUP BY host_id ORDER BY host_id`)
      .all() as StoredSeqs[];
  }

  /** Highest stored seq per agent. */
  highest(dataDir: string): Map<string, number> {
    return new Map(this.stored(dataDir).map((r) => [r.host, r.hi]));
  }

  /** Waits until every agent has `more` events past `since` stored on the controller of `dataDir`. */
  async ingestedPast(dataDir: string, since: Map<string, number>, more: number, what: string): Promise<void> {
    await waitFor(() => {
      const rows = this.stored(dataDir);
      return rows.length === this.agents.length && rows.every((r) => r.hi >= (since.get(r.host) ?? 0) + more);
    }, { timeout: 90_000, what: `${what}: ${JSON.stringify(this.stored(dataDir))}` });
  }

  /** Stops every agent (their outboxes publish what they hold first), then waits for exactly-once on `dataDir`. */
  async stopAgentsAndCheckExactlyOnce(dataDir: string): Promise<StoredSeqs[]> {
    await Promise.all(this.agents.map((a) => a.child.stop(15_000)));
    return waitFor(
      () => {
        const rows = this.stored(dataDir);
        return rows.length === this.agents.length && rows.every(exactlyOnce) ? rows : undefined;
      },
      { timeout: 60_000, what: `every agent's events stored exactly once: ${JSON.stringify(this.stored(dataDir))}` },
    );
  }

  async dispose(): Promise<void> {
    for (const db of this.dbs.values()) db.close();
    await Promise.all(this.agents.map((a) => a.child.stop()));
    await Promise.all(this.controllers.map((c) => c.child.stop()));
    await this.cluster.dispose();
    this.dir.cleanup();
  }
}
