import { OpsError } from '../../shared/errors.js';

/**
 * A refusal by authentication or authorization, with the HTTP status the API answers (401, 403,
 * 429) and headers (WWW-Authenticate, Retry-After). Its own class so that controller/auth does
 * not depend on controller/api (the API depends on auth, one way).
 */
export class AuthError extends OpsError {
  constructor(
    readonly status: 401 | 403 | 429,
    code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(code, message);
  }
}
