import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BackupSet } from '../../agent/backup/backup-set.js';
import { restoreSnapshot } from '../../agent/backup/restore.js';
import { DirTarget } from '../../shared/backup/targets/dir.js';
import { verifySet } from '../../agent/backup/verify.js';
import { createRootLogger } from '../../shared/logger.js';
import { Child } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { RecordingSink } from '../health/recording-sink.js';
import { diffTrees, setConfig } from './helpers.js';

describe('files that change while they are archived', () => {
  const tmp = tempDir('opsfleet-changing-');
  after(() => tmp.cleanup());

  it('never give a snapshot that fails its checksums; the next snapshot has the final content', async () => {
    const src = join(tmp.path, 'src');
    const targetDir = join(tmp.path, 'target');
    mkdirSync(src);
    // Large (streamed in 1 MB chunks) and small (read whole) files, appended to without pause.
    writeFileSync(join(src, 'big.log'), Buffer.alloc(6 * 1024 * 1024, 65));
    writeFileSync(join(src, 'small.log'), 'start\n');
    const writer = new Child('/bin/sh', ['-c', `while :; do echo "line $(date +%s%N)" >> ${join(src, 'big.log')}; echo x >> ${join(src, 'small.log')}; done`]);
    const set = new BackupSet({
      cfg: setConfig({ name: 'busy', paths: [src], debounce: '1h', max_delay: '1h', target: { type: 'dir', path: targetDir } }),
      hostId: 'h7',
      stateDir: join(tmp.path, 'state'),
      sink: new RecordingSink(),
      logger: createRootLogger({ name: 'test', level: 'silent' }),
    });
    await set.start();
    const target = new DirTarget({ type: 'dir', path: targetDir, prefix: '{host}/{name}' }, { host: 'h7', set: 'busy' });
    try {
      for (let i = 0; i < 3; i++) assert.ok(await set.snapshotNow(), `snapshot ${i} while the files change`);
      await writer.stop();
      const v = await verifySet(target, { readData: true });
      assert.deepEqual(v.problems, [], 'every archive and file matches its manifest checksums');
      assert.ok(await set.snapshotNow(), 'a snapshot after the writer stopped');
      const out = join(tmp.path, 'out');
      await restoreSnapshot(target, { to: out });
      assert.equal(diffTrees(src, join(out, src.slice(1))), '', 'the final content is restored exactly');
    } finally {
      await writer.stop();
      await set.stop();
    }
  });
});
