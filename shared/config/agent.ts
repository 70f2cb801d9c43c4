import { hostname } from 'node:os';
import { z } from 'zod';
import { byteSize, duration, listenAddress, logSchema, natsSchema, tlsFiles } from './common.js';
import { backupsSchema } from './backup.js';
import { checksSchema, metricsSchema } from './health.js';
import { logsSchema } from './logs.js';

const hostSchema = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'host id: letters, digits, "_" and "-" (it is a NATS subject token: no dots, spaces or wildcards), at most 63 characters')
      .optional(),
    tags: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'tag names: letters, digits, "_", "-", "."'), z.union([z.string(), z.number(), z.boolean()]).transform(String)).prefault({}),
  })
  .strict();

const rpcSchema = z
  .object({
    listen: listenAddress.prefault('127.0.0.1:7443'),
    /** Address the controller should dial, when `listen` is a wildcard or behind NAT. */
    advertise: z.string().optional(),
    /** Plaintext gRPC is refused unless this is written. */
    insecure: z.boolean().prefault(false),
    tls: tlsFiles.optional(),
    /**
     * Serve with the enrolled identity (<state_dir>/identity: the host's certificate, clients
     * must hold the controller's certificate from the fleet CA) instead of `tls` files.
     */
    identity: z.boolean().prefault(false),
    /**
     * TLS without `tls.ca` verifies no client: anyone reaching the port could run commands. Such
     * a listener is refused unless this is true (logged as a warning at every start).
     */
    accept_any_client: z.boolean().prefault(false),
    /** Shell steps in playbooks run only when this is true (opt-in per agent). */
    allow_shell: z.boolean().prefault(false),
    /** When set, only these playbooks run here (built-in steps included). */
    allow_playbooks: z.array(z.string().min(1)).optional(),
    /** Shell steps run as children of the agent with this environment added. */
    shell: z
      .object({
        path: z.string().prefault('/bin/sh'),
        cwd: z.string().optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((rpc, ctx) => {
    if (rpc.tls && (!rpc.tls.cert || !rpc.tls.key)) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls needs cert and key (and ca to require client certificates)' });
    }
    if (rpc.tls && !rpc.tls.ca && !rpc.accept_any_client) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'ca'],
        message: 'tls without ca verifies no client certificate, so anyone reaching the port can run commands: set tls.ca to the CA that signs the controller\'s certificate, or write accept_any_client: true to allow it knowingly',
      });
    }
    if (rpc.identity && rpc.tls) {
      ctx.addIssue({ code: 'custom', path: ['identity'], message: 'identity: true serves with the enrolled certificate: leave out tls' });
    }
    if (!rpc.tls && !rpc.insecure && !rpc.identity) {
      ctx.addIssue({ code: 'custom', path: ['listen'], message: 'plaintext RPC listener refused: configure tls { ca, cert, key } or write insecure: true' });
    }
  });

/** First-start self-enrollment (docs/identity.md); ignored once <state_dir>/identity holds an identity. */
const enrollSchema = z
  .object({
    /** The controller's base URL, e.g. https://controller.example:8080. */
    controller: z.string().regex(/^https?:\/\/[^\s]+$/, 'expected a URL like "https://controller:8080"'),
    /** An enrollment token (opsctl tokens create --enroll). */
    token: z.string().min(1),
    /** CA file that signs the controller's HTTPS certificate (private CA). */
    ca: z.string().min(1).optional(),
    /** How long the start waits while the host is pending manual acceptance. */
    wait: duration().prefault('10m'),
  })
  .strict();

const outboxSchema = z
  .object({
    /** Bound on stored events; past it the oldest are evicted and counted. */
    max_events: z.number().int().min(100).prefault(1_000_000),
    max_bytes: byteSize().prefault('512MiB'),
    /** Events per JetStream message (one batch, one Nats-Msg-Id). */
    batch_max_events: z.number().int().min(1).max(10_000).prefault(500),
    batch_max_bytes: byteSize().prefault('512KiB'),
    /** Batches published and awaiting their ack at once. */
    max_in_flight: z.number().int().min(1).max(1024).prefault(16),
  })
  .strict();

/** Agent config: every section has safe defaults; only `nats.servers` is required. */
export const agentConfigSchema = z
  .object({
    host: hostSchema.prefault({}),
    nats: natsSchema,
    state_dir: z.string().min(1).prefault('/var/lib/opsfleet'),
    /** Absent: no RPC server (the agent still reports). Present: plaintext needs insecure: true. */
    rpc: rpcSchema.optional(),
    enroll: enrollSchema.optional(),
    heartbeat_interval: duration({ min: 100 }).prefault('10s'),
    outbox: outboxSchema.prefault({}),
    /** Health checks (agent/health), each on its own timer. */
    checks: checksSchema,
    /** /proc resource sampling and threshold rules (agent/metrics). */
    metrics: metricsSchema.prefault({}),
    /** Log sources tailed, parsed, counted and checked by window rules (agent/logs). */
    logs: logsSchema.prefault([]),
    /** Watched folders backed up as debounced incremental snapshots (agent/backup). */
    backups: backupsSchema,
    log: logSchema
      .extend({
        /** Repeated warnings/errors: one line per distinct one per interval, with a count (a full disk fails every tick). */
        repeat_interval: duration({ min: 100 }).prefault('1m'),
      })
      .strict()
      .prefault({}),
    /** Bound on a clean stop (SIGTERM) before the process exits anyway. */
    shutdown_grace: duration().prefault('8s'),
  })
  .strict()
  .transform((c) => ({ ...c, host: { ...c.host, id: c.host.id ?? hostname().split('.')[0]! } }));

export type AgentConfig = z.output<typeof agentConfigSchema>;
