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
 * The one root logger of a process, created in main.ts and passed down. Writes JSON lines to
 * stdout synchronously so the last line before exit is never lost.
 */
export function createRootLogger(opts: { name: string; level?: LevelWithSilent; destination?: number; repeatInterval?: number }): Logger {
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
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: opts.destination ?? 1, sync: true }),
  );
}
