import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { natsSchema } from '../../shared/config/common.js';
import { connectNats } from '../../shared/nats/connect.js';
import { NatsServer } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/wait.js';

// The one connection-status loop (shared/nats/connect.ts) is what agent and controller read
// their "nats connected" flag from: it must see the broker go and come back.
describe('connectNats: onConnectedChange follows the connection', () => {
  let nats: NatsServer;
  before(async () => {
    nats = await NatsServer.start();
  });
  after(() => nats.dispose());

  it('reports false when the broker stops and true when it is back on the same port', async () => {
    const seen: boolean[] = [];
    const cfg = natsSchema.parse({ servers: [nats.url], ...(nats.authority ? { creds_file: nats.controllerCreds } : {}) });
    const nc = await connectNats(cfg, { name: 'status-test', logger: pino({ level: 'silent' }), onConnectedChange: (up) => seen.push(up) });
    try {
      await nats.stop();
      await waitFor(() => seen.includes(false), { timeout: 20_000, what: 'disconnect reported' });
      await nats.restart();
      await waitFor(() => seen.at(-1) === true, { timeout: 30_000, what: 'reconnect reported' });
      assert.equal(seen[0], false);
    } finally {
      await nc.close();
    }
  });
});
