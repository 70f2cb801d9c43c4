import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand, startController, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The scheduled self_backup of the real controller carries its config file like
 * `opsfleet-controller backup --to` does (one rule: backupSources in create-backup.ts), so a
 * restore from the backup target alone gets the controller back with its config.
 */
describe('scheduled controller backup carries the config file (real controller, restore CLI)', () => {
  const dir = tempDir('opsfleet-selfbackup-config-');
  const target = join(dir.path, 'target');
  let nats: NatsServer;
  let ctl: ControllerProc;

  before(async () => {
    nats = await NatsServer.start();
    // Every 2 s (six-field cron): the first run comes within the test's wait.
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, extraYaml: `self_backup:\n  - { name: nightly, schedule: "*/2 * * * * *", target: { type: dir, path: "${target}", prefix: "" }, keep: 100 }` });
  });
  after(async () => {
    await ctl?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  it('restore --config-to of a scheduled archive writes the controller config it ran with', async () => {
    const where = join(target, 'controller');
    const archive = await waitFor(() => (existsSync(where) ? readdirSync(where).find((n) => /^controller-.*\.tar\.gz$/.test(n)) : undefined), { timeout: 30_000, what: 'a scheduled archive on the target' });
    await waitFor(() => ctl.child.logs().some((l) => l.msg === 'controller backup stored'), { timeout: 10_000, what: 'the upload finished' });
    const configTo = join(dir.path, 'restored', 'controller.yaml');
    const r = await runCommand('opsfleet-controller', ['restore', join(where, archive), '--data-dir', join(dir.path, 'restored', 'data'), '--config-to', configTo], {}, 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /config written to /);
    assert.equal(readFileSync(configTo, 'utf8'), readFileSync(ctl.configFile, 'utf8'));
    // keep: 100 so retention does not remove the archive while the test reads it.
    const verify = await runCommand('opsfleet-controller', ['verify', join(where, archive), '--json'], {}, 60_000);
    const manifest = (JSON.parse(verify.stdout) as { manifest: { source: { config_file?: string }; files: Array<{ path: string }> } }).manifest;
    assert.equal(manifest.source.config_file, ctl.configFile);
    assert.ok(manifest.files.some((f) => f.path === 'config/controller.yaml'));
  });
});
