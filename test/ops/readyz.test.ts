import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { api, startController, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface Ready {
  status: string;
  checks: Record<string, { ok: boolean; detail: string }>;
}

/** /readyz is open (no token): a load balancer or a probe calls it bare. */
async function readyz(url: string): Promise<{ code: number; body: Ready }> {
  const res = await fetch(`${url}/readyz`);
  return { code: res.status, body: (await res.json()) as Ready };
}

describe('controller /readyz (liveness stays /healthz)', () => {
  const dir = tempDir();
  const dir2 = tempDir();
  let nats: NatsServer | undefined;
  let ctl: ControllerProc | undefined;
  let ctl2: ControllerProc | undefined;
  after(async () => {
    await ctl?.child.stop();
    await ctl2?.child.stop();
    await nats?.dispose();
    dir.cleanup();
    dir2.cleanup();
  });

  it('200 when NATS, database and disk are fine; 503 naming NATS while the broker is down (and /healthz still 200); 200 again after', async () => {
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path });
    const up = await waitFor(async () => {
      const r = await readyz(ctl!.url);
      return r.code === 200 ? r : undefined;
    }, { timeout: 60_000, what: '/readyz 200' });
    assert.equal(up.body.status, 'ready');
    assert.deepEqual(Object.fromEntries(Object.entries(up.body.checks).map(([k, v]) => [k, v.ok])), { nats: true, database: true, disk: true });
    assert.equal(up.body.checks.database!.detail, 'writable');
    assert.match(up.body.checks.disk!.detail, /MiB free under .* \(disk_guard\.min_free 1024 MiB\)/);

    await nats.stop();
    const down = await waitFor(async () => {
      const r = await readyz(ctl!.url);
      return r.code === 503 ? r : undefined;
    }, { timeout: 60_000, what: '/readyz 503 with NATS down' });
    assert.equal(down.body.status, 'not_ready');
    assert.equal(down.body.checks.nats!.ok, false);
    assert.match(down.body.checks.nats!.detail, /NATS/);
    assert.equal(down.body.checks.database!.ok, true);
    const live = await fetch(`${ctl.url}/healthz`);
    assert.equal(live.status, 200, 'liveness is not readiness: the process is alive');
    await live.arrayBuffer();

    await nats.restart();
    await waitFor(async () => (await readyz(ctl!.url)).code === 200, { timeout: 60_000, what: '/readyz 200 after NATS is back' });
  });

  it('a data_dir below disk_guard.min_free: /readyz 503 on disk and ControllerDiskLow fires', async () => {
    ctl2 = await startController({ natsUrl: nats!.url, dir: dir2.path, extraYaml: 'disk_guard: { min_free: 1000TiB, check_interval: 1s }' });
    const r = await waitFor(async () => {
      const x = await readyz(ctl2!.url);
      return x.body.checks.disk?.ok === false ? x : undefined;
    }, { timeout: 30_000, what: 'disk check failing' });
    assert.equal(r.code, 503);
    assert.match(r.body.checks.disk!.detail, /MiB free under .*disk_guard\.min_free 1048576000 MiB/);
    await waitFor(async () => (await api<Array<{ labels: Record<string, string> }>>(ctl2!.url, '/api/v1/alerts')).some((a) => a.labels.alertname === 'ControllerDiskLow'), { timeout: 30_000, what: 'ControllerDiskLow firing' });
  });
});
