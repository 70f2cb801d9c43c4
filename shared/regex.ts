import { RE2JS } from 're2js';
import { OpsError } from './errors.js';

/**
 * Regular expressions written by users (silence, route and inhibit matchers, log rules and
 * parsers, API filters, process cmdlines) run on RE2JS: RE2 semantics, matching in time linear
 * in the input, as Prometheus and Alertmanager do. A backtracking `RegExp` on a pattern like
 * `(a+)+$` can pin a core for minutes on a 50-character input; RE2 has no backreferences or
 * lookaround, so such patterns are refused at compile time with a clear message instead.
 *
 * Our own fixed patterns (written in this repository, reviewed) keep using `RegExp`.
 */
export interface SafeRegex {
  /** The pattern as the user wrote it. */
  readonly source: string;
  /** Named capture groups in the pattern, in no particular order. */
  readonly groupNames: readonly string[];
  /** True when the pattern matches anywhere in `input` (unanchored, like `RegExp.test`). */
  test(input: string): boolean;
  /** True when the pattern matches the whole of `input`. */
  matchesWhole(input: string): boolean;
  /** The first match anywhere in `input`, with its named groups, or null. */
  exec(input: string): SafeMatch | null;
}

export interface SafeMatch {
  /** Offset of the match in the input (UTF-16 code units). */
  index: number;
  /** The matched text. */
  text: string;
  /** Named groups; a group that did not take part is undefined. */
  groups: Record<string, string | undefined>;
}

export interface SafeRegexOptions {
  ignoreCase?: boolean;
  /** `.` also matches a newline (the `s` flag). */
  dotAll?: boolean;
  multiline?: boolean;
}

/** Longest pattern accepted; RE2 programs grow with the pattern and a bounded size keeps compile cheap. */
export const MAX_PATTERN_LENGTH = 4096;

/**
 * Compiles a user pattern or throws `OPS_ERR_REGEX_SYNTAX` naming what RE2 refused (e.g.
 * "invalid escape sequence: `\1`" for a backreference). JavaScript's `(?<name>…)` and RE2's
 * `(?P<name>…)` both name groups.
 */
export function compileSafeRegex(pattern: string, opts: SafeRegexOptions = {}): SafeRegex {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new OpsError('OPS_ERR_REGEX_SYNTAX', `regex is ${pattern.length} characters long; at most ${MAX_PATTERN_LENGTH} are allowed`);
  }
  let flags = 0;
  if (opts.ignoreCase) flags |= RE2JS.CASE_INSENSITIVE;
  if (opts.dotAll) flags |= RE2JS.DOTALL;
  if (opts.multiline) flags |= RE2JS.MULTILINE;
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern, flags);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^error parsing regexp: /, '') : String(err);
    throw new OpsError('OPS_ERR_REGEX_SYNTAX', `invalid regex ${JSON.stringify(pattern)}: ${why} (RE2 syntax: no backreferences or lookaround)`, { cause: err });
  }
  const groupNames = Object.keys(re.namedGroups());
  return Object.freeze({
    source: pattern,
    groupNames,
    test: (input: string) => re.matcher(input).find(),
    matchesWhole: (input: string) => re.matches(input),
    exec(input: string): SafeMatch | null {
      const m = re.matcher(input);
      if (!m.find()) return null;
      const groups: Record<string, string | undefined> = {};
      for (const name of groupNames) groups[name] = m.group(name) ?? undefined;
      return { index: m.start(), text: m.group() ?? '', groups };
    },
  });
}

/** A message for a config schema refinement: undefined when the pattern compiles, else why not. */
export function safeRegexProblem(pattern: string, opts: SafeRegexOptions = {}): string | undefined {
  try {
    compileSafeRegex(pattern, opts);
    return undefined;
  } catch (err) {
    return err instanceof OpsError ? err.message : String(err);
  }
}
