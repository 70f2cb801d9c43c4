import { OpsError } from '../../shared/errors.js';

/** An API error with its HTTP status; the body is `{ error: { code, message } }`. */
export class HttpError extends OpsError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    /** Extra response headers (Retry-After, WWW-Authenticate). */
    readonly headers: Record<string, string> = {},
  ) {
    super(code, message);
  }
}
