import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { credsAuthenticator } from '@nats-io/transport-node';
import { NatsAuthority } from '../../controller/natsauth/authority.js';
import { natsServerBinary, registerOperatorNats, writeAgentCreds, type OperatorNats } from './nats-server.js';
import { freePort } from './ports.js';
import { Child } from './process.js';
import { tempDir } from './tmp.js';
import { waitFor } from './wait.js';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface ClusterNode {
  name: string;
  port: number;
  clusterPort: number;
  config: string;
  child?: Child;
}

/**
 * Three nats-server children routed into one JetStream cluster, in operator mode as production
 * runs it (docs/scaling.md, "NATS cluster"): every node's config is rendered from the same NATS
 * authority (`opsfleet-controller nats-config --cluster-*`), so all three trust the same operator,
 * preload the same account JWTs into their `full` resolvers, and routes need the cluster
 * credentials. Controllers started on `url` share the authority; agents enroll for per-host creds.
 * Each node is stoppable by PID.
 */
export class NatsCluster implements OperatorNats {
  readonly dir = tempDir('opsfleet-nats-cluster-');
  readonly nodes: ClusterNode[] = [];
  authority: NatsAuthority | undefined;

  /**
   * `authorityDir`: a controller's `<data_dir>/nats-auth` when the test shares it (default: this
   * cluster's temp dir). Every node gets the authority's config, with the route credentials made here.
   */
  static async start(opts: { size?: number; authorityDir?: string } = {}): Promise<NatsCluster> {
    const size = opts.size ?? 3;
    const c = new NatsCluster();
    c.authority = await NatsAuthority.loadOrCreate(opts.authorityDir ?? join(c.dir.path, 'nats-auth'));
    const routeAuth = { user: 'route', password: randomBytes(12).toString('hex') };
    const ports = await Promise.all(Array.from({ length: size * 2 }, () => freePort()));
    const clusterPorts = ports.slice(size);
    for (let i = 0; i < size; i++) {
      const name = `n${i + 1}`;
      const config = join(c.dir.path, `${name}.conf`);
      const text = c.authority.serverConfig({
        port: ports[i]!,
        storeDir: join(c.dir.path, name),
        maxFileStore: '1GB',
        maxMemoryStore: '64MB',
        cluster: { serverName: name, port: clusterPorts[i]!, routes: clusterPorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`), authorization: routeAuth },
      });
      writeFileSync(config, text);
      c.nodes.push({ name, port: ports[i]!, clusterPort: clusterPorts[i]!, config });
    }
    for (const n of c.nodes) n.child = new Child(natsServerBinary(), ['-c', n.config]);
    registerOperatorNats(c.url, c);
    // JetStream in a cluster is ready once a meta leader is elected: every node says so.
    await waitFor(
      async () => {
        for (const n of c.nodes) {
          if (!n.child!.running) throw new Error(`nats-server ${n.name} exited: ${n.child!.stderr}`);
          const log = n.child!.stderr + n.child!.stdout;
          if (!log.includes('Server is ready') || !(await portOpen(n.port))) return false;
        }
        return c.nodes.some((n) => /JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/.test(n.child!.stderr + n.child!.stdout));
      },
      { timeout: 60_000, what: 'three-node nats cluster with a JetStream meta leader' },
    );
    return c;
  }

  get urls(): string[] {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`);
  }

  /** The URLs of the nodes running now. */
  get liveUrls(): string[] {
    return this.nodes.filter((n) => n.child?.running).map((n) => `nats://127.0.0.1:${n.port}`);
  }

  /** All nodes as one comma-separated string: what startController/startAgent take as `natsUrl`. */
  get url(): string {
    return this.urls.join(',');
  }

  /** Options for a test's own nats.js connection: every node, the controller's (unrestricted) creds. */
  connectOptions(): { servers: string[]; authenticator: ReturnType<typeof credsAuthenticator> } {
    return { servers: this.urls.map((u) => u.replace('nats://', '')), authenticator: credsAuthenticator(readFileSync(this.authority!.controllerCredsFile())) };
  }

  /** Writes a .creds file for one hand-installed agent host (enrolled agents get theirs from the controller). */
  agentCreds(hostId: string, opts: { ttlSeconds?: number; file?: string } = {}): Promise<{ file: string; publicKey: string }> {
    return writeAgentCreds(this.authority!, this.dir.path, hostId, opts);
  }

  /** The node listening on `address` (`host:port` or a URL, as clients log the server they use). */
  nodeAt(address: string): ClusterNode | undefined {
    return this.nodes.find((n) => address.endsWith(`:${n.port}`));
  }

  /**
   * The node a daemon's main NATS connection is on now: its last `nats connected`/`reconnected`
   * line (a controller's system-account connection, which logs the same lines, is left out).
   */
  nodeOf(child: Child): ClusterNode | undefined {
    const lines = child.logs().filter((l) => (l.msg === 'nats connected' || l.msg === 'nats reconnected') && l.connection !== 'opsfleet-controller system');
    return this.nodeAt(String(lines.at(-1)?.server ?? ''));
  }

  /** SIGKILL of one node (a machine lost), waited for. */
  async kill(name: string): Promise<void> {
    const n = this.nodes.find((x) => x.name === name)!;
    n.child?.kill('SIGKILL');
    await n.child?.exited;
  }

  /** Starts a killed node again with the same config and store (it rejoins the cluster). */
  async restart(name: string): Promise<void> {
    const n = this.nodes.find((x) => x.name === name)!;
    if (n.child?.running) throw new Error(`nats-server ${name} already running`);
    n.child = new Child(natsServerBinary(), ['-c', n.config]);
    await waitFor(
      async () => {
        if (!n.child!.running) throw new Error(`nats-server ${name} exited: ${n.child!.stderr}`);
        return (n.child!.stderr + n.child!.stdout).includes('Server is ready') && (await portOpen(n.port));
      },
      { timeout: 30_000, what: `nats-server ${name} back` },
    );
  }

  /** Every node's log so far (for a failed test's message). */
  logs(): string {
    return this.nodes.map((n) => `--- ${n.name}\n${(n.child?.stderr ?? '').split('\n').slice(-40).join('\n')}`).join('\n');
  }

  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.child?.stop(5000)));
    this.dir.cleanup();
  }
}
