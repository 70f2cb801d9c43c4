import type { AsyncSubscription } from '@parcel/watcher';
import type { Excluder } from './scan.js';
import type { TreeWatcher, WatchHandlers } from './watcher.js';

type ParcelModule = typeof import('@parcel/watcher');

/** @parcel/watcher: native, one inotify watch per folder, events batched by the library. */
export class ParcelTreeWatcher implements TreeWatcher {
  readonly kind = 'parcel' as const;
  private mod: ParcelModule | undefined;
  private subs: AsyncSubscription[] = [];

  constructor(
    private readonly roots: readonly string[],
    private readonly ex: Excluder,
    private readonly h: WatchHandlers,
  ) {}

  /** Loads the native module (throws when the prebuilt binary does not fit this machine). */
  async probe(): Promise<void> {
    const m = (await import('@parcel/watcher')) as ParcelModule & { default?: ParcelModule };
    this.mod = m.default ?? m;
  }

  async start(): Promise<void> {
    if (!this.mod) await this.probe();
    for (const root of this.roots) {
      this.subs.push(
        await this.mod!.subscribe(root, (err, events) => {
          // The library reports lost events (inotify queue overflow) as an error: rescan.
          if (err) return this.h.onOverflow(err.message);
          const paths = events.map((e) => e.path).filter((p) => !this.ex.excluded(p));
          if (paths.length) this.h.onPaths(paths);
        }),
      );
    }
  }

  async stop(): Promise<void> {
    const subs = this.subs;
    this.subs = [];
    await Promise.all(subs.map((s) => s.unsubscribe().catch(() => undefined)));
  }
}
