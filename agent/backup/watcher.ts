import type { Logger } from '../../shared/logger.js';
import type { Excluder } from './scan.js';

/** What a watcher reports: changed absolute paths, or that events were lost (rescan everything). */
export interface WatchHandlers {
  onPaths(paths: string[]): void;
  onOverflow(reason: string): void;
}

/**
 * The one small interface both watcher implementations sit behind. Measured (docs/BENCHMARKS.md):
 * chokidar 5 holds one inotify watch per file and ~400 MB RSS for 50,000 files; @parcel/watcher
 * one watch per folder and ~89 MB, so `auto` picks @parcel/watcher and falls back to chokidar
 * when its native binary cannot load.
 */
export interface TreeWatcher {
  readonly kind: 'parcel' | 'chokidar';
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function createWatcher(kind: 'auto' | 'parcel' | 'chokidar', roots: readonly string[], ex: Excluder, h: WatchHandlers, log: Logger): Promise<TreeWatcher> {
  if (kind !== 'chokidar') {
    try {
      const { ParcelTreeWatcher } = await import('./parcel-watcher.js');
      const w = new ParcelTreeWatcher(roots, ex, h);
      await w.probe();
      return w;
    } catch (err) {
      if (kind === 'parcel') throw err;
      log.warn({ err }, '@parcel/watcher unavailable; using chokidar (one inotify watch per file)');
    }
  }
  const { ChokidarTreeWatcher } = await import('./chokidar-watcher.js');
  return new ChokidarTreeWatcher(roots, ex, h);
}
