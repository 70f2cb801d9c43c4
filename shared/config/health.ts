import { safeRegexProblem } from '../regex.js';
import { z } from 'zod';
import { byteSize, duration } from '../duration.js';
import { listenAddress } from './common.js';

/**
 * Schemas of the agent's `checks:` and `metrics:` sections. Variants are chosen by `type`
 * (one schema per check type, matching one file per type in agent/health/), every object is
 * `.strict()` so a typo is an error, and every field has a safe default.
 */

const severity = z.enum(['critical', 'warning', 'info']);
export type Severity = z.output<typeof severity>;

const envMap = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String));

const superviseSchema = z
  .object({
    command: z.string().min(1),
    cwd: z.string().min(1).optional(),
    env: envMap.prefault({}),
    /** Time the process gets between SIGTERM and SIGKILL when the agent restarts or stops it. */
    stop_grace: duration().prefault('5s'),
  })
  .strict();

const restartSchema = z
  .object({
    /** Shell command run to restart the service (through /bin/sh -c). */
    command: z.string().min(1).optional(),
    /** The agent itself starts and keeps the process (like supervisord). */
    supervise: superviseSchema.optional(),
    /** Restart attempts allowed within `within`; one more and the agent gives up (RestartGaveUp). */
    max_restarts: z.number().int().min(1).max(1000).prefault(3),
    within: duration({ min: 1000 }).prefault('10m'),
    /** Delay before the 2nd attempt, doubling for each later one. */
    backoff: duration().prefault('5s'),
    /** After a restart the check must be up again within this, or the attempt failed. */
    verify_timeout: duration({ min: 100 }).prefault('30s'),
    /** Bound on the restart command itself. */
    command_timeout: duration({ min: 100 }).prefault('60s'),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ((r.command === undefined) === (r.supervise === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'write exactly one of command or supervise' });
    }
  });
export type RestartConfig = z.output<typeof restartSchema>;

const onFailureSchema = z.object({ restart: restartSchema }).strict();

/** Fields every check has. */
const base = {
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'check name: letters, digits, "_", "-", "." (at most 63 characters)'),
  interval: duration({ min: 100 }).prefault('10s'),
  /** Probes never overlap: a timeout longer than the interval just delays the next probe. */
  timeout: duration({ min: 10 }).prefault('5s'),
  /** Consecutive failures before the check is DOWN. */
  failures: z.number().int().min(1).max(100).prefault(3),
  /** Consecutive successes before a DOWN check is UP again. */
  successes: z.number().int().min(1).max(100).prefault(1),
  severity: severity.prefault('critical'),
  on_failure: onFailureSchema.optional(),
  /** Emit a check result at least this often even when nothing changed (fresh latency). */
  report_every: duration({ min: 1000 }).prefault('60s'),
};

