import { OpsError } from '../../shared/errors.js';

/** What a target expression is matched against. */
export interface TargetHost {
  id: string;
  hostname: string;
  status: string;
  tags: Record<string, string>;
  os?: string;
  arch?: string;
  /** Flat host facts (shared/facts/facts.ts), matched by bare keys no tag has and by `fact:` keys. */
  facts?: Readonly<Record<string, string | number | boolean>>;
}

type Node =
  | { t: 'all' }
  | { t: 'ids'; globs: RegExp[]; text: string }
  | { t: 'kv'; key: string; value: RegExp; text: string }
  | { t: 'cmp'; key: string; op: '>' | '>=' | '<' | '<='; n: number; text: string }
  | { t: 'not'; a: Node }
  | { t: 'and' | 'or'; a: Node; b: Node };

/** Host fields addressable as key=value besides tags (tags win only with the `tag:` prefix). */
const HOST_FIELDS = new Set(['id', 'hostname', 'status', 'os', 'arch']);

const KEY_RE = /^(tag:|fact:)?[A-Za-z0-9_.-]+$/;
/** `key<op>value`; the longest operator first so `>=` is not read as `>` then `=...`. */
const OP_RE = /^([^=!<>]*)(!=|>=|<=|=|>|<)(.*)$/;
const UNITS: Readonly<Record<string, number>> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/** A number with an optional size unit (`4`, `2.5`, `8GiB`, `512Mi`, `16G`); undefined when it is none. */
export function parseTargetNumber(text: string): number | undefined {
  const m = /^(-?\d+(?:\.\d+)?)(k|K|M|G|T|Ki|Mi|Gi|Ti)?B?$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2] ?? '']!;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

interface Token {
  text: string;
  col: number;
}

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(\(|\)|[^\s()]+)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(expr)) !== null) {
    if (m[1] === undefined) break;
    out.push({ text: m[1], col: m.index + m[0].length - m[1].length + 1 });
  }
  return out;
}

export class TargetSyntaxError extends OpsError {
  constructor(expr: string, col: number, message: string) {
    super('OPS_ERR_TARGET_SYNTAX', `target "${expr}": ${message} at column ${col}`);
  }
}

/**
 * Bounds that keep parsing and matching cheap and the recursion shallow: without them 5,000 "("
 * overflowed the stack and `a or a ...` x 20,000 threw a RangeError while matching.
 */
export const TARGET_LIMITS = { maxLength: 4096, maxDepth: 32, maxTerms: 512 } as const;

/**
 * Compiles a target expression: `*`, host id globs and lists (`web-*`, `web-1,web-2`), tags
 * (`role=web`, `tag:role=web`, values may be globs), host fields (`status=online`), host facts
 * (`virtual=kvm`, `fact:os=debian`, docs/facts.md), `key!=value`, numeric comparisons
 * (`cpu_cores>=4`, `mem_total_bytes>8GiB`), combined with `and`, `or`, `not` and parentheses.
 * `not` binds tightest, then `and`, then `or`.
 */
