import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BackupSet } from '../../agent/backup/backup-set.js';
import { restoreSnapshot } from '../../agent/backup/restore.js';
import { selectRetention, type RetainedSnapshot } from '../../agent/backup/retention.js';
import { DirTarget } from '../../shared/backup/targets/dir.js';
import { createRootLogger } from '../../shared/logger.js';
import { tempDir } from '../helpers/tmp.js';
import { RecordingSink } from '../health/recording-sink.js';
import { diffTrees, setConfig, write } from './helpers.js';

const DAY = 86_400_000;
const policy = (p: Partial<{ keep_last: number; keep_daily: number; keep_weekly: number; keep_monthly: number }>) => ({ keep_last: 1, keep_daily: 0, keep_weekly: 0, keep_monthly: 0, ...p });

describe('retention policy', () => {
  // One full each Monday (UTC), an incremental every other day.
  const t0 = Date.UTC(2026, 0, 5, 12); // Monday
  const snaps: RetainedSnapshot[] = [];
  let lastFull = '';
  for (let d = 0; d < 70; d++) {
    const id = `s${String(d).padStart(3, '0')}`;
    const full = d % 7 === 0;
    snaps.push({ id, type: full ? 'full' : 'incremental', parent: full ? null : snaps[snaps.length - 1]!.id, time_ms: t0 + d * DAY });
    if (full) lastFull = id;
  }

  it('keep_last keeps the newest and, through their chain, their full', () => {
    const { keep, remove } = selectRetention(snaps, policy({ keep_last: 2 }));
    assert.deepEqual([...keep].sort(), ['s063', 's064', 's065', 's066', 's067', 's068', 's069']);
    assert.equal(lastFull, 's063');
    assert.equal(remove.length, 63);
    assert.equal(remove[0], 's000', 'oldest first');
  });

  it('keep_daily / keep_weekly / keep_monthly keep one per bucket, newest of each, plus ancestors', () => {
    const { keep } = selectRetention(snaps, policy({ keep_daily: 3 }));
    assert.ok(keep.has('s069') && keep.has('s068') && keep.has('s067'));
    const weekly = selectRetention(snaps, policy({ keep_weekly: 3 })).keep;
    // Newest of each of the last 3 ISO weeks: s069 (week of s063), s062, s055; plus their chains.
    for (const id of ['s069', 's062', 's055', 's063', 's056', 's049']) assert.ok(weekly.has(id), id);
    assert.ok(!weekly.has('s048'));
    const monthly = selectRetention(snaps, policy({ keep_monthly: 12 })).keep;
    // Jan, Feb, Mar 2026 → newest of each month kept.
    const months = new Set([...monthly].map((id) => new Date(snaps.find((s) => s.id === id)!.time_ms).toISOString().slice(0, 7)));
    assert.deepEqual([...months].sort(), ['2026-01', '2026-02', '2026-03']);
  });

  it('never removes a snapshot a kept incremental depends on', () => {
    for (const p of [policy({ keep_last: 5 }), policy({ keep_daily: 9 }), policy({ keep_weekly: 2, keep_last: 1 })]) {
      const { keep } = selectRetention(snaps, p);
      for (const id of keep) {
        const s = snaps.find((x) => x.id === id)!;
        if (s.parent) assert.ok(keep.has(s.parent), `${id} kept but its parent ${s.parent} is not`);
      }
    }
  });
});

describe('retention applied on a dir target', () => {
  const tmp = tempDir('opsfleet-retention-');
  after(() => tmp.cleanup());

  it('deletes expired chains (manifest and archive), reports them, and the newest still restores', async () => {
    const src = join(tmp.path, 'src');
    const targetDir = join(tmp.path, 'target');
    mkdirSync(src);
    const sink = new RecordingSink();
    const set = new BackupSet({
      cfg: setConfig({ name: 'r', paths: [src], debounce: '1h', max_delay: '1h', full_after: 2, retention: { keep_last: 2, keep_daily: 0, keep_weekly: 0, keep_monthly: 0 }, target: { type: 'dir', path: targetDir } }),
      hostId: 'h5',
      stateDir: join(tmp.path, 'state'),
      sink,
      logger: createRootLogger({ name: 'test', level: 'silent' }),
    });
    await set.start();
    const ids: string[] = [];
    try {
      for (let i = 0; i < 7; i++) {
        write(src, `f${i}.txt`, `version ${i}\n`);
        const m = await set.snapshotNow();
        ids.push(m!.id);
      }
    } finally {
      await set.stop();
    }
    // F0 I1 I2 F3 I4 I5 F6: keep_last 2 keeps F6 and I5, and I5 needs I4 and F3.
    const files = readdirSync(join(targetDir, 'h5', 'r', 'snapshots')).sort();
    const expected = ids.slice(3).flatMap((id) => [`${id}.json`, `${id}.tar.gz`]).sort();
    assert.deepEqual(files, expected);
    const pruned = sink.events.filter((e) => e.kind === 'backup' && e.body?.event === 'pruned').flatMap((e) => e.body!.ids as string[]);
    assert.deepEqual(pruned.sort(), ids.slice(0, 3).sort());
    const out = join(tmp.path, 'out');
    await restoreSnapshot(new DirTarget({ type: 'dir', path: targetDir, prefix: '{host}/{name}' }, { host: 'h5', set: 'r' }), { to: out, snapshot: ids[5] });
    assert.ok(existsSync(join(out, src.slice(1), 'f5.txt')));
    assert.ok(!existsSync(join(out, src.slice(1), 'f6.txt')));
    const out2 = join(tmp.path, 'out2');
    await restoreSnapshot(new DirTarget({ type: 'dir', path: targetDir, prefix: '{host}/{name}' }, { host: 'h5', set: 'r' }), { to: out2 });
    assert.equal(diffTrees(src, join(out2, src.slice(1))), '');
  });
});
