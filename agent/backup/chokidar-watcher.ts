import { watch, type FSWatcher } from 'chokidar';
import type { Excluder } from './scan.js';
import type { TreeWatcher, WatchHandlers } from './watcher.js';

/** chokidar 5: pure JS, one inotify watch per file (heavier; see watcher.ts). */
export class ChokidarTreeWatcher implements TreeWatcher {
  readonly kind = 'chokidar' as const;
  private w: FSWatcher | undefined;

  constructor(
    private readonly roots: readonly string[],
    private readonly ex: Excluder,
    private readonly h: WatchHandlers,
  ) {}

  async start(): Promise<void> {
    const w = watch([...this.roots], {
      ignoreInitial: true,
      followSymlinks: false,
      persistent: true,
      ignored: (p: string) => this.ex.excluded(p),
    });
    w.on('all', (_ev, path) => this.h.onPaths([path]));
    w.on('error', (err) => this.h.onOverflow((err as Error).message));
    this.w = w;
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
  }

  async stop(): Promise<void> {
    await this.w?.close();
    this.w = undefined;
  }
}
