/**
 * One base error for the whole project. Callers branch on `code`, never on message text.
 * Codes are stable strings `OPS_ERR_<AREA>_<WHAT>`; docs/errors.md lists them.
 */
export class OpsError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, opts: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OpsError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}

/** A config file that cannot be used; `problems` holds every `FILE:LINE:COL path: message` line. */
export class ConfigError extends OpsError {
  readonly problems: ConfigProblem[];
  constructor(file: string, problems: ConfigProblem[]) {
    super('OPS_ERR_CONFIG_INVALID', `${file}: ${problems.length} problem(s)\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface ConfigProblem {
  file: string;
  line: number;
  col: number;
  /** Field path like `checks[2].timeout`, empty for the document itself. */
  path: string;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col} ${p.path || '(root)'}: ${p.message}`;
}

/** Renders any thrown value as one line for operators (no stack). */
export function errorLine(err: unknown): string {
  if (err instanceof OpsError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * A config failure as the lines an operator reads: one `FILE:LINE:COL path: message` per
 * problem of a ConfigError, else the error's one line. Used wherever a config is rejected (a
 * daemon's start, `validate`, SIGHUP, the agent's restore/verify, the controller's tasks_dir).
 */
export function problemLines(err: unknown): string[] {
  return err instanceof ConfigError ? err.problems.map(formatProblem) : [errorLine(err)];
}

/**
 * Writes a rejected config's lines to stderr and returns the exit code: 2 (bad configuration)
 * for a ConfigError or any `OPS_ERR_CONFIG_*`, else 1.
 */
export function printConfigError(err: unknown, write: (s: string) => void = (s) => process.stderr.write(s)): 1 | 2 {
  for (const line of problemLines(err)) write(`${line}\n`);
  return err instanceof ConfigError || (err instanceof OpsError && err.code.startsWith('OPS_ERR_CONFIG')) ? 2 : 1;
}
