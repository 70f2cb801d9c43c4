import { OpsError } from '../errors.js';
import { compileSafeRegex, type SafeRegex, type SafeRegexOptions } from '../regex.js';

/**
 * Every regex a user writes for logs (parser `regex`, `--regex`, rule `match` values,
 * `multiline.start`) is compiled here, on the linear-time engine of `shared/regex.ts` (RE2
 * semantics): a `(a+)+$` written in a rule cannot pin the agent's core on a hostile log line.
 * A refused pattern throws with RE2's reason and, when the engine names the offending part,
 * its character position in the pattern, so the config error says where to look.
 */
export function compileLogRegex(pattern: string, opts: SafeRegexOptions = {}): SafeRegex {
  try {
    return compileSafeRegex(pattern, opts);
  } catch (err) {
    if (!(err instanceof OpsError)) throw err;
    throw new OpsError('OPS_ERR_LOGS_REGEX', describe(pattern, err.message), { cause: err });
  }
}

/** The problem of a pattern for a zod refinement (undefined when it compiles). */
export function logRegexProblem(pattern: string, opts: SafeRegexOptions = {}): string | undefined {
  try {
    compileLogRegex(pattern, opts);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** RE2 quotes the offending fragment in backticks; find it in the pattern for a position. */
function describe(pattern: string, message: string): string {
  const why = message.replace(/^invalid regex "(?:[^"\\]|\\.)*": /, '');
  const frag = /`([^`]+)`/.exec(why)?.[1]?.replace(/^\(\?[a-z]+\)/, '');
  const at = frag ? pattern.indexOf(frag) : -1;
  return `invalid regex ${JSON.stringify(pattern)}${at >= 0 ? ` at character ${at + 1}` : ''}: ${why}`;
}
