import { OpsError } from '../shared/errors.js';

/** Thin client of the controller's HTTP API, turning transport failures into one clear error. */
export class ControllerClient {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 15_000,
  ) {}

  private url(path: string): URL {
    return new URL(path, this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`);
  }

  private async fetch(method: string, path: string, body: unknown, signal: AbortSignal): Promise<Response> {
    try {
      return await fetch(this.url(path), {
        method,
        signal,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err; // the caller cancelled (Ctrl-C)
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new OpsError('OPS_ERR_CONTROLLER_UNREACHABLE', `cannot reach controller at ${this.baseUrl} (${why})`, { cause: err, retryable: true });
    }
  }

  private async errorFrom(res: Response): Promise<OpsError> {
    const text = await res.text();
    try {
      const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
      return new OpsError(e?.code ?? 'OPS_ERR_CONTROLLER_RESPONSE', e?.message ?? `HTTP ${res.status}`);
    } catch {
      return new OpsError('OPS_ERR_CONTROLLER_RESPONSE', `controller at ${this.baseUrl} answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
  }

  /** One JSON request; API errors become OpsError with the API's code. */
  async send<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.fetch(method, path, body, AbortSignal.timeout(this.timeoutMs));
    if (!res.ok) throw await this.errorFrom(res);
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new OpsError('OPS_ERR_CONTROLLER_RESPONSE', `controller at ${this.baseUrl} answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
  }

  get<T>(path: string): Promise<T> {
    return this.send<T>('GET', path);
  }

  /**
   * POSTs and reads an NDJSON answer line by line (long runs). No overall timeout: the caller's
   * signal (Ctrl-C) ends it, which closes the connection and cancels the run server-side.
   */
  async stream(path: string, body: unknown, onLine: (obj: unknown) => void, signal: AbortSignal): Promise<void> {
    const res = await this.fetch('POST', path, body, signal);
    if (!res.ok) throw await this.errorFrom(res);
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
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
}
