import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { deepFreeze, loadConfigFile } from '../../shared/config/load.js';
import { tasksFileSchema, type PolicyConfig, type TaskConfig, type TaskRefs } from '../../shared/config/tasks.js';
import { ConfigError, OpsError, type ConfigProblem } from '../../shared/errors.js';

export interface TaskSet {
  tasks: ReadonlyArray<TaskConfig & { file: string }>;
  policies: ReadonlyArray<PolicyConfig & { file: string }>;
  files: readonly string[];
}

/**
 * Loads every *.yaml / *.yml in tasks_dir (sorted). All problems of all files are reported
 * together; names must be unique across files. Throws ConfigError (the caller keeps the
 * previous set), never returns a partial set.
 */
export function loadTasksDir(dir: string, refs: TaskRefs): TaskSet {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    throw new OpsError('OPS_ERR_CONFIG_READ', `cannot read tasks_dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const schema = tasksFileSchema(refs);
  const problems: ConfigProblem[] = [];
  const tasks: Array<TaskConfig & { file: string }> = [];
  const policies: Array<PolicyConfig & { file: string }> = [];
  for (const name of names) {
    const file = join(dir, name);
    try {
      const parsed = loadConfigFile(file, schema);
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
  if (problems.length > 0) throw new ConfigError(dir, problems);
  return deepFreeze({ tasks, policies, files: names.map((n) => join(dir, n)) });
}
