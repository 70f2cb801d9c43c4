// The fleet suites again, against the compiled programs (dist/, what installs run): controller,
// three agents and opsctl, then backups through the fleet (the agent's snapshot child process
// is a separate bundle). Only dynamic imports below: the helpers read OPSFLEET_RUNTIME when
// they load.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useCompiledPrograms } from './build.js';

useCompiledPrograms();

const { runCommand, startAgent, startController } = await import('../helpers/daemons.js');
const { NatsServer } = await import('../helpers/nats-server.js');
const { tempDir } = await import('../helpers/tmp.js');

test('the bins run the compiled bundles: each daemon logs runtime "compiled" at start', async () => {
  const dir = tempDir();
  const nats = await NatsServer.start();
  try {
    const ctl = await startController({ natsUrl: nats.url, dir: dir.path });
    const agent = await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'compiled-01' });
    try {
      for (const [child, name] of [[ctl.child, 'opsfleet-controller'], [agent.child, 'opsfleet-agent']] as const) {
        const line = child.logs().find((l) => l.msg === `${name} starting`);
        assert.equal(line?.runtime, 'compiled', child.tail());
      }
      const v = await runCommand('opsctl', ['--version']);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    } finally {
      await agent.child.stop();
      await ctl.child.stop();
    }
  } finally {
    await nats.dispose();
    dir.cleanup();
  }
});

await import('../delivery/fleet.test.js');
await import('../backup/fleet.test.js');
