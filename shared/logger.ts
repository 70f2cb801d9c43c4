import { pino, type Logger, type LevelWithSilent } from 'pino';
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
export function createRootLogger(opts: { name: string; level?: LevelWithSilent; destination?: number }): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Credentials inside URLs (nats://u:PASSWORD@host) sit in strings no path can name: every
      // log call's fields, message and errors go through redactDeep first.
      hooks: {
        logMethod(args, method) {
          method.apply(this, redactDeep(args) as Parameters<typeof method>);
        },
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: opts.destination ?? 1, sync: true }),
  );
}
