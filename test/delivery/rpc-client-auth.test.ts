import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { RpcServer } from '../../agent/rpc/server.js';
import { AgentClients } from '../../controller/dispatch/agent-clients.js';
import { OpsError } from '../../shared/errors.js';
import { makePki } from '../helpers/certs.js';
import { runCommand } from '../helpers/daemons.js';
import { tempDir } from '../helpers/tmp.js';

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

const status = () => ({ hostId: 'h', instanceId: 'i', agentVersion: 'v', uptimeS: 0, outboxDepth: 0, outboxEvicted: 0, lastSeq: 0, natsConnected: false, startedAtMs: 0, components: [] });

describe('agent gRPC client verification (rpc.tls without ca)', () => {
  const dir = tempDir('opsfleet-rpc-auth-');
  const pki = makePki(dir.path);
  after(() => dir.cleanup());

  it('a config with rpc.tls but no ca is a config error: exit 2 naming FILE:LINE:COL and rpc.tls.ca', async () => {
    const file = join(dir.path, 'agent.yaml');
    writeFileSync(file, `nats: { servers: ["nats://127.0.0.1:4222"] }\nstate_dir: ${dir.path}/state\nrpc:\n  listen: "127.0.0.1:0"\n  tls: { cert: ${pki.serverCert}, key: ${pki.serverKey} }\n`);
    const r = await runCommand('opsfleet-agent', ['validate', file]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:\\d+ rpc\\.tls\\.ca: tls without ca verifies no client`));
    writeFileSync(file, `nats: { servers: ["nats://127.0.0.1:4222"] }\nstate_dir: ${dir.path}/state\nrpc:\n  listen: "127.0.0.1:0"\n  accept_any_client: true\n  tls: { cert: ${pki.serverCert}, key: ${pki.serverKey} }\n`);
    const ok = await runCommand('opsfleet-agent', ['validate', file]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  });

  it('the server itself refuses TLS without a ca unless told, so no caller can build an open listener by mistake', async () => {
    const { logger } = capture();
    const s = new RpcServer({ host: '127.0.0.1', port: 0, insecure: false, tls: { cert: pki.serverCert, key: pki.serverKey } }, { getStatus: status }, logger);
    await assert.rejects(s.start(), (err: unknown) => err instanceof OpsError && err.code === 'OPS_ERR_RPC_TLS' && /accept any client/.test(err.message));
    await s.stop(100);
  });

  it('with the explicit opt-out a rogue client gets in, and the agent says so loudly at start', async () => {
    const { logger, lines } = capture();
    const s = new RpcServer({ host: '127.0.0.1', port: 0, insecure: false, acceptAnyClient: true, tls: { cert: pki.serverCert, key: pki.serverKey } }, { getStatus: status }, logger);
    const port = await s.start();
    const rogue = new AgentClients({ tls: { ca: pki.ca, cert: pki.rogueCert, key: pki.rogueKey, server_name: 'localhost' }, timeoutMs: 5000 });
    try {
      const st = await rogue.getStatus('h', `127.0.0.1:${port}`, true);
      assert.equal(st.hostId, 'h');
      const warn = lines.find((l) => l.level === 40 && /ACCEPTS ANY CLIENT/.test(String(l.msg)));
      assert.ok(warn, JSON.stringify(lines));
      assert.equal(lines.find((l) => l.msg === 'rpc listening')?.clientAuth, 'NONE: any client accepted');
    } finally {
      rogue.close();
      await s.stop(500);
    }
  });

  it('with a ca, the same rogue client is refused', async () => {
    const { logger } = capture();
    const s = new RpcServer({ host: '127.0.0.1', port: 0, insecure: false, tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey } }, { getStatus: status }, logger);
    const port = await s.start();
    const rogue = new AgentClients({ tls: { ca: pki.ca, cert: pki.rogueCert, key: pki.rogueKey, server_name: 'localhost' }, timeoutMs: 5000 });
    try {
      await assert.rejects(rogue.getStatus('h', `127.0.0.1:${port}`, true), (err: unknown) => err instanceof OpsError && err.code.startsWith('OPS_ERR_RPC_'));
    } finally {
      rogue.close();
      await s.stop(500);
    }
  });
});

describe('an unreachable agent, in plain words', () => {
  it('names the endpoint and the reason, without grpc-js internals', async () => {
    const { freePort } = await import('../helpers/ports.js');
    const endpoint = `127.0.0.1:${await freePort()}`;
    const c = new AgentClients({ insecure: true, timeoutMs: 3000 });
    try {
      await assert.rejects(c.getStatus('h', endpoint, false), (err: unknown) => {
        assert.ok(err instanceof OpsError);
        assert.equal(err.code, 'OPS_ERR_RPC_UNAVAILABLE');
        assert.match(err.message, new RegExp(`^agent at ${endpoint}: not reachable: connection refused`));
        assert.doesNotMatch(err.message, /Last error|Resolution note|No connection established/);
        return true;
      });
    } finally {
      c.close();
    }
  });
});
