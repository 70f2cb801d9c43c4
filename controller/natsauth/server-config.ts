export interface ServerConfigOptions {
  /** Client port. */
  port: number;
  /** Listen address; default 127.0.0.1 (write 0.0.0.0 for agents on other hosts, with TLS). */
  host?: string;
  /** JetStream store; the account resolver keeps its JWTs in `<storeDir>/accounts`. */
  storeDir: string;
  /** JetStream limits; defaults 256 MiB memory, 10 GiB file. */
  maxMemoryStore?: string;
  maxFileStore?: string;
  /** Monitoring HTTP port (/connz, /varz); off when absent. */
  httpPort?: number;
  tls?: { cert: string; key: string; ca?: string };
  operatorJwt: string;
  systemAccount: string;
  /** account public key → JWT, loaded into the resolver when it has no newer one. */
  preload: Record<string, string>;
  /** One node of a JetStream cluster (docs/scaling.md, "NATS cluster"); a single server when absent. */
  cluster?: ClusterOptions;
}

/** The cluster part of one node's config: every node gets the same operator, resolver and preload. */
export interface ClusterOptions {
  /** This node's name, unique in the cluster (JetStream clustering requires one). */
  serverName: string;
  /** Cluster name, the same on every node. Default "opsfleet". */
  name?: string;
  /** Route listen address; default the client listen address. */
  host?: string;
  /** Route port (6222 by convention). */
  port: number;
  /** The other nodes' routes, `nats-route://host:port` (the credentials below are added to each). */
  routes: string[];
  /**
   * Route credentials, the same on every node: a process that can reach the route port but
   * lacks them cannot join the cluster (routes carry every account's traffic, unauthenticated
   * by the operator JWTs). Across machines, add route TLS as well.
   */
  authorization?: { user: string; password: string };
  tls?: { cert: string; key: string; ca: string };
}

const q = (s: string): string => JSON.stringify(s);

/**
 * nats-server (2.9) config in operator mode with the `full` account resolver: the server keeps
 * account JWTs in a directory and takes updates pushed by the system account
 * ($SYS.REQ.CLAIMS.UPDATE), so a revocation reaches it live, without a reload. `allow_delete`
 * stays off: nobody can delete the account through the bus.
 */
export function renderServerConfig(o: ServerConfigOptions): string {
  const lines = [
    '# nats-server config written by `opsfleet-controller nats-config` (decentralized JWT auth).',
    '# Regenerate rather than edit: the account JWTs below come from the controller\'s nats-auth dir.',
    ...(o.cluster ? [`server_name: ${q(o.cluster.serverName)}`] : []),
    `host: ${q(o.host ?? '127.0.0.1')}`,
    `port: ${o.port}`,
    ...(o.httpPort !== undefined ? [`http_port: ${o.httpPort}`] : []),
    'max_payload: 1MB',
    'jetstream {',
    `  store_dir: ${q(o.storeDir)}`,
    `  max_memory_store: ${o.maxMemoryStore ?? '256MB'}`,
    `  max_file_store: ${o.maxFileStore ?? '10GB'}`,
    '}',
    ...(o.cluster ? clusterBlock(o.cluster, o.host ?? '127.0.0.1') : []),
    ...(o.tls ? ['tls {', `  cert_file: ${q(o.tls.cert)}`, `  key_file: ${q(o.tls.key)}`, ...(o.tls.ca ? [`  ca_file: ${q(o.tls.ca)}`] : []), '}'] : []),
    `operator: ${q(o.operatorJwt)}`,
    `system_account: ${q(o.systemAccount)}`,
    'resolver {',
    '  type: full',
    `  dir: ${q(`${o.storeDir.replace(/\/+$/, '')}/accounts`)}`,
    '  allow_delete: false',
    '  interval: "2m"',
    '  timeout: "1.9s"',
    '}',
    'resolver_preload {',
    ...Object.entries(o.preload).map(([k, v]) => `  ${k}: ${q(v)}`),
    '}',
    '',
  ];
  return lines.join('\n');
}

/** Routes with the cluster credentials written into each URL (nats-server authenticates routes that way). */
function clusterBlock(c: ClusterOptions, host: string): string[] {
  const withAuth = (r: string): string => {
    if (!c.authorization) return r;
    const u = new URL(r);
    u.username = encodeURIComponent(c.authorization.user);
    u.password = encodeURIComponent(c.authorization.password);
    return u.toString().replace(/\/$/, '');
  };
  return [
    'cluster {',
    `  name: ${q(c.name ?? 'opsfleet')}`,
    `  listen: ${q(`${c.host ?? host}:${c.port}`)}`,
    ...(c.authorization ? ['  authorization {', `    user: ${q(c.authorization.user)}`, `    password: ${q(c.authorization.password)}`, '  }'] : []),
    ...(c.tls ? ['  tls {', `    cert_file: ${q(c.tls.cert)}`, `    key_file: ${q(c.tls.key)}`, `    ca_file: ${q(c.tls.ca)}`, '  }'] : []),
    `  routes: [ ${c.routes.map((r) => q(withAuth(r))).join(', ')} ]`,
    '}',
  ];
}
