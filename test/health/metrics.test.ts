import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { describe, it } from 'node:test';
import { MetricsSampler } from '../../agent/metrics/sampler.js';
import { ruleAlertName, ThresholdRule } from '../../agent/metrics/thresholds.js';
import { metricsSchema } from '../../shared/config/health.js';
import { Alert_State } from '../../shared/gen/opsfleet/v1/events.js';
import { createRootLogger } from '../../shared/logger.js';
import { waitFor } from '../helpers/wait.js';
import { RecordingSink } from './recording-sink.js';

const logger = createRootLogger({ name: 'test', level: 'silent' });
const rule = (raw: Record<string, unknown>) => new ThresholdRule(metricsSchema.parse({ thresholds: [raw] }).thresholds[0]!);

describe('threshold rules with for:', () => {
  it('fire only after the condition held continuously for `for`; a dip resets', () => {
    const r = rule({ metric: 'cpu.percent', above: 90, for: '2m' });
    assert.equal(r.alertname, 'HighCpuPercent');
    assert.equal(r.observe(95, 0), undefined);
    assert.equal(r.state, 'pending');
    assert.equal(r.observe(99, 60_000), undefined);
    assert.equal(r.observe(80, 90_000), undefined, 'a dip');
    assert.equal(r.state, 'inactive');
    assert.equal(r.observe(95, 100_000), undefined);
    assert.equal(r.observe(95, 219_999), undefined, '1ms short of 2m since the dip');
    assert.deepEqual(r.observe(96, 220_000), { to: 'firing', value: 96, sinceMs: 100_000 });
    assert.equal(r.observe(97, 230_000), undefined, 'already firing');
    assert.deepEqual(r.observe(50, 240_000), { to: 'resolved', value: 50, sinceMs: 240_000 });
    assert.equal(r.state, 'inactive');
  });

  it('below, for: 0 and a missing value', () => {
    const r = rule({ metric: 'net.rx_bytes_per_s', interface: 'eth9', below: 10 });
    assert.equal(ruleAlertName(r.cfg), 'LowNetRxBytesPerS');
    assert.equal(r.observe(undefined, 0), undefined, 'interface absent: does not hold');
    assert.deepEqual(r.observe(3, 1), { to: 'firing', value: 3, sinceMs: 1 });
  });
});

describe('metrics sampler on the real /proc', () => {
  it('samples CPU, load, memory, disks, network and top processes; a busy process is among the top by CPU', async () => {
    const busy = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
    const sink = new RecordingSink();
    const m = new MetricsSampler({ cfg: metricsSchema.parse({ interval: '300ms', top_processes: 50 }), sink, logger });
    try {
      await m.start();
      await waitFor(() => sink.events.filter((e) => e.kind === 'metric').length >= 2, { what: 'two samples' });
    } finally {
      await m.stop();
      busy.kill('SIGKILL');
    }
    const s = sink.events.filter((e) => e.kind === 'metric').at(-1)!.body as unknown as import('../../shared/metrics/sample.js').Sample;
    assert.equal(s.cpu.cores.length, cpus().length);
    assert.ok(s.cpu.percent > 0 && s.cpu.percent <= 100, `cpu ${s.cpu.percent}`);
    assert.ok(Math.abs(s.mem.total - totalmem()) < 1024 * 1024, 'MemTotal matches os.totalmem()');
    assert.ok(s.mem.used_percent > 0 && s.mem.used_percent < 100);
    assert.ok(s.disks.some((d) => d.mount === '/' || d.total > 0), JSON.stringify(s.disks));
    assert.ok(s.net.some((n) => n.iface === 'lo'));
    assert.equal(s.top_cpu.length, Math.min(50, s.top_cpu.length));
    assert.ok(s.top_cpu.length >= 5);
    // Other work shares this machine: the busy loop is among the top 50, not necessarily first,
    // and under heavy load it gets only a share of a core.
    const mine = s.top_cpu.find((p) => p.pid === busy.pid);
    assert.ok(mine, JSON.stringify(s.top_cpu));
    assert.ok(mine.cpu > 1, `busy process at ${mine.cpu}% of a core`);
    assert.ok(s.top_cpu.every((p, i) => i === 0 || s.top_cpu[i - 1]!.cpu >= p.cpu), 'sorted by CPU');
    assert.ok(s.top_rss[0]!.rss >= s.top_rss[1]!.rss);
    assert.ok(JSON.stringify({ ...s, top_cpu: s.top_cpu.slice(0, 5), top_rss: s.top_rss.slice(0, 5) }).length < 4096, 'compact with the default 5 top processes');
  });

  it('a rule on a real metric fires once it held for `for`, not before', async () => {
    const sink = new RecordingSink();
    const m = new MetricsSampler({ cfg: metricsSchema.parse({ interval: '100ms', top_processes: 0, thresholds: [{ metric: 'mem.used_percent', above: 0, for: '500ms', severity: 'critical' }] }), sink, logger });
    const started = Date.now();
    try {
      await m.start();
      await waitFor(() => sink.alerts('HighMemUsedPercent').length > 0, { what: 'threshold alert' });
    } finally {
      await m.stop();
    }
    const firing = sink.events.find((e) => e.kind === 'alert')!;
    const metricsBefore = sink.events.filter((e) => e.kind === 'metric' && e.seq < firing.seq);
    const since = firing.payload.alert!.startsAtMs;
    assert.equal(since, metricsBefore[0]!.atMs, 'pending from the first sample (the condition always holds)');
    assert.ok(firing.atMs - since >= 500, `fired ${firing.atMs - since}ms after the condition began`);
    assert.ok(metricsBefore.at(-2)!.atMs - since < 500, 'and not at an earlier sample');
    const a = sink.alerts('HighMemUsedPercent')[0]!;
    assert.equal(a.state, Alert_State.STATE_FIRING);
    assert.deepEqual(a.labels, { alertname: 'HighMemUsedPercent', metric: 'mem.used_percent', target: 'mem.used_percent', severity: 'critical' });
    assert.match(a.annotations.summary!, /mem\.used_percent is [\d.]+, above 0 for 500ms/);
  });
});
