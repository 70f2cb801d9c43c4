import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import Database from 'better-sqlite3';
import { Event, EventBatch } from '../../shared/events/codec.js';
import { eventId, eventSubject } from '../../shared/nats/subjects.js';
import { api, authHeaders, createToken, runCommand, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface Manifest {
  counts: Record<string, number>;
  audit: { rows: number; hash: string };
  files: Array<{ path: string }>;
}

const rows = (file: string, sql: string, ...args: unknown[]) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).get(...args) as Record<string, number>;
  } finally {
    db.close();
  }
};

describe('controller backup while ingesting, restore onto a fresh machine, agents carry on', () => {
  const first = tempDir('opsfleet-ctl-a-');
  const second = tempDir('opsfleet-ctl-b-');
  let nats: NatsServer | undefined;
  let nats2: NatsServer | undefined;
  let ctl: ControllerProc | undefined;
  let ctl2: ControllerProc | undefined;
  let agent: AgentProc | undefined;
  after(async () => {
    await agent?.child.stop();
    await ctl?.child.stop();
    await ctl2?.child.stop();
    await nats?.dispose();
    await nats2?.dispose();
    first.cleanup();
    second.cleanup();
  });

  it('backup at load, restore, counts and audit verify equal, the agent outbox delivers what queued while the controller was gone', async () => {
    // The NATS authority lives in the controller's data_dir, as in production, so the backup
    // carries it and the fresh broker below trusts the restored controller and the same agents.
    nats = await NatsServer.start({ operator: { authorityDir: join(first.path, 'controller-data', 'nats-auth') } });
    ctl = await startController({ natsUrl: nats.url, dir: first.path });
    agent = await startAgent({ natsUrl: nats.url, dir: first.path, id: 'web-1', heartbeat: '200ms' });
    await waitFor(async () => (await api<Array<{ id: string; status: string }>>(ctl!.url, '/api/v1/hosts')).some((h) => h.id === 'web-1' && h.status === 'online'), { timeout: 30_000, what: 'web-1 online' });
    // History the restore must bring back: a token (and its audit row), a silence, an alert.
    await createToken(ctl.url, { name: 'ops-bot', role: 'operator' });
    const sil = await runCommand('opsctl', ['--controller', ctl.url, 'silence', 'add', '--match', 'host=web-1', '--for', '2h', '--comment', 'maintenance']);
    assert.equal(sil.code, 0, sil.stderr);
    const alert = await fetch(`${ctl.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders(ctl.url) }, body: JSON.stringify([{ labels: { alertname: 'DiskFull', host: 'web-1' } }]) });
    assert.equal(alert.status, 200, await alert.text());

    // Load: batches of events from 20 more hosts published as fast as the broker takes them
    // while the backup runs in its own process.
    const nc = await connect(nats.connectOptions());
    const js = jetstream(nc);
    let loading = true;
    let published = 0;
    const load = (async () => {
      let seq = 0;
      while (loading) {
        const host = `load-${seq % 20}`;
        const events = Array.from({ length: 50 }, () => {
          seq++;
          return Event.fromPartial({ id: eventId(host, 'i', seq), hostId: host, instanceId: 'i', seq, tsMs: Date.now(), kind: 'metric', json: '{"cpu":{"percent":3}}' });
        });
        await js.publish(eventSubject('metric', host), EventBatch.encode({ events }).finish());
        published += events.length;
      }
    })();
    const dataDir = join(first.path, 'controller-data');
    await waitFor(() => rows(join(dataDir, 'controller.db'), "SELECT COUNT(*) AS n FROM events WHERE kind = 'metric'").n! > 2000, { timeout: 60_000, what: 'ingest under way' });
    const archive = join(first.path, 'ctl-backup.tar.gz');
    const b = await runCommand('opsfleet-controller', ['backup', '--config', ctl.configFile, '--to', archive, '--json'], {}, 120_000);
    const duringBackup = published;
    await waitFor(() => published > duringBackup + 500, { timeout: 30_000, what: 'ingest still publishing after the backup' });
    loading = false;
    await load;
    await nc.close();
    assert.equal(b.code, 0, b.stderr);
    const manifest = (JSON.parse(b.stdout) as { manifest: Manifest }).manifest;
    assert.ok(manifest.counts.events! > 2000, `events in the snapshot: ${manifest.counts.events}`);
    for (const t of ['hosts', 'silences', 'alerts', 'audit_log', 'api_tokens']) assert.ok(manifest.counts[t]! > 0, `${t} in the backup`);
    assert.ok(manifest.files.some((f) => f.path === 'data/admin.token'));
    const v = await runCommand('opsfleet-controller', ['verify', archive], {}, 120_000);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /backup ok/);

    // The machine is lost: controller and broker gone, the agent keeps recording into its outbox.
    await ctl.child.stop();
    ctl = undefined;
    const port = nats.port;
    await nats.dispose();
    nats = undefined;
    const gone = Date.now();
    await new Promise((r) => setTimeout(r, 1500));

    // A fresh machine: restore into a new data_dir, a new broker (empty store) on the same address.
    const restoredDir = join(second.path, 'controller-data');
    const r = await runCommand('opsfleet-controller', ['restore', archive, '--data-dir', restoredDir], {}, 120_000);
    assert.equal(r.code, 0, r.stderr);
    const again = await runCommand('opsfleet-controller', ['restore', archive, '--data-dir', restoredDir], {}, 60_000);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /OPS_ERR_CTL_RESTORE_NOT_EMPTY: data dir .* is not empty/);
    const restoredDb = join(restoredDir, 'controller.db');
    for (const [t, n] of Object.entries(manifest.counts)) assert.equal(rows(restoredDb, `SELECT COUNT(*) AS n FROM "${t}"`).n, n, `rows of ${t}`);

    nats2 = NatsServer.create(port);
    await nats2.useOperator(join(restoredDir, 'nats-auth'));
    await nats2.restart();
    ctl2 = await startController({ natsUrl: nats2.url, dir: second.path });
    const verify = await runCommand('opsctl', ['--controller', ctl2.url, 'audit', 'verify']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /audit log ok/);
    const silences = await api<Array<{ comment: string }>>(ctl2.url, '/api/v1/silences');
    assert.ok(silences.some((s) => s.comment === 'maintenance'));
    const tokens = await runCommand('opsctl', ['--controller', ctl2.url, 'tokens', 'list']);
    assert.match(tokens.stdout, /ops-bot/);
    // The agent never stopped: what it recorded while nothing was listening arrives now.
    await waitFor(() => rows(join(restoredDir, 'controller.db'), "SELECT COUNT(*) AS n FROM events WHERE host_id = 'web-1' AND kind = 'hb' AND ts_ms > ? AND received_ms > ts_ms + 500", gone).n! > 0, { timeout: 60_000, what: 'heartbeats queued in the outbox during the outage delivered to the restored controller' });
    await waitFor(async () => (await api<Array<{ id: string; status: string }>>(ctl2!.url, '/api/v1/hosts')).some((h) => h.id === 'web-1' && h.status === 'online'), { timeout: 30_000, what: 'web-1 online on the restored controller' });
  });
});
