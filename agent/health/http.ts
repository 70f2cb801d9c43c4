import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { CheckOf } from '../../shared/config/health.js';
import { formatDuration } from '../../shared/duration.js';
import { redactUrlCredentials } from '../../shared/redact-url.js';
import { fail, ok, since, warn, type CheckKind, type ProbeResult } from './types.js';

/** Body bytes read for `body_contains`; a health endpoint answering more is cut here. */
const MAX_BODY = 64 * 1024;

/**
 * HTTP(S) check on node:http rather than fetch: fetch hides the peer certificate, which
 * `tls.warn_expiry_within` needs, and pools connections, which would hide a server that stops
 * accepting new ones.
 */
export const httpCheck: CheckKind<'http'> = {
  type: 'http',
  probe(cfg: CheckOf<'http'>, signal: AbortSignal): Promise<ProbeResult> {
    const start = performance.now();
    const url = new URL(cfg.url);
    const https = url.protocol === 'https:';
    return new Promise<ProbeResult>((resolve) => {
      let certDaysLeft: number | undefined;
      const req = (https ? httpsRequest : httpRequest)(
        url,
        {
          method: cfg.method,
          headers: { 'user-agent': 'opsfleet-agent health check', connection: 'close', ...cfg.headers },
          signal,
          agent: false,
          ...(https ? { rejectUnauthorized: cfg.tls.verify } : {}),
        },
        (res: IncomingMessage) => {
          if (https) {
            const cert = (res.socket as TLSSocket).getPeerCertificate?.();
            if (cert?.valid_to) certDaysLeft = (Date.parse(cert.valid_to) - Date.now()) / 86_400_000;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            if (size < MAX_BODY) {
              chunks.push(c);
              size += c.length;
            }
          });
          res.on('error', (err) => resolve(fail(`response failed: ${err.message}`, since(start))));
          res.on('end', () => {
            const latency = since(start);
            const status = res.statusCode ?? 0;
            const accepted = cfg.expect.status ? cfg.expect.status.includes(status) : status >= 200 && status < 400;
            if (!accepted) return resolve(fail(`HTTP ${status}`, latency));
            if (cfg.expect.body_contains !== undefined) {
              const body = Buffer.concat(chunks).toString('utf8');
              if (!body.includes(cfg.expect.body_contains)) return resolve(fail(`HTTP ${status}, body lacks "${cfg.expect.body_contains}"`, latency));
            }
            if (cfg.expect.max_latency !== undefined && latency > cfg.expect.max_latency) {
              return resolve(fail(`HTTP ${status} in ${Math.round(latency)}ms, slower than ${formatDuration(cfg.expect.max_latency)}`, latency));
            }
            if (certDaysLeft !== undefined && cfg.tls.warn_expiry_within !== undefined && certDaysLeft * 86_400_000 < cfg.tls.warn_expiry_within) {
              return resolve(warn(`HTTP ${status}, certificate expires in ${certDaysLeft.toFixed(1)} days`, latency));
            }
            resolve(ok(`HTTP ${status}`, latency));
          });
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        const why = signal.aborted ? 'timed out' : (err.code ?? err.message);
        resolve(fail(`${cfg.method} ${redactUrlCredentials(cfg.url)}: ${why}`, since(start)));
      });
      req.end(cfg.body);
    });
  },
};
