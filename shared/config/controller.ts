import { z } from 'zod';
import { alertingSchema } from './alerting.js';
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

/** Controller config: every section has safe defaults; only `nats.servers` is required. */
export const controllerConfigSchema = z
  .object({
    nats: natsSchema,
    data_dir: z.string().min(1).prefault('/var/lib/opsfleet-controller'),
    http: z.object({ listen: listenAddress.prefault('127.0.0.1:8080') }).strict().prefault({}),
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
    /** How the controller dials agents' gRPC endpoints. */
    rpc_client: z
      .object({
        tls: tlsFiles.optional(),
        /** Dialling agents that offer plaintext gRPC is refused unless this is written. */
        insecure: z.boolean().prefault(false),
        timeout: duration().prefault('5s'),
      })
      .strict()
      .prefault({}),
    ingest: z
      .object({
        /** JetStream messages per SQLite transaction at most. */
        max_batch: z.number().int().min(1).max(10_000).prefault(256),
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
    log: logSchema.prefault({}),
    shutdown_grace: duration().prefault('8s'),
  })
  .strict();

export type ControllerConfig = z.output<typeof controllerConfigSchema>;
