import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { AlertManager } from '../alerts/alert-manager.js';
import { registerAlertRoutes } from './alert-routes.js';
import { HttpServer } from './http-server.js';

// One body reader for every route: the alert routes used to have their own, with other codes
// (OPS_ERR_BAD_REQUEST for bad JSON). A body over the limit is the reader's 413
// OPS_ERR_BODY_TOO_LARGE for every route; the server's handling of large bodies has its own tests.
describe('alert routes read bodies with the server reader', () => {
  const http = new HttpServer(pino({ level: 'silent' }));
  let url = '';
  before(async () => {
    // Bad bodies are refused before the alert manager is asked anything.
    registerAlertRoutes(http, {} as AlertManager);
    const addr = await http.listen('127.0.0.1', 0);
    url = `http://127.0.0.1:${addr.port}`;
  });
  after(() => http.close(500));

  const post = async (path: string, body: string) => {
    const r = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: r.status, body: (await r.json()) as { error: { code: string; message: string } } };
  };

  for (const path of ['/api/v1/alerts', '/api/v1/silences']) {
    it(`${path}: not JSON is 400 OPS_ERR_BAD_JSON`, async () => {
      const r = await post(path, '{"matchers": [');
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'OPS_ERR_BAD_JSON');
    });
  }
});
