import { fstatSync } from 'node:fs';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { rateLimitHook } from './log-rate-limit.js';
import { redactDeep } from './redact-url.js';

export type { Logger } from 'pino';

/** Field names whose values never reach a log line (secrets from config or env). */
export const REDACT_PATHS = [
  'password', 'pass', 'token', 'secret', 'secret_access_key', 'hmac_secret', 'webhook',
  '*.password', '*.pass', '*.token', '*.secret', '*.secret_access_key', '*.hmac_secret', '*.webhook',
];

/**
 * True when `fd` is the systemd journal's stream: systemd sets JOURNAL_STREAM to the
 * `device:inode` of the socket it gave the service as stdout/stderr (systemd.exec(5)); a child
 * that inherited the variable but writes elsewhere (a pipe, a file) does not match.
 */
export function writesToJournal(fd = 1, env: NodeJS.ProcessEnv = process.env): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/**
 * The one root logger of a process, created in main.ts and passed down. Writes JSON lines to
 * stdout synchronously so the last line before exit is never lost.
 */
export function createRootLogger(opts: { name: string; level?: LevelWithSilent; destination?: number; repeatInterval?: number; journal?: boolean }): Logger {
  // Under systemd the journal stamps every line itself (and `journalctl -o json` keeps it as
  // __REALTIME_TIMESTAMP): a `time` field would be a second, slightly different clock reading.
  // OPSFLEET_LOG_TIME=1 keeps it anyway (e.g. lines forwarded as-is to a log store).
  const journal = opts.journal ?? (writesToJournal(opts.destination ?? 1) && process.env.OPSFLEET_LOG_TIME !== '1');
  // Repeated warnings and errors: one line per distinct one per interval, with a count.
  let limit: ReturnType<typeof rateLimitHook>['hook'] | undefined;
  if (opts.repeatInterval) {
    const limiter = rateLimitHook({ intervalMs: opts.repeatInterval });
    setInterval(limiter.flush, Math.min(opts.repeatInterval, 10_000)).unref();
    limit = limiter.hook;
  }
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Credentials inside URLs (nats://u:PASSWORD@host) sit in strings no path can name: every
      // log call's fields, message and errors go through redactDeep first, then the repeat limiter.
      hooks: {
        logMethod(args, method, level) {
          const clean = redactDeep(args) as Parameters<typeof method>;
          if (limit) limit.call(this, clean, method, level);
          else method.apply(this, clean);
        },
      },
      timestamp: journal ? false : pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: opts.destination ?? 1, sync: true }),
  );
}
