import { OpsError } from '../errors.js';
import { compileSafeRegex, type SafeRegex } from '../regex.js';

export type MatchOp = '=' | '!=' | '=~' | '!~';

/** A label matcher as Alertmanager writes it: `host=web-01`, `alertname=~Disk.*`, `env!=dev`. */
export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
}

export type Labels = Readonly<Record<string, string>>;
export type CompiledMatcher = Matcher & { test: (labels: Labels) => boolean };

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Compiles one matcher; regexes are anchored like Alertmanager's and run on RE2 (linear time).
 * Throws OPS_ERR_ALERT_MATCHER for a bad name or operator, OPS_ERR_REGEX_SYNTAX for a pattern RE2 refuses.
 */
export function compileMatcher(m: Matcher): CompiledMatcher {
  if (!NAME_RE.test(m.name)) throw new OpsError('OPS_ERR_ALERT_MATCHER', `invalid label name "${m.name}" in matcher`);
  let test: (labels: Labels) => boolean;
  if (m.op === '=' || m.op === '!=') {
    const eq = m.op === '=';
    test = (l) => ((l[m.name] ?? '') === m.value) === eq;
  } else if (m.op === '=~' || m.op === '!~') {
    let re: SafeRegex;
    try {
      // RE2 semantics (linear time): a silence like alertname=~(a+)+$ must not pin a core.
      // Anchored like Alertmanager's: the whole label value must match.
      re = compileSafeRegex(m.value);
    } catch (err) {
      const why = err instanceof OpsError ? err.message : String(err);
      throw new OpsError('OPS_ERR_REGEX_SYNTAX', `matcher ${m.name}${m.op}${JSON.stringify(m.value)}: ${why}`, { cause: err });
    }
    const eq = m.op === '=~';
    test = (l) => re.matchesWhole(l[m.name] ?? '') === eq;
  } else {
    throw new OpsError('OPS_ERR_ALERT_MATCHER', `unknown matcher operator "${String(m.op)}"`);
  }
  return { ...m, test };
}

/** Parses `name=value`, `name!=value`, `name=~regex`, `name!~regex` (value may be quoted). */
export function parseMatcher(text: string): Matcher {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/.exec(text);
  if (!m) throw new OpsError('OPS_ERR_ALERT_MATCHER', `expected a matcher like host=web-01 or alertname=~"Disk.*", got "${text}"`);
  let value = m[3]!;
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  const matcher = { name: m[1]!, op: m[2] as MatchOp, value };
  compileMatcher(matcher);
  return matcher;
}

export function formatMatcher(m: Matcher): string {
  return `${m.name}${m.op}${/^[\w.:/-]*$/.test(m.value) ? m.value : JSON.stringify(m.value)}`;
}

/** Equality and regex maps from config (`match`, `match_re`) as matchers. */
export function matchersFromConfig(eq: Record<string, string>, re: Record<string, string> = {}): CompiledMatcher[] {
  return [
    ...Object.entries(eq).map(([name, value]) => compileMatcher({ name, op: '=', value })),
    ...Object.entries(re).map(([name, value]) => compileMatcher({ name, op: '=~', value })),
  ];
}

export function matchAll(ms: readonly CompiledMatcher[], labels: Labels): boolean {
  for (const m of ms) if (!m.test(labels)) return false;
  return true;
}
