import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { EventBatch } from '../../shared/gen/opsfleet/v1/events.js';
import { eventSubject } from '../../shared/nats/subjects.js';
import { api, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Issue 20 item 7: a FIFO beside a tailed log used to hang the whole agent. Truncating the log
 * makes the agent look for a copytruncate copy among the log's siblings, and it opened every
 * `app.log*` name blocking before checking its type: open() of a FIFO without a writer never
 * returns, so heartbeats, checks and gRPC stopped. Runs the real agent: heartbeats must keep
 * flowing and tailing must go on.
 */
describe('a FIFO, a socket-like or device name beside a tailed log never blocks the agent', () => {
  const dir = tempDir('opsfleet-logs-fifo-');
  let nats: NatsServer;
  let ctl: ControllerProc;
  let agent: AgentProc | undefined;
  let nc: NatsConnection | undefined;
  const logDir = join(dir.path, 'applogs');

  before(async () => {
    mkdirSync(logDir, { recursive: true });
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, offlineAfter: '60s' });
  });

  after(async () => {
    await nc?.close();
    // SIGKILL at once when the agent is stuck in open(): it cannot run its SIGTERM handler.
    await agent?.child.stop(2000);
    await ctl?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  it('mkfifo app.log.pipe, then truncate app.log: heartbeats keep coming, lines after the truncation arrive', async () => {
    const log = join(logDir, 'app.log');
    writeFileSync(log, Array.from({ length: 5 }, (_, i) => `2024-01-02 03:04:05,000 INFO [m] a.B - before ${i}\n`).join(''));
    agent = await startAgent({
      natsUrl: nats.url,
      dir: dir.path,
      id: 'fifo-host',
      heartbeat: '200ms',
      extraYaml: [
        'logs:',
        '  - name: app',
        `    paths: ["${log}"]`,
        '    start_at: beginning',
        '    ship_lines: true',
        '    parser: { preset: log4j }',
        '    poll_interval: 50ms',
        '    scan_interval: 100ms',
      ].join('\n'),
    });
    const lines = () => api<Array<{ message: string }>>(ctl.url, '/api/v1/logs/lines?source=app&limit=1000');
    await waitFor(async () => (await lines()).length === 5, { timeout: 30_000, what: 'the 5 first lines at the controller' });

    nc = await connect(nats.connectOptions());
    const beats = new Set<number>();
    const sub = nc.subscribe(eventSubject('hb', 'fifo-host'));
    void (async () => {
      for await (const m of sub) for (const e of EventBatch.decode(m.data).events) beats.add(e.seq);
    })();

    execFileSync('mkfifo', [join(logDir, 'app.log.pipe')]);
    truncateSync(log, 0);
    // The agent notices the truncation and searches the siblings for a copy (the FIFO among them).
    await agent.child.waitForLog((l) => l.msg === 'log file truncated and no copy found; reading it from the start', 20_000, 'truncation handled');
    const seen = beats.size;
    await waitFor(() => beats.size >= seen + 5, { timeout: 20_000, what: `5 more heartbeats after the truncation (had ${seen}, agent stuck in open()?)` });
    appendFileSync(log, '2024-01-02 03:04:06,000 ERROR [m] a.B - after the truncation\n');
    await waitFor(async () => (await lines()).some((l) => l.message === 'after the truncation'), { timeout: 20_000, what: 'a line written after the truncation' });
    assert.equal(agent.child.running, true);
  });
});
