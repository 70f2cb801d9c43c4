import { z } from 'zod';
import { alertingSchema } from './alerting.js';
import { backupTargetSchema } from './backup.js';
import { byteSize, duration, listenAddress, logSchema, natsSchema, tlsFiles } from './common.js';
import { playbooksSchema, runsSchema } from './playbooks.js';

const streamSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_-]+$/).prefault('OPSFLEET_EVENTS'),
    max_age: duration().prefault('7d'),
    max_bytes: byteSize().prefault('1GiB'),
    /** JetStream drops a message whose Nats-Msg-Id it saw within this window. */
    duplicate_window: duration().prefault('10m'),
    replicas: z.number().int().min(1).max(5).prefault(1),
    consumer: z.string().regex(/^[A-Za-z0-9_-]+$/).prefault('opsfleet-controller'),
  })
  .strict();

/** Loopback addresses: reachable from this machine only, so plaintext HTTP is acceptable there. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const httpSchema = z
  .object({
    listen: listenAddress.prefault('127.0.0.1:8080'),
    /** HTTPS for the API; required off loopback unless `insecure: true`. */
    tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
    /** Allows plaintext HTTP (and auth switched off) on a non-loopback address. */
    insecure: z.boolean().prefault(false),
    auth: z
      .object({
        /** API tokens are required (default). Off: every caller is an anonymous admin (benchmarks, closed labs; loopback only). */
        enabled: z.boolean().prefault(true),
        /** `open`: /metrics needs no token; `token`: a viewer token or above. */
        metrics: z.enum(['open', 'token']).prefault('open'),
        /** Failed authentications per source address within failure_window before it gets 429. */
        max_failures: z.number().int().min(1).prefault(20),
        failure_window: duration({ min: 1000 }).prefault('1m'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((h, ctx) => {
    if (h.insecure || isLoopbackHost(h.listen.host)) return;
    if (!h.tls) ctx.addIssue({ code: 'custom', path: ['listen'], message: `${h.listen.text} is not a loopback address: set http.tls (cert, key), or write http.insecure: true to allow plaintext` });
    if (!h.auth.enabled) ctx.addIssue({ code: 'custom', path: ['auth', 'enabled'], message: `auth may be off only on a loopback address (listen is ${h.listen.text}) unless http.insecure: true` });
  });

/** Controller config: every section has safe defaults; only `nats.servers` is required. */
export const controllerConfigSchema = z
  .object({
    nats: natsSchema,
    /**
     * Per-host NATS identities (decentralized JWT auth, docs/identity.md). Absent `enabled`:
     * on when `<dir>/authority.json` exists (made by `opsfleet-controller nats-config`).
     */
    nats_auth: z
      .object({
        enabled: z.boolean().optional(),
        /** Default `<data_dir>/nats-auth`. */
        dir: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    data_dir: z.string().min(1).prefault('/var/lib/opsfleet-controller'),
    http: httpSchema.prefault({}),
    /** Absent: 3 x each agent's own heartbeat interval. */
    offline_after: duration({ min: 100 }).optional(),
    retention: z
      .object({
        events: duration().prefault('7d'),
        /**
         * Raw retention of high-volume samples the controller also keeps in derived form:
         * heartbeats, metric samples, unchanged check results, log batches.
         */
        samples: duration().prefault('1h'),
        prune_interval: duration({ min: 1000 }).prefault('10m'),
      })
      .strict()
      .prefault({}),
    stream: streamSchema.prefault({}),
    /**
     * A warm standby (docs/scaling.md): two controllers on one NATS cluster, each consuming the
     * event stream into its own SQLite; a lease in NATS KV says which one leads (notifies,
     * schedules, dispatches, accepts mutations).
     */
    ha: z
      .object({
        enabled: z.boolean().prefault(false),
        /** Unique per controller; names its durable consumers. Absent: the machine's hostname. */
        id: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').optional(),
        /** The URL other controllers, opsctl and the dashboard reach this controller's API at (e.g. https://ctl-a:8080). */
        advertise_url: z.string().regex(/^https?:\/\/[A-Za-z0-9.:[\]-]+$/, 'expected http(s)://host[:port]').optional(),
        /** A leader silent this long loses the lease to the standby. */
        lease_ttl: duration({ min: 1000 }).prefault('10s'),
        /** How often the leader renews its lease (well below lease_ttl). */
        renew_interval: duration({ min: 100 }).prefault('3s'),
      })
      .strict()
      .prefault({})
      .superRefine((h, ctx) => {
        if (h.enabled && !h.advertise_url) ctx.addIssue({ code: 'custom', path: ['advertise_url'], message: 'ha.enabled needs ha.advertise_url: the other controller forwards mutations there' });
        if (h.renew_interval * 2 >= h.lease_ttl) ctx.addIssue({ code: 'custom', path: ['renew_interval'], message: `renew_interval must be under half of lease_ttl (${h.lease_ttl} ms)` });
      }),
    /** How the controller dials agents' gRPC endpoints. */
    rpc_client: z
      .object({
        tls: tlsFiles.optional(),
        /** Dialling agents that offer plaintext gRPC is refused unless this is written. */
        insecure: z.boolean().prefault(false),
        timeout: duration().prefault('5s'),
        /**
         * Channels to online, enrolled hosts connected ahead of a run (controller/dispatch/channel-warmer.ts):
         * a cold channel costs the run a TLS handshake per host. Bounded so a restart with 10,000
         * hosts does not handshake with all of them at once.
         */
        prewarm: z
          .object({
            enabled: z.boolean().prefault(true),
            /** Connects started per second at most. */
            per_second: z.number().int().min(1).max(10_000).prefault(200),
            /** Connects awaiting their handshake at once at most. */
            concurrency: z.number().int().min(1).max(1_000).prefault(32),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** The fleet CA and agent identities (controller/pki, docs/identity.md). */
    pki: z
      .object({
        /** An operator-supplied CA (both or neither); absent: one is created in <data_dir>/pki on first start. */
        ca_cert: z.string().min(1).optional(),
        ca_key: z.string().min(1).optional(),
        /** Lifetime of each host certificate; agents renew two thirds into it. */
        cert_lifetime: duration({ min: 1000 }).prefault('7d'),
        /** How often certificates are checked for AgentCertExpiring (less than 20% of their life left). */
        expiry_check_interval: duration({ min: 100 }).prefault('5m'),
      })
      .strict()
      .refine((p) => (p.ca_cert === undefined) === (p.ca_key === undefined), { message: 'ca_cert and ca_key go together', path: ['ca_cert'] })
      .prefault({}),
    ingest: z
      .object({
        /** JetStream messages per SQLite transaction at most. */
        max_batch: z.number().int().min(1).max(10_000).prefault(256),
        /**
         * Who checkpoints the database's WAL: `worker` (a worker thread with its own connection,
         * so the event loop never copies and fsyncs the WAL inside a commit) or `inline`
         * (SQLite's automatic checkpoint in the committing thread, as before).
         */
        checkpoint: z.enum(['worker', 'inline']).prefault('worker'),
        /**
         * Heartbeats and metric samples: `store` keeps each as a raw event row (retention.samples)
         * besides what they update; `derived` keeps only what they update (the host record,
         * metric_latest, the metric history tiers), about 85 % fewer event rows at default cadences.
         */
        raw_samples: z.enum(['store', 'derived']).prefault('store'),
      })
      .strict()
      .prefault({}),
    alerting: alertingSchema.prefault({}),
    /** Named playbooks operators run with `opsctl run` (and tasks schedule). */
    playbooks: playbooksSchema.prefault({}),
    runs: runsSchema.prefault({}),
    /** Folder of YAML files with `tasks:` and `policies:`; reloaded on SIGHUP or POST /api/v1/tasks/reload. */
    tasks_dir: z.string().min(1).optional(),
    scheduler: z
      .object({
        /** Default for tasks: a missed run within this window runs once at start. */
        catch_up: duration().prefault('1h'),
        /** Default timezone of cron schedules (IANA name); the controller's own when absent. */
        timezone: z.string().optional(),
        /** Remediations across all policies and the whole fleet per minute. */
        max_remediations_per_minute: z.number().int().min(1).prefault(10),
        /** How often due schedules are checked. */
        tick: duration({ min: 10 }).prefault('1s'),
      })
      .strict()
      .prefault({}),
    /**
     * The controller's own free-space guard on the data_dir's file system: below `min_free`,
     * events are pruned oldest first (ahead of their retention) so SQLite reuses their pages
     * instead of growing the file, `ControllerDiskLow` fires and /readyz answers 503.
     */
    disk_guard: z
      .object({
        min_free: byteSize().prefault('1GiB'),
        check_interval: duration({ min: 100 }).prefault('30s'),
        /** Share of the stored events dropped per check while space stays low (oldest first). */
        prune_fraction: z.number().gt(0).max(1).prefault(0.1),
      })
      .strict()
      .prefault({}),
    /**
     * Scheduled `opsfleet-controller backup`s, each to its own target of the kinds agent backups
     * use (e.g. a local folder nightly and S3 weekly); empty: none (the command still works by
     * hand or from a timer).
     */
    self_backup: z
      .array(
        z
          .object({
            /** Names this schedule in logs and alerts, and `{name}` in the target prefix. */
            name: z.string().regex(/^[A-Za-z0-9_.-]+$/).prefault('controller'),
            /** Cron expression (5 or 6 fields), e.g. "0 3 * * *". */
            schedule: z.string().min(1),
            /** Archives go to `<target path>/<prefix>/controller/controller-<time>.tar.gz`; `{host}` is the controller's hostname. */
            target: backupTargetSchema,
            /** Newest archives kept on the target; older ones are removed after each good backup. */
            keep: z.number().int().min(1).prefault(7),
            method: z.enum(['vacuum-into', 'backup-api']).prefault('vacuum-into'),
            /** Where the archive is assembled before upload (default: data_dir/.self-backup; never carried in a backup). */
            work_dir: z.string().min(1).optional(),
          })
          .strict(),
      )
      .prefault([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((b, i) => {
          if (seen.has(b.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `two self_backup entries are named "${b.name}"` });
          seen.add(b.name);
        });
      }),
    log: logSchema.prefault({}),
    shutdown_grace: duration().prefault('8s'),
    /** The one-line agent install: GET /install.sh and GET /downloads/<bundle> (docs/install.md). */
    downloads: z
      .object({
        /** Bundles and their .sha256 files. Absent: dist/release in a checkout, share/downloads in an installed controller bundle. */
        dir: z.string().min(1).optional(),
        /** The installer template. Absent: scripts/install.sh in a checkout, share/install.sh in a bundle. */
        script: z.string().min(1).optional(),
        /** The controller address baked into install.sh (e.g. https://ops.example.com:8080). Absent: the address the host fetched the script from. */
        public_url: z.string().regex(/^https?:\/\/[A-Za-z0-9.:[\]-]+(\/[A-Za-z0-9._\/-]*)?$/, 'expected http(s)://host[:port][/path]').optional(),
        /** The NATS servers baked into install.sh for agents. Absent: this controller's nats.servers (right when agents reach NATS at the same address). */
        nats_servers: z.array(z.string().regex(/^(nats|tls):\/\/[A-Za-z0-9.:[\]@_-]+$/, 'expected a URL like "nats://10.0.0.5:4222"')).min(1).optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type ControllerConfig = z.output<typeof controllerConfigSchema>;
