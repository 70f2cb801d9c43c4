import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CheckRunner } from '../../agent/health/check-runner.js';
import { CheckStateMachine } from '../../agent/health/state-machine.js';
import { RestartBudget } from '../../agent/health/restart-budget.js';
import { checkSchema } from '../../shared/config/health.js';
import { Alert_State } from '../../shared/gen/opsfleet/v1/events.js';
import { createRootLogger } from '../../shared/logger.js';
import { waitFor } from '../helpers/wait.js';
import { RecordingSink } from './recording-sink.js';

const logger = createRootLogger({ name: 'test', level: 'silent' });

describe('check state machine', () => {
  it('unknown → up on the first success; down only after `failures` in a row; up after `successes`', () => {
    const sm = new CheckStateMachine(3, 2);
    assert.deepEqual(sm.observe('fail'), undefined);
    assert.deepEqual(sm.observe('ok'), { from: 'unknown', to: 'up', streak: 1 });
    assert.equal(sm.observe('fail'), undefined);
    assert.equal(sm.observe('fail'), undefined);
    assert.equal(sm.observe('ok'), undefined, 'a success resets the failure streak');
    sm.observe('fail');
    sm.observe('fail');
    assert.deepEqual(sm.observe('fail'), { from: 'up', to: 'down', streak: 3 });
    assert.equal(sm.observe('fail'), undefined);
    assert.equal(sm.observe('ok'), undefined);
    assert.equal(sm.observe('fail'), undefined, 'a failure resets the success streak');
    assert.equal(sm.observe('warn'), undefined);
    assert.deepEqual(sm.observe('ok'), { from: 'down', to: 'up', streak: 2 });
  });

  it('restart budget: at most max within the sliding window', () => {
    let now = 0;
    const b = new RestartBudget(2, 1000, () => now);
    assert.equal(b.spend(), 1);
    now = 400;
    assert.equal(b.spend(), 2);
    assert.equal(b.canRestart(), false);
    assert.equal(b.msUntilAvailable(), 600);
    now = 1001;
    assert.equal(b.canRestart(), true);
    assert.equal(b.used(), 1);
  });
});

describe('check runner', () => {
  let server: Server;
  let base = '';
  let healthy = true;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      res.statusCode = healthy ? 200 : 500;
      res.end(healthy ? 'ok' : 'broken');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('goes down after `failures`, fires CheckDown, recovers after `successes` and resolves it', async () => {
    const sink = new RecordingSink();
    const r = new CheckRunner({ cfg: checkSchema.parse({ name: 'web', type: 'http', url: `${base}/healthz`, interval: '100ms', timeout: '1s', failures: 3, successes: 2, severity: 'warning' }), sink, logger });
    healthy = true;
    r.start();
    try {
      await waitFor(() => r.snapshot().state === 'up', { what: 'up' });
      healthy = false;
      await waitFor(() => r.snapshot().state === 'down', { what: 'down' });
      healthy = true;
      await waitFor(() => r.snapshot().state === 'up', { what: 'up again' });
    } finally {
      await r.stop();
    }
    const transitions = sink.checks('web', 'transition').map((e) => [e.from, e.state, e.attempt]);
    assert.deepEqual(transitions, [['unknown', 'up', 1], ['up', 'down', 3], ['down', 'up', 2]]);
    const down = sink.checks('web', 'transition')[1]!;
    assert.equal(down.detail, 'HTTP 500');
    const alerts = sink.alerts('CheckDown');
    assert.deepEqual(alerts.map((a) => a.state), [Alert_State.STATE_FIRING, Alert_State.STATE_RESOLVED]);
    assert.deepEqual(alerts[0]!.labels, { alertname: 'CheckDown', check: 'web', check_type: 'http', severity: 'warning' });
    // Results are reported on change; the transitions carry the rest.
    assert.ok(sink.checks('web', 'result').length >= 1);
  });

  it('a check that hangs forever is cut at its timeout while another keeps its schedule', async () => {
    const sink = new RecordingSink();
    const hang = new CheckRunner({ cfg: checkSchema.parse({ name: 'hang', type: 'http', url: `${base}/hang`, interval: '200ms', timeout: '300ms', failures: 2 }), sink, logger });
    const fast = new CheckRunner({ cfg: checkSchema.parse({ name: 'fast', type: 'tcp', host: '127.0.0.1', port: Number(new URL(base).port), interval: '100ms', timeout: '1s', report_every: '1s' }), sink, logger });
    const started = performance.now();
    hang.start();
    fast.start();
    try {
      await waitFor(() => hang.snapshot().state === 'down', { timeout: 5000, what: 'hanging check down' });
      const elapsed = performance.now() - started;
      // Two probes of 300ms each (plus scheduling): far from "forever", and never more than ~2 timeouts + 2 intervals.
      assert.ok(elapsed < 1500, `down after ${elapsed}ms`);
      const fastProbes = fast.stats.probes;
      assert.ok(fastProbes >= 5, `the fast check probed ${fastProbes} times meanwhile`);
      assert.match(hang.snapshot().detail, /timed out after 300ms/);
      assert.equal(fast.snapshot().state, 'up');
    } finally {
      await Promise.all([hang.stop(), fast.stop()]);
    }
    assert.equal(hang.stats.abandoned, 0, 'the http probe honoured its abort signal');
  });

  it('a probe that ignores its abort signal is abandoned right after the timeout', async () => {
    const sink = new RecordingSink();
    const r = new CheckRunner({
      cfg: checkSchema.parse({ name: 'stuck', type: 'command', command: 'true', interval: '100ms', timeout: '100ms', failures: 1 }),
      sink,
      logger,
      probe: () => new Promise(() => undefined),
    });
    r.start();
    try {
      await waitFor(() => r.snapshot().state === 'down', { timeout: 2000, what: 'stuck check down' });
    } finally {
      await r.stop();
    }
    assert.ok(r.stats.abandoned >= 1);
    assert.match(r.snapshot().detail, /abandoned/);
  });

  it('a warning (command exit 1) keeps the check up and raises CheckWarning until it clears', async () => {
    const sink = new RecordingSink();
    const flag = `/tmp/opsfleet-warn-${process.pid}-${Date.now()}`;
    const r = new CheckRunner({ cfg: checkSchema.parse({ name: 'queue', type: 'command', command: `test -e ${flag} && { echo "queue 900 deep"; exit 1; }; echo fine`, interval: '100ms', timeout: '2s' }), sink, logger });
    const { writeFileSync, rmSync } = await import('node:fs');
    r.start();
    try {
      await waitFor(() => r.snapshot().state === 'up', { what: 'up' });
      writeFileSync(flag, '');
      await waitFor(() => r.snapshot().status === 'warn', { what: 'warn' });
      assert.equal(r.snapshot().state, 'up');
      rmSync(flag);
      await waitFor(() => sink.alerts('CheckWarning').length === 2, { what: 'warning resolved' });
    } finally {
      rmSync(flag, { force: true });
      await r.stop();
    }
    const w = sink.alerts('CheckWarning');
    assert.deepEqual(w.map((a) => a.state), [Alert_State.STATE_FIRING, Alert_State.STATE_RESOLVED]);
    assert.equal(w[0]!.annotations.detail, 'queue 900 deep');
    assert.equal(w[0]!.labels.severity, 'warning');
    assert.deepEqual(sink.checks('queue', 'result').map((e) => e.status), ['warn', 'ok']);
    assert.equal(sink.alerts('CheckDown').length, 0);
  });
});
