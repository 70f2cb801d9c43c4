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
    `host: ${q(o.host ?? '127.0.0.1')}`,
    `port: ${o.port}`,
    ...(o.httpPort !== undefined ? [`http_port: ${o.httpPort}`] : []),
    'max_payload: 1MB',
    'jetstream {',
    `  store_dir: ${q(o.storeDir)}`,
    `  max_memory_store: ${o.maxMemoryStore ?? '256MB'}`,
    `  max_file_store: ${o.maxFileStore ?? '10GB'}`,
    '}',
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
