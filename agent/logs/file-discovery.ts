import { readdirSync, statSync, type Dirent } from 'node:fs';
import { dirname, join } from 'node:path';
import picomatch from 'picomatch';

export interface DiscoveryResult {
  files: string[];
  /** Directories or files that could not be listed/stat'ed (EACCES...), by path. */
  errors: Array<{ path: string; code: string }>;
}

/**
 * Expands a source's absolute globs into regular files, minus the excludes. Each glob is walked
 * from its static base directory only as deep as it can match ("**" walks everything below).
 * A glob matching nothing is an empty result, not an error: the files may appear later.
 */
export class FileDiscovery {
  private readonly globs: Array<{ base: string; isGlob: boolean; depth: number; match: (p: string) => boolean }>;
  private readonly excluded: (p: string) => boolean;

  constructor(paths: readonly string[], exclude: readonly string[]) {
    this.globs = paths.map((p) => {
      const s = picomatch.scan(p);
      const glob = s.glob;
      const depth = glob.includes('**') ? Infinity : glob.split('/').length;
      return { base: s.isGlob ? s.base || '/' : p, isGlob: s.isGlob, depth, match: picomatch(p, { dot: true }) };
    });
    const byName = exclude.length ? picomatch(exclude as string[], { basename: true, dot: true }) : () => false;
    this.excluded = (p) => byName(p);
  }

  /** Whether a path is one the globs take (and no exclude removes). */
  matches(path: string): boolean {
    return !this.excluded(path) && this.globs.some((g) => (g.isGlob ? g.match(path) : g.base === path));
  }

  /** The directories whose entries can match directly: a literal path's folder, a glob's static base. */
  baseDirs(): string[] {
    return [...new Set(this.globs.map((g) => (g.isGlob ? g.base : dirname(g.base))))];
  }

  scan(): DiscoveryResult {
    const files = new Set<string>();
    const errors: DiscoveryResult['errors'] = [];
    for (const g of this.globs) {
      if (!g.isGlob) {
        try {
          if (statSync(g.base).isFile() && !this.excluded(g.base)) files.add(g.base);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
          if (code !== 'ENOENT') errors.push({ path: g.base, code });
        }
        continue;
      }
      this.walk(g.base, 1, g, files, errors);
    }
    return { files: [...files].sort(), errors };
  }

  private walk(dir: string, level: number, g: (typeof this.globs)[number], out: Set<string>, errors: DiscoveryResult['errors']): void {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      if (code !== 'ENOENT' && code !== 'ENOTDIR') errors.push({ path: dir, code });
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (level < g.depth) this.walk(p, level + 1, g, out, errors);
      } else if ((e.isFile() || e.isSymbolicLink()) && g.match(p) && !this.excluded(p)) {
        if (e.isSymbolicLink()) {
          try {
            if (!statSync(p).isFile()) continue;
          } catch {
            continue;
          }
        }
        out.add(p);
      }
    }
  }
}
