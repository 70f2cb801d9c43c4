import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface AlertJson {
  status: string;
  labels: Record<string, string>;
}
interface HostJson {
  id: string;
  status: string;
  lastSeen: string;
}

/** Writes to `file` until the file system says ENOSPC; returns the bytes written. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (const size of [1024 * 1024, 4096, 512]) {
      const buf = Buffer.alloc(size, 1);
      for (;;) {
        try {
          written += writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/**
 * A real full file system: the agent's state dir on a 32 MiB tmpfs mounted for this test (the
 * suite runs as root, like the agent on a server), filled to the last byte by another writer.
 */
describe('agent on a full disk', () => {
  const dir = tempDir('opsfleet-diskfull-');
  const mnt = join(dir.path, 'small-fs');
  let nats: NatsServer;
  let ctl: ControllerProc;
  let agent: AgentProc;
  let mounted = false;

  before(async () => {
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mnt]);
    mounted = true;
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, offlineAfter: '3s' });
    agent = await startAgent({
      natsUrl: nats.url,
      dir: dir.path,
      id: 'full-01',
      heartbeat: '300ms',
      stateDir: join(mnt, 'state'),
      extraYaml: 'metrics: { interval: 200ms }',
    });
  });

  after(async () => {
    await agent?.child.stop();
    await ctl?.child.stop();
    await nats?.dispose();
    if (mounted) execFileSync('umount', ['-l', mnt]);
    dir.cleanup();
  });

  it('keeps the host online, raises AgentDiskFull, logs ENOSPC once per interval, and recovers when space is back', async () => {
    await waitFor(async () => (await api<HostJson[]>(ctl.url, '/api/v1/hosts')).find((h) => h.id === 'full-01' && h.status === 'online'), { timeout: 30_000, what: 'host online' });
    const filler = join(mnt, 'filler');
    assert.ok(fill(filler) > 0);

    const alert = await waitFor(async () => (await api<AlertJson[]>(ctl.url, '/api/v1/alerts')).find((a) => a.labels.alertname === 'AgentDiskFull' && a.labels.host === 'full-01' && a.status === 'firing'), { timeout: 30_000, what: 'AgentDiskFull firing' });
    assert.equal(alert.labels.severity, 'critical');

    // Three times offline_after on a full disk: heartbeats still arrive, the host never goes offline.
    const until = Date.now() + 9000;
    let lastSeen = 0;
    while (Date.now() < until) {
      const h = (await api<HostJson[]>(ctl.url, '/api/v1/hosts')).find((x) => x.id === 'full-01')!;
      assert.equal(h.status, 'online', 'host went offline while its disk was full');
      lastSeen = Math.max(lastSeen, Date.parse(h.lastSeen));
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(Date.now() - lastSeen < 3000, `last heartbeat ${Date.now() - lastSeen} ms ago`);

    // Metrics fail every 200 ms while full: one error line per distinct error, not one per tick.
    const errors = agent.child.logs().filter((l) => l.level === 50);
    const byMsg = new Map<string, number>();
    for (const l of errors) byMsg.set(String(l.msg), (byMsg.get(String(l.msg)) ?? 0) + 1);
    for (const [msg, n] of byMsg) assert.ok(n <= 3, `"${msg}" logged ${n} times in ~10 s`);

    rmSync(filler);
    await waitFor(async () => (await api<AlertJson[]>(ctl.url, '/api/v1/alerts?state=all')).find((a) => a.labels.alertname === 'AgentDiskFull' && a.status === 'resolved'), { timeout: 30_000, what: 'AgentDiskFull resolved' });
    await agent.child.waitForLog((l) => l.msg === 'disk space is back; every event is recorded again', 10_000);
  });
});
