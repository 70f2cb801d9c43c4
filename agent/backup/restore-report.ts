import type { Manifest } from './types.js';

/** What a restore does with a path that already exists (not a folder): keep it, replace it when older, always replace it. */
export const OVERWRITE_POLICIES = ['never', 'older', 'always'] as const;
export type OverwritePolicy = (typeof OVERWRITE_POLICIES)[number];

/** At most this many failed and kept paths are listed in a result (the counts are exact). */
export const LISTED = 1000;

export interface RestoreFailure {
  /** Archive path ('' for a problem of a whole archive). */
  path: string;
  code: string;
  reason: string;
}

export interface RestoreResult {
  snapshot: string;
  time: string;
  to: string;
  overwrite: OverwritePolicy;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  bytes: number;
  /** Existing files or links that were replaced (policy older or always). */
  overwritten: number;
  /** Existing files or links left as they were (policy never, or older and not older). */
  kept: number;
  keptPaths: string[];
  /** Paths not restored because something went wrong, and problems of whole archives. */
  failed: number;
  failures: RestoreFailure[];
}

/** Collects what a restore did per path: restored, kept by the overwrite policy, or failed (and why). */
export class RestoreReport {
  private readonly done = new Set<string>();
  private readonly keptSet = new Set<string>();
  private readonly failures = new Map<string, RestoreFailure>();
  private readonly problems: RestoreFailure[] = [];
  private readonly counts = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytes: 0, overwritten: 0 };

  constructor(
    private readonly m: Manifest,
    private readonly to: string,
    readonly overwrite: OverwritePolicy,
  ) {}

  restored(path: string, kind: 'file' | 'dir' | 'symlink' | 'hardlink', bytes: number, overwrote: boolean): void {
    // A later copy of a path (a file re-read while archived) replaces the earlier one: count once.
    this.failures.delete(path);
    if (this.done.has(path)) return;
    this.done.add(path);
    if (kind === 'dir') this.counts.dirs++;
    else if (kind === 'symlink') this.counts.symlinks++;
    else if (kind === 'hardlink') this.counts.hardlinks++;
    else this.counts.files++;
    this.counts.bytes += bytes;
    if (overwrote) this.counts.overwritten++;
  }

  /** Did this restore already write `path`? (Its own earlier copy is not "existing".) */
  wrote(path: string): boolean {
    return this.done.has(path);
  }

  kept(path: string): void {
    this.keptSet.add(path);
  }

  fail(path: string, code: string, reason: string): void {
    if (!this.done.has(path)) this.failures.set(path, { path, code, reason });
  }

  problem(code: string, reason: string): void {
    this.problems.push({ path: '', code, reason });
  }

  settled(path: string): boolean {
    return this.done.has(path) || this.keptSet.has(path) || this.failures.has(path);
  }

  result(): RestoreResult {
    const failures = [...this.problems, ...this.failures.values()];
    return {
      snapshot: this.m.id,
      time: this.m.time,
      to: this.to,
      overwrite: this.overwrite,
      ...this.counts,
      kept: this.keptSet.size,
      keptPaths: [...this.keptSet].slice(0, LISTED),
      failed: failures.length,
      failures: failures.slice(0, LISTED),
    };
  }
}

/** The report as lines for a terminal: a summary, then what was not restored and what was kept. */
export function reportLines(r: RestoreResult, max = 50): { out: string[]; err: string[] } {
  const show = (p: string) => JSON.stringify(p);
  const out = [
    `restored snapshot ${r.snapshot} (${r.time}) into ${r.to}: ${r.files} files, ${r.dirs} folders, ${r.symlinks} symlinks, ${r.hardlinks} hard links, ${r.bytes} bytes; checksums verified` +
      `; overwrite ${r.overwrite}: ${r.overwritten} replaced, ${r.kept} existing kept; ${r.failed} not restored`,
  ];
  for (const p of r.keptPaths.slice(0, max)) out.push(`KEPT ${show(p)}: exists (--overwrite ${r.overwrite})`);
  if (r.kept > max) out.push(`KEPT … and ${r.kept - max} more`);
  const err: string[] = [];
  for (const f of r.failures.slice(0, max)) err.push(`NOT RESTORED ${f.path ? show(f.path) : '(archive)'}: ${f.code} ${f.reason}`);
  if (r.failed > max) err.push(`NOT RESTORED … and ${r.failed - max} more`);
  return { out, err };
}