const httpCheck = z
  .object({
    ...base,
    type: z.literal('http'),
    url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'OPTIONS']).prefault('GET'),
    headers: z.record(z.string(), z.string()).prefault({}),
    body: z.string().optional(),
    expect: z
      .object({
        /** Accepted status codes; default any 2xx or 3xx. */
        status: z.array(z.number().int().min(100).max(599)).min(1).optional(),
        body_contains: z.string().optional(),
        max_latency: duration().optional(),
      })
      .strict()
      .prefault({}),
    tls: z
      .object({
        verify: z.boolean().prefault(true),
        /** https only: the check warns when the server certificate expires sooner than this. */
        warn_expiry_within: duration().optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const tcpCheck = z
  .object({
    ...base,
    type: z.literal('tcp'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    /** Written after connecting (empty: nothing). */
    send: z.string().prefault(''),
    /** Text the peer must send (a banner like "SSH-"); empty: connecting is enough. */
    expect: z.string().prefault(''),
  })
  .strict();

const processCheck = z
  .object({
    ...base,
    type: z.literal('process'),
    match: z
      .object({
        /** Exact process name (/proc/PID/comm). */
        name: z.string().min(1).optional(),
        /** Regular expression (RE2 syntax, linear time) on the full command line. */
        cmdline: z
          .string()
          .min(1)
          .superRefine((v, ctx) => {
            const problem = safeRegexProblem(v);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          })
          .optional(),
        /** File holding the PID. */
        pid_file: z.string().min(1).optional(),
      })
      .strict()
      .refine((m) => m.name !== undefined || m.cmdline !== undefined || m.pid_file !== undefined, { message: 'match needs name, cmdline or pid_file' }),
    min_count: z.number().int().min(0).prefault(1),
    max_count: z.number().int().min(1).optional(),
    max_cpu_percent: z.number().positive().optional(),
    max_rss: byteSize().optional(),
  })
  .strict();

const commandCheck = z
  .object({
    ...base,
    type: z.literal('command'),
    /** Run through /bin/sh -c; exit 0 = ok, 1 = warning, anything else = critical. */
    command: z.string().min(1),
    cwd: z.string().min(1).optional(),
    env: envMap.prefault({}),
  })
  .strict();

const diskCheck = z
  .object({
    ...base,
    type: z.literal('disk'),
    path: z.string().min(1),
    max_used_percent: z.number().min(0).max(100).prefault(90),
    max_inodes_used_percent: z.number().min(0).max(100).optional(),
  })
  .strict();

const fileCheck = z
  .object({
    ...base,
    type: z.literal('file'),
    path: z.string().min(1),
    /** The file must have been modified within this long. */
    max_age: duration().optional(),
    min_size: byteSize().optional(),
    contains: z.string().optional(),
  })
  .strict();

export const checkSchema = z.discriminatedUnion('type', [httpCheck, tcpCheck, processCheck, commandCheck, diskCheck, fileCheck]);
export type CheckConfig = z.output<typeof checkSchema>;
export type CheckType = CheckConfig['type'];
export type CheckOf<T extends CheckType> = Extract<CheckConfig, { type: T }>;

export const checksSchema = z
  .array(checkSchema)
  .prefault([])
  .superRefine((checks, ctx) => {
    const seen = new Map<string, number>();
    checks.forEach((c, i) => {
      if (seen.has(c.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate check name "${c.name}" (also checks[${seen.get(c.name)}])` });
      else seen.set(c.name, i);
    });
  });

/** Metric names a threshold rule may watch; `disk.*` take `mount`, `net.*` take `interface`. */
export const METRIC_NAMES = [
  'cpu.percent',
  'cpu.iowait_percent',
  'cpu.steal_percent',
  'load.1m',
  'load.5m',
  'load.15m',
  'load.1m_per_core',
  'mem.used_percent',
  'swap.used_percent',
  'disk.used_percent',
  'disk.inodes_used_percent',
  'net.rx_bytes_per_s',
  'net.tx_bytes_per_s',
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

const thresholdSchema = z
  .object({
    metric: z.enum(METRIC_NAMES),
    /** disk.* metrics: the mount point (default /). */
    mount: z.string().min(1).optional(),
    /** net.* metrics: the interface (default: the sum of all but lo). */
    interface: z.string().min(1).optional(),
    above: z.number().optional(),
    below: z.number().optional(),
    /** The condition must hold continuously this long before the alert fires (Prometheus `for:`). */
    for: duration().prefault('0s'),
    severity: severity.prefault('warning'),
    /** Alert name; default derived from the metric ("HighCpuPercent"...). */
    alertname: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if ((t.above === undefined) === (t.below === undefined)) ctx.addIssue({ code: 'custom', path: ['above'], message: 'write exactly one of above or below' });
    if (t.mount !== undefined && !t.metric.startsWith('disk.')) ctx.addIssue({ code: 'custom', path: ['mount'], message: 'mount applies to disk.* metrics only' });
    if (t.interface !== undefined && !t.metric.startsWith('net.')) ctx.addIssue({ code: 'custom', path: ['interface'], message: 'interface applies to net.* metrics only' });
  });
export type ThresholdConfig = z.output<typeof thresholdSchema>;

export const metricsSchema = z
  .object({
    enabled: z.boolean().prefault(true),
    interval: duration({ min: 100 }).prefault('10s'),
    /** Processes listed in each sample, by CPU and by RSS. */
    top_processes: z.number().int().min(0).max(50).prefault(5),
    /** Mount points sampled for usage; default: every real (block-device) filesystem. */
    mounts: z.array(z.string().min(1)).optional(),
    thresholds: z.array(thresholdSchema).prefault([]),
    /** Prometheus text exposition of the agent's internals and latest sample at GET /metrics. Absent: off. */
    prometheus: z.object({ listen: listenAddress }).strict().optional(),
  })
  .strict();
export type MetricsConfig = z.output<typeof metricsSchema>;
