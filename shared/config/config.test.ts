import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../errors.js';
import { agentConfigSchema } from './agent.js';
import { controllerConfigSchema } from './controller.js';
import { parseConfigText } from './load.js';

function problems(text: string, schema: typeof agentConfigSchema | typeof controllerConfigSchema = agentConfigSchema, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfigText(text, 'x.yaml', schema, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems.map((p) => `${p.file}:${p.line}:${p.col} ${p.path}: ${p.message}`);
  }
  return [];
}

describe('agent config', () => {
  it('accepts the minimal config from the issue and compiles durations and defaults', () => {
    const cfg = parseConfigText(
      `host: { id: web-01, tags: { role: web, env: prod } }
nats: { servers: ["nats://127.0.0.1:4222"] }
state_dir: /var/lib/opsfleet
rpc: { listen: "127.0.0.1:7443", insecure: true }
heartbeat_interval: 10s
`,
      'agent.yaml',
      agentConfigSchema,
    );
    assert.equal(cfg.host.id, 'web-01');
    assert.deepEqual(cfg.host.tags, { role: 'web', env: 'prod' });
    assert.equal(cfg.heartbeat_interval, 10_000);
    assert.deepEqual(cfg.rpc?.listen, { host: '127.0.0.1', port: 7443, text: '127.0.0.1:7443' });
    assert.equal(cfg.outbox.max_events, 1_000_000);
    assert.equal(cfg.outbox.max_bytes, 512 * 1024 * 1024);
    assert.equal(cfg.shutdown_grace, 8000);
  });

  it('runs with only nats.servers: id defaults to the hostname, no rpc listener', () => {
    const cfg = parseConfigText('nats: { servers: ["nats://127.0.0.1:4222"] }\n', 'a.yaml', agentConfigSchema);
    assert.ok(cfg.host.id.length > 0);
    assert.equal(cfg.rpc, undefined);
    assert.equal(cfg.state_dir, '/var/lib/opsfleet');
  });

  it('refuses a plaintext rpc listener unless insecure: true is written', () => {
    const p = problems('nats: { servers: ["nats://a:1"] }\nrpc:\n  listen: "0.0.0.0:7443"\n');
    assert.deepEqual(p, ['x.yaml:3:11 rpc.listen: plaintext RPC listener refused: configure tls { ca, cert, key } or write insecure: true']);
  });

  it('reports every problem at once with line and column: wrong type, unknown key, bad duration, missing nats', () => {
    const p = problems(`host:
  id: web-01
  tgas: { a: b }
heartbeat_interval: five
outbox:
  max_events: lots
`);
    assert.deepEqual(p, [
      'x.yaml:1:1 nats: required (object)',
      'x.yaml:3:3 host.tgas: unknown key "tgas"',
      'x.yaml:4:21 heartbeat_interval: expected a duration like "5s", "10m" or "1h", got "five"',
      'x.yaml:6:15 outbox.max_events: expected number, got string "lots"',
    ]);
  });

  it('reports YAML syntax errors with their position', () => {
    const p = problems('nats: { servers: ["nats://a:1"]\nhost: x\n');
    assert.equal(p.length >= 1, true);
    assert.match(p[0]!, /^x\.yaml:\d+:\d+ \(root\)|^x\.yaml:\d+:\d+ : /);
  });

  it('resolves ${env:NAME} and reports a missing variable where it is used', () => {
    const ok = parseConfigText('nats: { servers: ["nats://a:1"], user: u, password: "${env:NATS_PW}" }\n', 'x.yaml', agentConfigSchema, { NATS_PW: 's3cret' });
    assert.equal(ok.nats.password, 's3cret');
    const p = problems('nats:\n  servers: ["nats://a:1"]\n  token: "${env:NOPE}"\n');
    assert.deepEqual(p, ['x.yaml:3:10 nats.token: environment variable NOPE is not set']);
  });

  it('rejects host ids that cannot be a NATS subject token', () => {
    const p = problems('host: { id: "web.01" }\nnats: { servers: ["nats://a:1"] }\n');
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^x\.yaml:1:13 host\.id: host id: letters/);
  });
});

describe('controller config', () => {
  it('accepts the minimal config from the issue', () => {
    const cfg = parseConfigText(
      `nats: { servers: ["nats://127.0.0.1:4222"] }
data_dir: /var/lib/opsfleet-controller
http: { listen: "127.0.0.1:8080" }
offline_after: 30s
`,
      'controller.yaml',
      controllerConfigSchema,
    );
    assert.equal(cfg.offline_after, 30_000);
    assert.equal(cfg.http.listen.port, 8080);
    assert.equal(cfg.retention.events, 7 * 86_400_000);
    assert.equal(cfg.stream.name, 'OPSFLEET_EVENTS');
  });

  it('leaves offline_after unset so each host gets 3 x its own heartbeat interval', () => {
    const cfg = parseConfigText('nats: { servers: ["nats://a:1"] }\n', 'c.yaml', controllerConfigSchema);
    assert.equal(cfg.offline_after, undefined);
  });

  it('names bad listen addresses and unknown sections', () => {
    const p = problems('nats: { servers: ["nats://a:1"] }\nhttp: { listen: "8080" }\nalertz: {}\n', controllerConfigSchema);
    assert.deepEqual(p, ['x.yaml:2:17 http.listen: expected "host:port" like "127.0.0.1:7443", got "8080"', 'x.yaml:3:1 alertz: unknown key "alertz"']);
  });
});
