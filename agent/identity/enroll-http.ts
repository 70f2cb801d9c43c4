import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { OpsError } from '../../shared/errors.js';

export interface JsonAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** The controller refused with a typed error: its code and message, as the API gave them. */
export class ControllerRefusal extends OpsError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    // 429 (too many refused enrollments from this address): worth asking again after Retry-After.
    super(code, message, { retryable: status === 429 });
  }
}

/**
 * POSTs JSON to the controller. node:http(s) rather than fetch so that a private CA (`ca`)
 * can verify an https controller. Refusals become ControllerRefusal with the API's code;
 * a controller that cannot be reached is OPS_ERR_ENROLL_UNREACHABLE (retryable).
 */
export function postJson(url: string, body: unknown, o: { ca?: string | undefined; timeoutMs: number }): Promise<JsonAnswer> {
  let ca: Buffer | undefined;
  if (o.ca) {
    try {
      ca = readFileSync(o.ca);
    } catch (err) {
      return Promise.reject(new OpsError('OPS_ERR_USAGE', `--ca ${o.ca}: ${(err as Error).message}`));
    }
  }
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const opts = { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(data.length) }, signal: AbortSignal.timeout(o.timeoutMs), ...(ca ? { ca } : {}) };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => reject(new OpsError('OPS_ERR_ENROLL_UNREACHABLE', `${url}: ${err.message}`, { cause: err, retryable: true })));
      res.on('end', () => {
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          return reject(new OpsError('OPS_ERR_ENROLL_FAILED', `${url}: HTTP ${res.statusCode} with a body that is not JSON (is this an opsfleet controller?)`));
        }
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          const e = (parsed.error ?? {}) as { code?: string; message?: string };
          return reject(new ControllerRefusal(status, e.code ?? 'OPS_ERR_ENROLL_FAILED', e.message ?? `HTTP ${status}`));
        }
        resolve({ status, body: parsed });
      });
    });
    req.on('error', (err) => reject(new OpsError('OPS_ERR_ENROLL_UNREACHABLE', `cannot reach the controller at ${u.origin}: ${err.message}`, { cause: err, retryable: true })));
    req.end(data);
  });
}
