import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { NatsConfig } from '../config/common.js';
import { OpsError } from '../errors.js';
import { sleep } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import { redactUrlCredentials } from '../redact-url.js';
import { backoffDelay } from '../retry.js';

/**
 * Connects to NATS with the configured credentials. Retries the first connection too
 * (`waitOnFirstConnect`), so a daemon started before its broker keeps trying instead of exiting,
 * and reconnects forever afterwards.
 */
export async function connectNats(
  cfg: NatsConfig,
  opts: { name: string; logger: Logger; waitOnFirstConnect?: boolean; onConnectedChange?: (connected: boolean) => void; inboxPrefix?: string; onAsyncError?: (err: Error) => void },
): Promise<NatsConnection> {
  const options: NodeConnectionOptions = {
    servers: cfg.servers.map((s) => s.replace(/^nats:\/\//, '').replace(/^tls:\/\//, '')),
    name: cfg.name ?? opts.name,
    timeout: cfg.connect_timeout,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    reconnectJitter: 250,
    pingInterval: 10_000,
    waitOnFirstConnect: opts.waitOnFirstConnect ?? true,
    // Keep reconnecting through auth errors (credentials may be fixed server-side).
    ignoreAuthErrorAbort: true,
    // An agent's user may subscribe only to its own inbox (controller/natsauth/permissions.ts).
    ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
  };
  if (cfg.user !== undefined) {
    options.user = cfg.user;
    options.pass = cfg.password;
  }
  if (cfg.token !== undefined) options.token = cfg.token;
  if (cfg.creds_file !== undefined) {
    const file = cfg.creds_file;
    let creds: Uint8Array;
    try {
      creds = readFileSync(file);
    } catch (err) {
      throw new OpsError('OPS_ERR_NATS_CREDS', `cannot read nats.creds_file ${file}`, { cause: err });
    }
    // Read again at every (re)connect: an agent's renewal rewrites the file with a fresh JWT.
    options.authenticator = credsAuthenticator(() => {
      try {
        creds = readFileSync(file);
      } catch {
        // keep the last good one; the connect error says the rest
      }
      return creds;
    });
  }
  if (cfg.tls || cfg.servers.some((s) => s.startsWith('tls://'))) {
    options.tls = {
      ...(cfg.tls?.ca ? { caFile: cfg.tls.ca } : {}),
      ...(cfg.tls?.cert ? { certFile: cfg.tls.cert } : {}),
      ...(cfg.tls?.key ? { keyFile: cfg.tls.key } : {}),
    };
  }
  let nc: NatsConnection;
  try {
    nc = await connect(options);
  } catch (err) {
    const servers = cfg.servers.map(redactUrlCredentials).join(', ');
    throw new OpsError('OPS_ERR_NATS_CONNECT', `cannot connect to NATS ${servers}: ${redactUrlCredentials((err as Error).message)}`, { cause: err, retryable: true });
  }
  // A controller has two connections (its own and the system account's): the name tells their lines apart.
  const log = opts.logger.child({ component: 'nats', connection: cfg.name ?? opts.name });
  log.info({ server: nc.getServer() }, 'nats connected');
  watchConnection(nc, log, opts.onConnectedChange, opts.onAsyncError);
  return nc;
}

/**
 * Connects, retrying with backoff until it succeeds or `signal` aborts (then resolves undefined).
 * Unlike nats.js's own waitOnFirstConnect, every failure (refused, bad credentials) is logged:
 * the first, then every tenth.
 */
export async function connectNatsWithRetry(
  cfg: NatsConfig,
  opts: {
    name: string;
    logger: Logger;
    signal: AbortSignal;
    what: string;
    inboxPrefix?: string;
    onConnectedChange?: (connected: boolean) => void;
    onError?: (err: Error, attempt: number) => void;
    /** Errors the server sends on a live connection (permission violations, credential expiry). */
    onAsyncError?: (err: Error) => void;
  },
): Promise<NatsConnection | undefined> {
  let attempt = 0;
  while (!opts.signal.aborted) {
    try {
      const nc = await connectNats(cfg, { name: opts.name, logger: opts.logger, waitOnFirstConnect: false, onConnectedChange: opts.onConnectedChange, inboxPrefix: opts.inboxPrefix, onAsyncError: opts.onAsyncError });
      if (opts.signal.aborted) {
        await nc.close();
        return undefined;
      }
      return nc;
    } catch (err) {
      attempt++;
      opts.onError?.(err as Error, attempt);
      if (attempt === 1 || attempt % 10 === 0) {
        opts.logger.error({ err: { message: (err as Error).message, code: (err as OpsError).code }, attempt }, `nats connection failed; ${opts.what}`);
      }
      await sleep(Math.max(500, backoffDelay(attempt, 1000, 30_000)), opts.signal);
    }
  }
  return undefined;
}

/**
 * The one loop over a connection's status events (every daemon's connection goes through
 * here): logs disconnects, reconnects and errors, and tells `onConnectedChange` whether the
 * connection is up. Ends when the connection closes.
 */
export function watchConnection(nc: NatsConnection, log: Logger, onConnectedChange?: (connected: boolean) => void, onAsyncError?: (err: Error) => void): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        log.warn({ server: s.server }, 'nats disconnected');
        onConnectedChange?.(false);
      } else if (s.type === 'reconnect') {
        log.info({ server: s.server }, 'nats reconnected');
        onConnectedChange?.(true);
      } else if (s.type === 'error') {
        log.warn({ err: s.error }, 'nats error');
        try {
          onAsyncError?.(s.error);
        } catch (err) {
          log.error({ err }, 'nats error listener failed');
        }
      }
    }
  })().catch((err: unknown) => log.error({ err }, 'nats status loop failed'));
}