export function compileTarget(expr: string): (h: TargetHost) => boolean {
  if (expr.length > TARGET_LIMITS.maxLength) throw new TargetSyntaxError(`${expr.slice(0, 40)}…`, TARGET_LIMITS.maxLength + 1, `expression is ${expr.length} characters, more than ${TARGET_LIMITS.maxLength}`);
  const tokens = tokenize(expr);
  if (tokens.length === 0) throw new TargetSyntaxError(expr, 1, 'empty expression');
  const terms = tokens.filter((t) => t.text !== '(' && t.text !== ')' && !['and', 'or', 'not'].includes(t.text.toLowerCase())).length;
  if (terms > TARGET_LIMITS.maxTerms) throw new TargetSyntaxError(`${expr.slice(0, 40)}…`, 1, `expression has ${terms} terms, more than ${TARGET_LIMITS.maxTerms}`);
  let i = 0;
  let depth = 0;
  const deeper = (tok: Token) => {
    if (++depth > TARGET_LIMITS.maxDepth) throw new TargetSyntaxError(expr.length > 80 ? `${expr.slice(0, 40)}…` : expr, tok.col, `nested more than ${TARGET_LIMITS.maxDepth} levels deep`);
  };
  const peek = () => tokens[i];
  const kw = (t: Token | undefined, k: string) => t !== undefined && t.text.toLowerCase() === k;
  const endCol = expr.length + 1;

  function parseOr(): Node {
    let left = parseAnd();
    while (kw(peek(), 'or')) {
      i++;
      left = { t: 'or', a: left, b: parseAnd() };
    }
    return left;
  }
  function parseAnd(): Node {
    let left = parseNot();
    while (kw(peek(), 'and')) {
      i++;
      left = { t: 'and', a: left, b: parseNot() };
    }
    return left;
  }
  function parseNot(): Node {
    if (kw(peek(), 'not')) {
      deeper(peek()!);
      i++;
      const a = parseNot();
      depth--;
      return { t: 'not', a };
    }
    return parsePrimary();
  }
  function parsePrimary(): Node {
    const tok = tokens[i];
    if (!tok) throw new TargetSyntaxError(expr, endCol, 'expected a host, tag or "(" but the expression ended');
    if (tok.text === '(') {
      deeper(tok);
      i++;
      const inner = parseOr();
      const close = tokens[i];
      if (!close || close.text !== ')') throw new TargetSyntaxError(expr, close?.col ?? endCol, 'expected ")"');
      i++;
      depth--;
      return inner;
    }
    if (tok.text === ')' || kw(tok, 'and') || kw(tok, 'or')) throw new TargetSyntaxError(expr, tok.col, `unexpected "${tok.text}"`);
    i++;
    return atom(tok);
  }
  function atom(tok: Token): Node {
    const text = tok.text;
    if (text === '*') return { t: 'all' };
    const m = OP_RE.exec(text);
    if (m) {
      const [, key, op, value] = m as unknown as [string, string, '!=' | '>=' | '<=' | '=' | '>' | '<', string];
      const valueCol = tok.col + key.length + op.length;
      if (!KEY_RE.test(key)) throw new TargetSyntaxError(expr, tok.col, `bad key "${key}"`);
      if (value === '') throw new TargetSyntaxError(expr, valueCol, `missing value after "${key}${op}"`);
      if (op === '=' || op === '!=') {
        const kv: Node = { t: 'kv', key, value: globToRegExp(value), text };
        return op === '=' ? kv : { t: 'not', a: kv };
      }
      const n = parseTargetNumber(value);
      if (n === undefined) throw new TargetSyntaxError(expr, valueCol, `"${op}" compares numbers; "${value}" is not a number (like 4, 2.5, 8GiB)`);
      return { t: 'cmp', key, op, n, text };
    }
    const parts = text.split(',');
    if (parts.some((p) => !/^[A-Za-z0-9_*?.-]+$/.test(p))) throw new TargetSyntaxError(expr, tok.col, `"${text}" is not a host id, glob or list`);
    return { t: 'ids', globs: parts.map(globToRegExp), text };
  }

  const tree = parseOr();
  if (i < tokens.length) throw new TargetSyntaxError(expr, tokens[i]!.col, `unexpected "${tokens[i]!.text}" (combine terms with and/or)`);
  return (h) => evaluate(tree, h);
}

/** The value a key names: `tag:` and `fact:` say where; a bare key is a host field, else a tag, else a fact. */
function lookup(key: string, h: TargetHost): string | number | boolean | undefined {
  if (key.startsWith('tag:')) return h.tags[key.slice(4)];
  if (key.startsWith('fact:')) return h.facts?.[key.slice(5)];
  if (HOST_FIELDS.has(key)) return (h as unknown as Record<string, string | undefined>)[key];
  return h.tags[key] ?? h.facts?.[key];
}

function evaluate(n: Node, h: TargetHost): boolean {
  switch (n.t) {
    case 'all':
      return true;
    case 'ids':
      return n.globs.some((g) => g.test(h.id));
    case 'kv': {
      // `os` is the platform on the host record (linux) and the distribution among the facts
      // (debian, like Salt's os grain): either matching keeps `os=linux` targets working.
      if (n.key === 'os' && h.facts?.os !== undefined && n.value.test(String(h.facts.os))) return true;
      const v = lookup(n.key, h);
      return v !== undefined && n.value.test(String(v));
    }
    case 'cmp': {
      const raw = lookup(n.key, h);
      const v = typeof raw === 'number' ? raw : typeof raw === 'string' ? parseTargetNumber(raw) : undefined;
      if (v === undefined) return false;
      return n.op === '>' ? v > n.n : n.op === '>=' ? v >= n.n : n.op === '<' ? v < n.n : v <= n.n;
    }
    case 'not':
      return !evaluate(n.a, h);
    case 'and':
      return evaluate(n.a, h) && evaluate(n.b, h);
    case 'or':
      return evaluate(n.a, h) || evaluate(n.b, h);
  }
}
