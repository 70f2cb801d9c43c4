import { OpsError } from '../../shared/errors.js';

/** Thin client of the controller's HTTP API, turning transport failures into one clear error. */
export class ControllerClient {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 15_000,
  ) {}

  async get<T>(path: string): Promise<T> {
    const url = new URL(path, this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`);
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new OpsError('OPS_ERR_CONTROLLER_UNREACHABLE', `cannot reach controller at ${this.baseUrl} (${why})`, { cause: err, retryable: true });
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new OpsError('OPS_ERR_CONTROLLER_RESPONSE', `controller at ${this.baseUrl} answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const e = (body as { error?: { code?: string; message?: string } }).error;
      throw new OpsError(e?.code ?? 'OPS_ERR_CONTROLLER_RESPONSE', e?.message ?? `HTTP ${res.status}`);
    }
    return body as T;
  }
}
