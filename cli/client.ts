import { withDeadline } from '../shared/deadline.js';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { OpsError } from '../shared/errors.js';

export interface ClientOptions {
  /** API token (`opsf_...`), sent as `Authorization: Bearer`. */
  token?: string;
  /** PEM file of the CA that signed the controller's HTTPS certificate (default: the system's). */
  ca?: string;
  timeoutMs?: number;
}

/**
 * Thin client of the controller's HTTP API, turning transport failures into one clear error.
 * Built on node:http(s) rather than fetch so that a private CA (`--ca`) can verify the server:
 * Node 20's fetch offers no per-request CA without an extra dependency.
 */
export class ControllerClient {
  private readonly ca: Buffer | undefined;

  constructor(
    readonly baseUrl: string,
    readonly opts: ClientOptions = {},
  ) {
    if (opts.ca) {
      try {
        this.ca = readFileSync(opts.ca);
      } catch (err) {
        throw new OpsError('OPS_ERR_USAGE', `--ca ${opts.ca}: ${(err as Error).message}`);
      }
    }
  }

  /** The same controller and credentials with another overall timeout (long backup actions). */
  withTimeout(ms: number): ControllerClient {
    return new ControllerClient(this.baseUrl, { ...this.opts, timeoutMs: ms });
  }

  private url(path: string): URL {
    return new URL(path, this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`);
  }

  private open(method: string, path: string, body: unknown, signal: AbortSignal): Promise<IncomingMessage> {
    const url = this.url(path);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    return new Promise((resolve, reject) => {
      const unreachable = (err: Error & { code?: string }) =>
        new OpsError('OPS_ERR_CONTROLLER_UNREACHABLE', `cannot reach controller at ${this.baseUrl} (${err.code ?? err.message})`, { cause: err, retryable: !/CERT|SELF_SIGNED|UNABLE_TO/.test(err.code ?? '') });
      let req;
      try {
        req =
          url.protocol === 'https:'
            ? httpsRequest(url, { method, headers, signal, ...(this.ca ? { ca: this.ca } : {}) }, resolve)
            : url.protocol === 'http:'
              ? httpRequest(url, { method, headers, signal }, resolve)
              : undefined;
      } catch (err) {
        return reject(unreachable(err as Error));
      }
      if (!req) return reject(new OpsError('OPS_ERR_USAGE', `controller URL must start with http:// or https://, got "${this.baseUrl}"`));
      req.once('error', (err: Error & { code?: string }) => {
        if (err.name === 'AbortError') reject(signal.reason instanceof Error && signal.reason.name === 'TimeoutError' ? new OpsError('OPS_ERR_CONTROLLER_UNREACHABLE', `controller at ${this.baseUrl} did not answer in time`, { retryable: true }) : err);
        else reject(unreachable(err));
      });
      req.end(payload);
    });
  }

  private async text(res: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  private async errorFrom(res: IncomingMessage): Promise<OpsError> {
    const text = await this.text(res);
    try {
      const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
      return new OpsError(e?.code ?? 'OPS_ERR_CONTROLLER_RESPONSE', e?.message ?? `HTTP ${res.statusCode}`);
    } catch {
      return new OpsError('OPS_ERR_CONTROLLER_RESPONSE', `controller at ${this.baseUrl} answered ${res.statusCode} with non-JSON: ${text.slice(0, 200)}`);
    }
  }

  /** One JSON request; API errors become OpsError with the API's code. */
  async send<T>(method: string, path: string, body?: unknown): Promise<T> {
    // shared/deadline: a timer we hold (not a bare AbortSignal.timeout) bounds the request and
    // reading its answer, so neither garbage collection nor a slow body can outlive it.
    return withDeadline(this.opts.timeoutMs ?? 15_000, undefined, async (signal, deadline) => {
      const res = await this.open(method, path, body, signal);
      if ((res.statusCode ?? 0) >= 400) throw await this.errorFrom(res);
      let text: string;
      try {
        text = await this.text(res);
      } catch (err) {
        // A body cut by the deadline surfaces as a bare "aborted" from node:http: say what happened.
        if (deadline.timedOut) throw new OpsError('OPS_ERR_CONTROLLER_UNREACHABLE', `controller at ${this.baseUrl} did not answer in time`, { retryable: true });
        throw err;
      }
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new OpsError('OPS_ERR_CONTROLLER_RESPONSE', `controller at ${this.baseUrl} answered ${res.statusCode} with non-JSON: ${text.slice(0, 200)}`);
      }
    });
  }

  get<T>(path: string): Promise<T> {
    return this.send<T>('GET', path);
  }

  /**
   * Reads an NDJSON answer line by line (long runs, sweeps). No overall timeout: the caller's
   * signal (Ctrl-C) ends it, which closes the connection and cancels the work server-side.
   */
  async lines(method: string, path: string, body: unknown, onLine: (obj: unknown) => void, signal: AbortSignal): Promise<void> {
    const res = await this.open(method, path, body, signal);
    if ((res.statusCode ?? 0) >= 400) throw await this.errorFrom(res);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) onLine(JSON.parse(line));
      }
    }
    if (buf.trim()) onLine(JSON.parse(buf));
  }

  /** POSTs and reads an NDJSON answer (see `lines`). */
  stream(path: string, body: unknown, onLine: (obj: unknown) => void, signal: AbortSignal): Promise<void> {
    return this.lines('POST', path, body, onLine, signal);
  }
}
