import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { agentConfigSchema } from '../../shared/config/agent.js';
import { parseConfigText } from '../../shared/config/load.js';
import { ConfigError, formatProblem } from '../../shared/errors.js';
import { runCommand } from '../helpers/daemons.js';
import { tempDir } from '../helpers/tmp.js';

function problems(yaml: string): string[] {
  try {
    parseConfigText(yaml, 'agent.yaml', agentConfigSchema);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'OPS_ERR_CONFIG_INVALID');
    return err.problems.map(formatProblem);
  }
  assert.fail('expected a ConfigError');
}

const NATS = 'nats: { servers: ["nats://127.0.0.1:4222"] }\n';

describe('checks: and metrics: config', () => {
  it('an empty agent file still runs: no checks, default sampling', () => {
    const cfg = parseConfigText(NATS, 'agent.yaml', agentConfigSchema);
    assert.deepEqual(cfg.checks, []);
    assert.equal(cfg.metrics.enabled, true);
    assert.equal(cfg.metrics.interval, 10_000);
  });

  it('compiles every check type with defaults', () => {
    const cfg = parseConfigText(
      `${NATS}checks:
  - name: web
    type: http
    url: http://127.0.0.1:8081/healthz
    expect: { status: [200], body_contains: "ok", max_latency: 800ms }
    interval: 10s
    timeout: 3s
    failures: 3
    successes: 2
    on_failure:
      restart: { command: "systemctl restart nginx", max_restarts: 3, within: 10m, backoff: 5s, verify_timeout: 30s }
  - { name: ssh, type: tcp, host: 127.0.0.1, port: 22, expect: "SSH-", interval: 30s }
  - { name: nginx-proc, type: process, match: { name: nginx }, min_count: 1, max_cpu_percent: 90, max_rss: 2GiB }
  - { name: queue-depth, type: command, command: "/usr/local/bin/check_queue", timeout: 5s }
  - { name: root-disk, type: disk, path: /, max_used_percent: 90, max_inodes_used_percent: 90 }
  - { name: heartbeat-file, type: file, path: /var/run/app.alive, max_age: 2m }
metrics:
  interval: 5s
  thresholds:
    - { metric: cpu.percent, above: 90, for: 2m, severity: warning }
    - { metric: disk.used_percent, mount: /, above: 90 }
`,
      'agent.yaml',
      agentConfigSchema,
    );
    assert.equal(cfg.checks.length, 6);
    const web = cfg.checks[0]!;
    assert.equal(web.type, 'http');
    assert.equal(web.timeout, 3000);
    assert.equal(web.on_failure?.restart.within, 600_000);
    const proc = cfg.checks[2]!;
    assert.ok(proc.type === 'process' && proc.max_rss === 2 * 1024 ** 3);
    assert.equal(cfg.checks[3]!.failures, 3);
    assert.equal(cfg.metrics.thresholds[0]!.for, 120_000);
  });

  it('unknown check type, missing url and negative interval are FILE:LINE:COL errors', () => {
    const p = problems(`${NATS}checks:
  - { name: a, type: htp, url: "http://x" }
  - name: b
    type: http
  - name: c
    type: tcp
    host: 127.0.0.1
    port: 22
    interval: -5s
`);
    assert.deepEqual(p, [
      "agent.yaml:3:22 checks[0].type: Invalid discriminator value. Expected 'http' | 'tcp' | 'process' | 'command' | 'disk' | 'file'",
      'agent.yaml:4:5 checks[1].url: required (string)',
      'agent.yaml:10:15 checks[2].interval: expected a duration like "5s", "10m" or "1h", got "-5s"',
    ]);
  });

  it('typos, duplicate names, restart without an action and bad thresholds are errors', () => {
    const p = problems(`${NATS}checks:
  - { name: a, type: disk, path: /, max_used_percnt: 90 }
  - { name: a, type: file, path: /x }
  - name: c
    type: tcp
    host: h
    port: 1
    on_failure: { restart: { max_restarts: 2 } }
metrics:
  thresholds:
    - { metric: cpu.percent, for: 1m }
    - { metric: mem.used_percent, mount: /, above: 1 }
`);
    const text = p.join('\n');
    assert.match(text, /agent\.yaml:3:\d+ checks\[0\]\.max_used_percnt: unknown key "max_used_percnt"/);
    assert.match(text, /agent\.yaml:4:\d+ checks\[1\]\.name: duplicate check name "a" \(also checks\[0\]\)/);
    assert.match(text, /checks\[2\]\.on_failure\.restart\.command: write exactly one of command or supervise/);
    assert.match(text, /metrics\.thresholds\[0\]\.above: write exactly one of above or below/);
    assert.match(text, /metrics\.thresholds\[1\]\.mount: mount applies to disk\.\* metrics only/);
  });

  it('opsfleet-agent validate exits 2 with one FILE:LINE:COL line per check problem', async () => {
    const tmp = tempDir('opsfleet-health-cfg-');
    try {
      const file = join(tmp.path, 'agent.yaml');
      writeFileSync(file, `${NATS}checks:\n  - { name: a, type: htp }\n  - { name: b, type: http }\n  - { name: c, type: file, path: /x, interval: -1s }\n`);
      const r = await runCommand('opsfleet-agent', ['validate', file]);
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith(file));
      assert.deepEqual(lines.map((l) => l.slice(file.length).replace(/: .*/, '')), [':3:22 checks[0].type', ':4:5 checks[1].url', ':5:48 checks[2].interval']);
    } finally {
      tmp.cleanup();
    }
  });
});
