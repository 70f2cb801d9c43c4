import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { CommandServiceClient, type RunPlaybookResponse } from '../../shared/gen/opsfleet/v1/command.js';
import { startAgent } from '../helpers/daemons.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** PIDs of `sleep SECS` processes (a unique duration marks this test's own). */
function sleeps(secs: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8') === `sleep\0${secs}\0`) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe('shell steps of a killed agent', () => {
  const dir = tempDir('opsfleet-reap-');
  const secs = `${800 + (process.pid % 97)}.${Date.now() % 1000}`;
  after(() => {
    for (const pid of sleeps(secs)) process.kill(pid, 'SIGKILL');
    dir.cleanup();
  });

  it('are killed at the next start from the record of running process groups', async () => {
    // No NATS is needed for commands: the agent keeps retrying it in the background.
    const natsUrl = `nats://127.0.0.1:${await freePort()}`;
    const stateDir = join(dir.path, 'state');
    const extraYaml = 'rpc: { listen: "127.0.0.1:0", insecure: true, allow_shell: true }';
    const first = await startAgent({ natsUrl, dir: dir.path, id: 'reap-01', rpc: false, stateDir, extraYaml });
    const endpoint = String((await first.child.waitForLog((l) => l.msg === 'agent started')).rpc);
    const client = new CommandServiceClient(endpoint, credentials.createInsecure());
    try {
      const call = client.runPlaybook({ runId: 'r1', playbook: 'adhoc', actor: 'test', timeoutMs: 600_000, maxOutputBytes: 1024, steps: [{ name: 'bg', builtin: '', run: `sleep ${secs} & sleep ${secs}`, timeoutMs: 0, withJson: '' }] });
      call.on('data', (_: RunPlaybookResponse) => undefined);
      call.on('error', () => undefined);
      await waitFor(() => sleeps(secs).length === 2, { timeout: 20_000, what: 'both sleeps running' });
      assert.ok(existsSync(join(stateDir, 'running-steps.json')), 'the running group is recorded in the state dir');
      first.child.kill('SIGKILL');
      await first.child.exited;
      // Nothing killed them: they outlive the agent.
      assert.equal(sleeps(secs).length, 2);
      call.cancel();
    } finally {
      client.close();
    }
    const second = await startAgent({ natsUrl, dir: dir.path, id: 'reap-01', rpc: false, stateDir, extraYaml });
    try {
      await waitFor(() => sleeps(secs).length === 0, { timeout: 10_000, what: 'leftover sleeps killed at start' });
      const line = second.child.logs().find((l) => l.msg === 'killed processes a shell step left running when the agent stopped abruptly');
      assert.ok(line, second.child.tail());
      assert.ok(Number(line.processes) >= 2, 'the shell and both sleeps, as one group');
      assert.equal(existsSync(join(stateDir, 'running-steps.json')), false);
    } finally {
      await second.child.stop();
    }
  });
});
