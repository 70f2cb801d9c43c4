import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { tempDir } from '../../test/helpers/tmp.js';
import { openDatabase } from '../store/db.js';
import { restoreBackup, verifyBackup } from './restore-backup.js';
import { SelfBackupScheduler } from './scheduler.js';

const dir = tempDir('opsfleet-selfbackup-sched-');
after(() => dir.cleanup());

describe('scheduled controller backup (controller/selfbackup/scheduler.ts)', () => {
  it('each run stores a verified archive on the target (the agents\' dir target code) and keeps the newest `keep`', async () => {
    const dataDir = join(dir.path, 'data');
    openDatabase(dataDir).close();
    const target = join(dir.path, 'target');
    const configFile = join(dir.path, 'controller.yaml');
    writeFileSync(configFile, `data_dir: ${dataDir}\n# the operator's config, carried like backup --to carries it\n`);
    let t = Date.UTC(2026, 11, 2, 3, 0, 0);
    const s = new SelfBackupScheduler({
      cfg: { name: 'controller', schedule: '0 3 * * *', target: { type: 'dir', path: target, prefix: '{host}/{name}' }, keep: 2, method: 'vacuum-into' },
      dataDir,
      configFile,
      logger: pino({ level: 'silent' }),
      now: () => (t += 86_400_000),
    });
    for (let i = 0; i < 3; i++) await s.runNow();
    assert.deepEqual([s.status.runs, s.status.failures], [3, 0]);
    const where = join(target, hostname(), 'controller', 'controller');
    const names = readdirSync(where).sort();
    assert.deepEqual(names, ['controller-20261204T030000000Z.tar.gz', 'controller-20261205T030000000Z.tar.gz'], 'the oldest of three removed');
    for (const n of names) assert.equal((await verifyBackup(join(where, n))).ok, true);
    const restored = await restoreBackup({ file: join(where, names[1]!), dataDir: join(dir.path, 'restored'), configTo: join(dir.path, 'restored.yaml') });
    assert.equal(restored.manifest.source.config_file, configFile);
    assert.equal(readFileSync(restored.configWritten!, 'utf8'), readFileSync(configFile, 'utf8'), 'the scheduled backup carries the config file');
    assert.deepEqual(readdirSync(join(dataDir, '.self-backup', 'controller')), [], 'the local copy is removed after upload');
  });

  it('a failing target is reported (ControllerBackupFailed) and the next run tries again', async () => {
    const dataDir = join(dir.path, 'data2');
    openDatabase(dataDir).close();
    // A file where the target folder should be (/proc would do too, but mkdir -p there hangs in Node 20).
    const blocker = join(dir.path, 'not-a-folder');
    writeFileSync(blocker, 'x');
    const failures: string[] = [];
    const s = new SelfBackupScheduler({
      cfg: { name: 'controller', schedule: '0 3 * * *', target: { type: 'dir', path: blocker, prefix: '' }, keep: 2, method: 'vacuum-into' },
      dataDir,
      configFile: undefined,
      logger: pino({ level: 'silent' }),
      onFailure: (e) => failures.push(e),
    });
    await s.runNow();
    await s.runNow();
    assert.deepEqual([s.status.runs, s.status.failures], [2, 2]);
    assert.equal(failures.length, 2);
    assert.match(failures[0]!, /dir .*not-a-folder.*ENOTDIR/);
  });
});
