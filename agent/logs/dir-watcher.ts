import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../../shared/logger.js';

export type DirEvent = (dir: string, name: string | null, type: 'rename' | 'change') => void;

/**
 * inotify watches (fs.watch) on the folders a log source reads from: one watch per folder, not
 * per file. Polling alone misses what happens between two polls (a file truncated and rewritten,
 * a file created, rotated and deleted within one scan_interval); the events let the source look
 * at once. Polling stays the fallback: a folder that cannot be watched (inotify limit, NFS, gone)
 * is only polled, and said so once.
 */
export class DirWatchers {
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly warned = new Set<string>();

  constructor(
    private readonly onEvent: DirEvent,
    private readonly log: Logger,
  ) {}

  /** Watches exactly these folders: new ones are added, ones no longer needed closed. */
  sync(dirs: Iterable<string>): void {
    const want = new Set(dirs);
    for (const [d, w] of this.watchers) {
      if (!want.has(d)) {
        w.close();
        this.watchers.delete(d);
      }
    }
    for (const d of want) {
      if (this.watchers.has(d)) continue;
      try {
        const w = watch(d, { persistent: false }, (type, name) => this.onEvent(d, typeof name === 'string' ? name : null, type === 'change' ? 'change' : 'rename'));
        w.on('error', (err) => {
          // Folder removed or watch revoked: fall back to polling; a later sync retries.
          w.close();
          if (this.watchers.get(d) === w) this.watchers.delete(d);
          this.warnOnce(d, (err as NodeJS.ErrnoException).code ?? 'EIO');
        });
        this.watchers.set(d, w);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
        if (code !== 'ENOENT' && code !== 'ENOTDIR') this.warnOnce(d, code);
      }
    }
  }

  private warnOnce(dir: string, code: string): void {
    const k = `${dir}:${code}`;
    if (this.warned.has(k)) return;
    this.warned.add(k);
    this.log.warn({ dir, code }, 'cannot watch log folder; polling it only (short-lived files may be missed)');
  }

  get size(): number {
    return this.watchers.size;
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
