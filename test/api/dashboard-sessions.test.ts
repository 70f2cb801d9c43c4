import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createToken, startController, type ControllerProc } from '../helpers/daemons.js';
import { rawRequest } from '../helpers/http.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Dashboard sessions live in the controller database: a browser stays logged in across a
 * restart of the real controller process, and logout or the token's revocation ends it.
 */
describe('dashboard sessions survive a controller restart (real controller process, same data_dir)', () => {
  const dir = tempDir('opsfleet-dash-sessions-');
  const dataDir = join(dir.path, 'controller-data');
  let nats: NatsServer;
  let ctl: ControllerProc;

  before(async () => {
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path });
  });
  after(async () => {
    await ctl?.child.stop();
    await nats?.stop();
    dir.cleanup();
  });

  const restart = async () => {
    await ctl.child.stop();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path });
  };
  /** The `opsf_session=...` pair of a Set-Cookie answer. */
  const cookieOf = (h: string | string[] | undefined) => {
    const c = (Array.isArray(h) ? h : [h ?? '']).find((x) => x.startsWith('opsf_session='));
    assert.ok(c, `no session cookie in ${JSON.stringify(h)}`);
    return { pair: c.split(';')[0]!, attrs: c };
  };
  const session = (cookie: string) => rawRequest(ctl.url, { path: '/api/v1/dashboard/session', headers: { cookie } });
  const hosts = (cookie: string) => rawRequest(ctl.url, { path: '/api/v1/hosts', headers: { cookie } });
  const sessionRows = () => {
    const db = new Database(join(dataDir, 'controller.db'), { readonly: true });
    try {
      return db.prepare<[], { token_name: string; id_hash: string }>('SELECT token_name, id_hash FROM dashboard_sessions').all();
    } finally {
      db.close();
    }
  };

  it('a ticket login keeps working after a restart, CSRF included; logout ends it', async () => {
    const t = await rawRequest(ctl.url, { method: 'POST', path: '/api/v1/dashboard/tickets', token: ctl.token, headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(t.status, 200, t.text);
    const url = new URL((t.json as { url: string }).url);
    const login = await rawRequest(ctl.url, { path: url.pathname + url.search });
    assert.equal(login.status, 303);
    const { pair, attrs } = cookieOf(login.headers['set-cookie']);
    assert.match(attrs, /HttpOnly/);
    assert.match(attrs, /SameSite=Strict/);
    const before = await session(pair);
    const view = before.json as { loggedIn: boolean; name: string; csrf: string };
    assert.equal(view.loggedIn, true);
    assert.equal(view.name, 'admin');
    const id = pair.slice('opsf_session='.length);
    assert.deepEqual(sessionRows().map((r) => r.id_hash), [createHash('sha256').update(id).digest('hex')], 'only the hash of the id is stored');

    await restart();
    assert.equal((await rawRequest(ctl.url, { path: url.pathname + url.search })).headers.location, '/#/login?error=ticket', 'the ticket stays used');
    const after = await session(pair);
    assert.deepEqual(after.json, before.json, 'the same session, the same CSRF secret');
    assert.equal((await hosts(pair)).status, 200);
    // A mutation still needs the session's CSRF header after the restart.
    const noCsrf = await rawRequest(ctl.url, { method: 'POST', path: '/api/v1/dashboard/logout', headers: { cookie: pair } });
    assert.equal(noCsrf.status, 403);
    assert.equal(noCsrf.code, 'OPS_ERR_AUTH_CSRF');
    const out = await rawRequest(ctl.url, { method: 'POST', path: '/api/v1/dashboard/logout', headers: { cookie: pair, 'x-opsfleet-csrf': view.csrf } });
    assert.equal(out.status, 200, out.text);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    assert.deepEqual((await session(pair)).json, { loggedIn: false });
    const gone = await hosts(pair);
    assert.equal(gone.status, 401);
    assert.equal(gone.code, 'OPS_ERR_AUTH_SESSION');
    await restart();
    assert.equal((await hosts(pair)).code, 'OPS_ERR_AUTH_SESSION', 'logout is not undone by a restart');
  });

  it("revoking the token ends its sessions, also in the database, and a restart does not bring them back", async () => {
    const secret = await createToken(ctl.url, { name: 'dave', role: 'viewer' });
    const login = await rawRequest(ctl.url, { method: 'POST', path: '/api/v1/dashboard/login', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: secret }) });
    assert.equal(login.status, 200, login.text);
    const { pair } = cookieOf(login.headers['set-cookie']);
    await restart();
    assert.equal((await hosts(pair)).status, 200);
    assert.equal(sessionRows().filter((r) => r.token_name === 'dave').length, 1);
    const del = await rawRequest(ctl.url, { method: 'DELETE', path: '/api/v1/tokens/dave', token: ctl.token });
    assert.equal(del.status, 200, del.text);
    assert.equal(sessionRows().filter((r) => r.token_name === 'dave').length, 0);
    await restart();
    const r = await hosts(pair);
    assert.equal(r.status, 401);
    assert.equal(r.code, 'OPS_ERR_AUTH_SESSION');
  });
});
