import { readFileSync } from 'node:fs';
import { isAlias, isCollection, isMap, isNode, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, OpsError, type ConfigProblem } from '../errors.js';

type PathKey = string | number;

/** Renders a field path the way operators write it: `checks[2].timeout`. */
export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? key : `.${key}`;
  }
  return out;
}

const ENV_RE = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Reads and validates one YAML config file. Every problem in the file is collected (YAML
 * syntax, unknown keys, wrong types, bad durations, missing env vars) and thrown together as a
 * ConfigError whose lines read `FILE:LINE:COL path: message`.
 */
export function loadConfigFile<S extends z.ZodType>(file: string, schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new OpsError('OPS_ERR_CONFIG_READ', `cannot read config file ${file}: ${code ?? String(err)}`, { cause: err });
  }
  return parseConfigText(text, file, schema, env);
}

/** Same as loadConfigFile for text already in memory; `file` only names it in messages. */
export function parseConfigText<S extends z.ZodType>(text: string, file: string, schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const problems: ConfigProblem[] = [];

  for (const e of doc.errors) {
    const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
    // yaml's pretty message repeats the source excerpt after the first line; keep the first.
    problems.push({ file, line: pos.line, col: pos.col, path: '', message: e.message.split('\n')[0]! });
  }
  if (problems.length > 0) throw new ConfigError(file, problems);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (err) {
    // yaml refuses an alias bomb (or any document it cannot build) with a plain error and no
    // position: name the alias that expands most, so it reads like every other config problem.
    const where = biggestAlias(doc, lineCounter);
    const message = where ? `alias *${where.name} expands to ${where.size} nodes: refused as a YAML alias bomb (${(err as Error).message})` : `cannot build the document: ${(err as Error).message}`;
    throw new ConfigError(file, [{ file, line: where?.line ?? 1, col: where?.col ?? 1, path: '', message }]);
  }
  const at = (path: readonly PathKey[]) => positionOf(doc, lineCounter, path);
  const resolved = resolveEnv(raw, [], env, (path, message) => problems.push({ file, ...at(path), path: formatPath(path), message }));

  const result = schema.safeParse(resolved);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.filter((k): k is PathKey => typeof k === 'string' || typeof k === 'number');
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const keyPath = [...path, key];
          problems.push({ file, ...keyPosition(doc, lineCounter, path, key), path: formatPath(keyPath), message: `unknown key "${key}"` });
        }
        continue;
      }
      problems.push({ file, ...at(path), path: formatPath(path), message: describeIssue(issue, resolved, path) });
    }
  }
  if (problems.length > 0) {
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new ConfigError(file, problems);
  }
  return result.data as z.output<S>;
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown, path: PathKey[]): string {
  if (issue.code === 'invalid_type') {
    const value = valueAt(root, path);
    if (value === undefined) return `required (${issue.expected})`;
    return `expected ${issue.expected}, got ${describeValue(value)}`;
  }
  return issue.message;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `string "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return `${typeof v} ${String(v)}`;
}

function valueAt(root: unknown, path: PathKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PathKey, unknown>)[key];
  }
  return cur;
}

/** Position of the deepest existing node on `path` (a missing field points at its parent). */
function positionOf(doc: Document, lc: LineCounter, path: readonly PathKey[]): { line: number; col: number } {
  for (let i = path.length; i >= 0; i--) {
    const node = i === 0 ? doc.contents : doc.getIn(path.slice(0, i), true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]);
  }
  return { line: 1, col: 1 };
}

function keyPosition(doc: Document, lc: LineCounter, parentPath: readonly PathKey[], key: string): { line: number; col: number } {
  const parent = parentPath.length === 0 ? doc.contents : doc.getIn(parentPath, true);
  if (isMap(parent)) {
    for (const pair of parent.items) {
      if (isScalar(pair.key) && String(pair.key.value) === key && pair.key.range) return lc.linePos(pair.key.range[0]);
    }
  }
  return positionOf(doc, lc, parentPath);
}

/** Replaces `${env:NAME}` in every string; a missing variable is a problem, not an empty string. */
function resolveEnv(value: unknown, path: PathKey[], env: NodeJS.ProcessEnv, report: (path: PathKey[], message: string) => void): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_RE, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) {
        report(path, `environment variable ${name} is not set`);
        return '';
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveEnv(v, [...path, i], env, report));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveEnv(v, [...path, k], env, report);
    return out;
  }
  return value;
}

/** Deep-freezes a compiled config so nothing downstream mutates it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

/** Aliases yaml expands before it refuses the document (its resource-exhaustion guard). */
const MAX_ALIAS_COUNT = 100;

/** The alias whose expansion is largest, with its position; node sizes are memoised, so a bomb costs linear time here. */
function biggestAlias(doc: Document, lc: LineCounter): { name: string; size: number; line: number; col: number } | undefined {
  const sizes = new Map<unknown, number>();
  let best: { name: string; size: number; offset: number } | undefined;
  const sizeOf = (node: unknown, depth: number): number => {
    if (depth > 10_000) return 1;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    sizes.set(node, 1); // a cycle counts once
    let n = 1;
    if (isAlias(node)) {
      n = sizeOf(node.resolve(doc), depth + 1);
      if (!best || n > best.size) best = { name: node.source, size: n, offset: node.range?.[0] ?? 0 };
    } else if (isCollection(node)) {
      for (const item of node.items as unknown[]) n += isPair(item) ? sizeOf(item.key, depth + 1) + sizeOf(item.value, depth + 1) : sizeOf(item, depth + 1);
    }
    sizes.set(node, n);
    return n;
  };
  sizeOf(doc.contents, 0);
  if (!best) return undefined;
  const pos = lc.linePos(best.offset);
  return { name: best.name, size: best.size, line: pos.line, col: pos.col };
}
