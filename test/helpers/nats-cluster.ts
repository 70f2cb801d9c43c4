import { writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { natsServerBinary } from './nats-server.js';
import { freePort } from './ports.js';
import { Child } from './process.js';
import { tempDir } from './tmp.js';
import { waitFor } from './wait.js';

/**
 * The config of one node of a three-node JetStream cluster (docs/scaling.md shows the same
 * file): client port, cluster port with routes to every node, and a server name, which
 * JetStream clustering requires.
 */
export function clusterNodeConfig(o: { name: string; port: number; clusterPort: number; routes: number[]; storeDir: string }): string {
  return [
    `server_name: ${o.name}`,
    `listen: 127.0.0.1:${o.port}`,
    `jetstream { store_dir: "${o.storeDir}" }`,
    'cluster {',
    '  name: opsfleet',
    `  listen: 127.0.0.1:${o.clusterPort}`,
    `  routes: [ ${o.routes.map((p) => `nats-route://127.0.0.1:${p}`).join(', ')} ]`,
    '}',
    '',
  ].join('\n');
}

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

/** Three nats-server children routed into one JetStream cluster; each node stoppable by PID. */
export class NatsCluster {
  readonly dir = tempDir('opsfleet-nats-cluster-');
  readonly nodes: Array<{ name: string; port: number; clusterPort: number; config: string; child?: Child }> = [];

  static async start(size = 3): Promise<NatsCluster> {
    const c = new NatsCluster();
    const ports = await Promise.all(Array.from({ length: size * 2 }, () => freePort()));
    for (let i = 0; i < size; i++) {
      const name = `n${i + 1}`;
      const config = join(c.dir.path, `${name}.conf`);
      const clusterPorts = Array.from({ length: size }, (_, j) => ports[size + j]!);
      writeFileSync(config, clusterNodeConfig({ name, port: ports[i]!, clusterPort: clusterPorts[i]!, routes: clusterPorts.filter((_, j) => j !== i), storeDir: join(c.dir.path, name) }));
      c.nodes.push({ name, port: ports[i]!, clusterPort: clusterPorts[i]!, config });
    }
    for (const n of c.nodes) n.child = new Child(natsServerBinary(), ['-c', n.config]);
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

  node(port: number): { name: string; child?: Child } | undefined {
    return this.nodes.find((n) => n.port === port);
  }

  /** SIGKILL of one node (a machine lost), waited for. */
  async kill(name: string): Promise<void> {
    const n = this.nodes.find((x) => x.name === name)!;
    n.child?.kill('SIGKILL');
    await n.child?.exited;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.child?.stop(5000)));
    this.dir.cleanup();
  }
}
