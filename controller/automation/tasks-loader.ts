import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deepFreeze, parseConfigText } from '../../shared/config/load.js';
import { tasksFileSchema, type PolicyConfig, type TaskConfig, type TaskRefs } from '../../shared/config/tasks.js';
import { ConfigError, OpsError, type ConfigProblem } from '../../shared/errors.js';

export interface TaskSet {
  tasks: ReadonlyArray<TaskConfig & { file: string }>;
  policies: ReadonlyArray<PolicyConfig & { file: string }>;
  files: readonly string[];
}

/** One file of a task set: its name in tasks_dir and its text (what the control log carries). */
export interface TaskFile {
  name: string;
  text: string;
}

/** The *.yaml / *.yml files of tasks_dir (sorted by name), read once: what is parsed is what is hashed and replicated. */
export function readTasksDir(dir: string): TaskFile[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    throw new OpsError('OPS_ERR_CONFIG_READ', `cannot read tasks_dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  return names.map((name) => {
    const file = join(dir, name);
    try {
      return { name, text: readFileSync(file, 'utf8') };
    } catch (err) {
      throw new OpsError('OPS_ERR_CONFIG_READ', `cannot read tasks file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
  });
}

/** A task set's identity: SHA-256 over the files' names and texts, in name order. */
export function taskFilesHash(files: readonly TaskFile[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) h.update(`${f.name}\0${f.text}\0`);
  return h.digest('hex');
}

/**
 * Parses task files with the tasks schema (each as `pathOf(name)` in messages and in each
 * entry's `file`). All problems of all files are reported together; names must be unique
 * across files. Throws ConfigError (the caller keeps the previous set), never returns a
 * partial set.
 */
export function parseTaskFiles(files: readonly TaskFile[], refs: TaskRefs, pathOf: (name: string) => string): TaskSet {
  const schema = tasksFileSchema(refs);
  const problems: ConfigProblem[] = [];
  const tasks: Array<TaskConfig & { file: string }> = [];
  const policies: Array<PolicyConfig & { file: string }> = [];
  for (const f of files) {
    const file = pathOf(f.name);
    try {
      const parsed = parseConfigText(f.text, file, schema);
      tasks.push(...parsed.tasks.map((t) => ({ ...t, file })));
      policies.push(...parsed.policies.map((p) => ({ ...p, file })));
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
    }
  }
  const dup = (kind: string, list: Array<{ name: string; file: string }>) => {
    const seen = new Map<string, string>();
    for (const x of list) {
      const first = seen.get(x.name);
      if (first) problems.push({ file: x.file, line: 1, col: 1, path: `${kind}.${x.name}`, message: `duplicate ${kind.slice(0, -1)} name "${x.name}" (first in ${first})` });
      else seen.set(x.name, x.file);
    }
  };
  dup('tasks', tasks);
  dup('policies', policies);
  if (problems.length > 0) throw new ConfigError(pathOf(''), problems);
  return deepFreeze({ tasks, policies, files: files.map((f) => pathOf(f.name)) });
}

/** Loads every *.yaml / *.yml in tasks_dir (sorted); see parseTaskFiles. */
export function loadTasksDir(dir: string, refs: TaskRefs): TaskSet {
  return parseTaskFiles(readTasksDir(dir), refs, (name) => join(dir, name));
}

/** A file whose entries were kept because it lost all of them (see keepEmptiedFiles). */
export interface KeptFile {
  file: string;
  tasks: number;
  policies: number;
}

/**
 * A tasks file that had entries and now has none is far more often caught mid-write (an
 * editor truncating before it writes, `> file` in a script) than emptied on purpose: reloading
 * it as is would silently stop its tasks and policies. Keeps the previous entries of every such
 * file (unless their names now live in another file: a move), so the caller can warn and the
 * operator can force the empty version. A file that was removed is taken as meant.
 */
export function keepEmptiedFiles(prev: TaskSet, next: TaskSet): { set: TaskSet; kept: KeptFile[] } {
  const kept: KeptFile[] = [];
  const names = new Set([...next.tasks.map((t) => `t:${t.name}`), ...next.policies.map((p) => `p:${p.name}`)]);
  const tasks = [...next.tasks];
  const policies = [...next.policies];
  for (const file of next.files) {
    const before = { tasks: prev.tasks.filter((t) => t.file === file), policies: prev.policies.filter((p) => p.file === file) };
    if (before.tasks.length + before.policies.length === 0) continue;
    if (next.tasks.some((t) => t.file === file) || next.policies.some((p) => p.file === file)) continue;
    const t = before.tasks.filter((x) => !names.has(`t:${x.name}`));
    const p = before.policies.filter((x) => !names.has(`p:${x.name}`));
    if (t.length + p.length === 0) continue;
    tasks.push(...t);
    policies.push(...p);
    kept.push({ file, tasks: t.length, policies: p.length });
  }
  if (kept.length === 0) return { set: next, kept };
  return { set: deepFreeze({ tasks, policies, files: [...next.files] }), kept };
}
