import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BackupSet } from '../../agent/backup/backup-set.js';
import { restoreSnapshot } from '../../agent/backup/restore.js';
import { DirTarget } from '../../shared/backup/targets/dir.js';
import type { Manifest } from '../../agent/backup/types.js';
import { Alert_State } from '../../shared/gen/opsfleet/v1/events.js';
import { createRootLogger } from '../../shared/logger.js';
import { REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { RecordingSink } from '../health/recording-sink.js';
import { diffTrees, setConfig, write } from './helpers.js';

const logger = createRootLogger({ name: 'test', level: 'silent' });
const NOBODY = 65534;

interface FixtureOut {
  uid: number;
  manifest: { id: string; type: string; skipped?: Array<{ path: string; error: string }>; skipped_total?: number; paths: string[] } | null;
  events: Array<{ kind: string; body?: Record<string, unknown>; alert?: { state: number; labels: Record<string, string> } }>;
}

describe('an unreadable file or folder is skipped, recorded and alerted; the rest is backed up (run as a non-root uid)', () => {
  const tmp = tempDir('opsfleet-backup-partial-');
  const src = join(tmp.path, 'src');
  const targetDir = join(tmp.path, 'target');
  const stateDir = join(tmp.path, 'state');
  const cfg = JSON.stringify({ name: 'p', paths: [src], debounce: '1h', max_delay: '1h', verify: { interval: '0s' }, target: { type: 'dir', path: targetDir } });
  /** One snapshot by the real BackupSet in a process running as `nobody`, which cannot read mode-000 files. */
  const runAsNobody = (): FixtureOut => {
    const out = execFileSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '--import', 'tsx', join(REPO_ROOT, 'test/backup/fixtures/snapshot-once.ts'), cfg, stateDir], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    return JSON.parse(out.trim().split('\n').pop()!) as FixtureOut;
  };
  const chownTree = (p: string) => execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, p]);

  before(() => {
    write(src, 'readable.txt', 'fine\n');
    write(src, 'secret.txt', 'no one but root\n');
    write(src, 'locked/inner.txt', 'behind a locked folder\n');
    mkdirSync(targetDir);
    mkdirSync(stateDir);
    chownTree(tmp.path);
    chmodSync(tmp.path, 0o755);
    chmodSync(join(src, 'secret.txt'), 0o000);
    chmodSync(join(src, 'locked'), 0o000);
  });
  after(() => tmp.cleanup());

  it('skips what cannot be read, lists it in the manifest, fires BackupPartial; the next snapshot takes it and resolves', () => {
    const first = runAsNobody();
    assert.equal(first.uid, NOBODY);
    assert.ok(first.manifest, 'a snapshot was stored despite the unreadable paths');
    const rel = src.slice(1);
    assert.ok(first.manifest.paths.includes(`${rel}/readable.txt`));
    assert.ok(!first.manifest.paths.includes(`${rel}/secret.txt`));
    assert.deepEqual(first.manifest.skipped?.map((s) => s.path).sort(), [`${rel}/locked`, `${rel}/secret.txt`]);
    assert.ok(first.manifest.skipped?.every((s) => /EACCES/.test(s.error)), JSON.stringify(first.manifest.skipped));
    // The manifest on the target says so too (what a restore from the target alone sees).
    const onTarget = JSON.parse(readFileSync(join(targetDir, 'h1', 'p', 'snapshots', `${first.manifest.id}.json`), 'utf8')) as Manifest;
    assert.equal(onTarget.skipped_total, 2);
    const partial = first.events.find((e) => e.kind === 'backup' && e.body?.event === 'partial');
    assert.equal(partial?.body?.skipped, 2);
    const alert = first.events.find((e) => e.kind === 'alert' && e.alert?.labels.alertname === 'BackupPartial');
    assert.equal(alert?.alert?.state, Alert_State.STATE_FIRING);
    assert.equal(alert?.alert?.labels.severity, 'warning');
    assert.ok(!first.events.some((e) => e.alert?.labels.alertname === 'BackupFailed'), 'not a failure: the set keeps working');

    chmodSync(join(src, 'secret.txt'), 0o644);
    chmodSync(join(src, 'locked'), 0o755);
    const second = runAsNobody();
    assert.ok(second.manifest);
    assert.equal(second.manifest.type, 'incremental');
    assert.deepEqual(second.manifest.paths.filter((p) => !p.endsWith('/locked')).sort(), [`${rel}/locked/inner.txt`, `${rel}/secret.txt`]);
    assert.equal(second.manifest.skipped, undefined);
    const resolved = second.events.find((e) => e.kind === 'alert' && e.alert?.labels.alertname === 'BackupPartial');
    assert.equal(resolved?.alert?.state, Alert_State.STATE_RESOLVED, 'resolved after a restart of the set: the state db remembers it fired');
  });
});

