import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { OpsError } from '../shared/errors.js';
import { ControllerClient } from './client.js';

describe('ControllerClient deadline', () => {
  it('a controller that sends headers and then never finishes the body is cut at the timeout, also with GC running', async () => {
    const open: ServerResponse[] = [];
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":'); // and never more
      open.push(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const gc = (globalThis as { gc?: () => void }).gc;
    const churn = gc ? setInterval(gc, 10) : undefined;
    try {
      const { port } = server.address() as AddressInfo;
      const client = new ControllerClient(`http://127.0.0.1:${port}`, { timeoutMs: 300 });
      await assert.rejects(client.get('/api/v1/hosts'), (err: unknown) => err instanceof OpsError && err.code === 'OPS_ERR_CONTROLLER_UNREACHABLE' && /did not answer in time/.test(err.message));
    } finally {
      if (churn) clearInterval(churn);
      for (const r of open) r.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