describe('a wiped target: the next snapshot is a full with an alert; verify runs on a schedule and catches a damaged chain', () => {
  const tmp = tempDir('opsfleet-backup-chain-');
  const src = join(tmp.path, 'src');
  const targetDir = join(tmp.path, 'target');
  const sink = new RecordingSink();
  let set: BackupSet;
  const snaps = () => join(targetDir, 'h1', 'c', 'snapshots');
  const alerts = (name: string) => sink.events.filter((e) => e.kind === 'alert' && e.payload.alert?.labels.alertname === name).map((e) => e.payload.alert!.state);

  before(async () => {
    write(src, 'a.txt', 'one\n');
    set = new BackupSet({
      cfg: setConfig({ name: 'c', paths: [src], debounce: '1h', max_delay: '1h', verify: { interval: '400ms' }, target: { type: 'dir', path: targetDir } }),
      hostId: 'h1',
      stateDir: join(tmp.path, 'state'),
      sink,
      logger,
    });
    await set.start();
  });
  after(async () => {
    await set?.stop();
    tmp.cleanup();
  });

  it('rm -rf of the target, then a change: a full (not an incremental on a missing parent), BackupChainBroken, and it restores', async () => {
    const full = await set.snapshotNow({ rethrow: true });
    write(src, 'b.txt', 'two\n');
    const inc = await set.snapshotNow({ rethrow: true });
    assert.equal(inc?.type, 'incremental');
    assert.equal(inc?.parent, full?.id);
    rmSync(targetDir, { recursive: true });
    write(src, 'c.txt', 'three\n');
    const after = await set.snapshotNow({ rethrow: true });
    assert.equal(after?.type, 'full', 'an incremental whose parent is gone would be unrestorable');
    assert.equal(alerts('BackupChainBroken').filter((s) => s === Alert_State.STATE_FIRING).length, 1);
    const ev = sink.events.find((e) => e.body?.event === 'chain_broken');
    assert.match(String(ev?.body?.reason), new RegExp(`snapshot ${inc!.id}, the parent the next incremental needs, is not on dir`));
    write(src, 'd.txt', 'four\n');
    const next = await set.snapshotNow({ rethrow: true });
    assert.equal(next?.type, 'incremental');
    assert.equal(next?.parent, after?.id);
    const out = join(tmp.path, 'out');
    const target = new DirTarget({ type: 'dir', path: targetDir, prefix: '{host}/{name}' }, { host: 'h1', set: 'c' });
    const r = await restoreSnapshot(target, { to: out });
    assert.equal(r.failed, 0);
    assert.equal(diffTrees(src, join(out, src.slice(1))), '');
  });

  it('verify runs by itself (verify.interval); a lost archive of the newest chain fires BackupVerifyFailed and forces a full; a clean run resolves', async () => {
    await waitFor(() => sink.events.some((e) => e.body?.event === 'verified' && e.body.problems_total === 0), { timeout: 30_000, what: 'a scheduled verify' });
    await waitFor(() => {
      const s = alerts('BackupChainBroken');
      return s.lastIndexOf(Alert_State.STATE_RESOLVED) > s.indexOf(Alert_State.STATE_FIRING);
    }, { timeout: 30_000, what: 'a clean verify resolving BackupChainBroken' });
    const newest = set.lastSnapshotId();
    const parent = (JSON.parse(readFileSync(join(snaps(), `${newest}.json`), 'utf8')) as Manifest).parent!;
    rmSync(join(snaps(), `${parent}.tar.gz`));
    await waitFor(() => alerts('BackupVerifyFailed').includes(Alert_State.STATE_FIRING), { timeout: 30_000, what: 'BackupVerifyFailed' });
    write(src, 'e.txt', 'five\n');
    const m = await set.snapshotNow({ rethrow: true });
    assert.equal(m?.type, 'full', 'the next snapshot does not build on a damaged chain');
    // Retention would keep the damaged chain; remove it by hand, as the operator would.
    rmSync(join(snaps(), `${parent}.json`));
    rmSync(join(snaps(), `${newest}.json`));
    rmSync(join(snaps(), `${newest}.tar.gz`));
    const before = sink.events.length;
    await waitFor(() => sink.events.slice(before).some((e) => e.body?.event === 'verified' && e.body.problems_total === 0), { timeout: 30_000, what: 'a clean verify' });
    await waitFor(() => alerts('BackupVerifyFailed').at(-1) === Alert_State.STATE_RESOLVED, { timeout: 5_000, what: 'BackupVerifyFailed resolved' });
  });
});
