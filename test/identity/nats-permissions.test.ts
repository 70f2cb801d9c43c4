import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { NatsSystemLink } from '../../controller/natsauth/system-link.js';
import type { NatsViolation } from '../../controller/natsauth/violations.js';
import { fastCredsAuthenticator } from '../../shared/nats/fast-nkeys.js';
import { agentInboxPrefix, eventSubject } from '../../shared/nats/subjects.js';
import { NatsServer } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/wait.js';

const silent = pino({ level: 'silent' });

function dial(s: NatsServer, credsFile: string, hostId?: string): Promise<NatsConnection> {
  return connect({
    servers: `127.0.0.1:${s.port}`,
    authenticator: credsAuthenticator(readFileSync(credsFile)),
    ...(hostId ? { inboxPrefix: agentInboxPrefix(hostId), name: `agent ${hostId}` } : {}),
    reconnect: false,
  });
}

/** The errors a connection's status stream reports (permission violations arrive there, async). */
function errorsOf(nc: NatsConnection): string[] {
  const out: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') out.push(String((s as { error?: Error }).error?.message));
  })();
  return out;
}

describe('NATS identity: per-host user JWTs on a real nats-server in operator mode', () => {
  let s: NatsServer;
  let ctl: NatsConnection;
  let link: NatsSystemLink;
  const violations: NatsViolation[] = [];
  const conns: NatsConnection[] = [];

  before(async () => {
    s = await NatsServer.start({ operator: true });
    link = new NatsSystemLink({ servers: [s.url], authority: s.authority!, logger: silent, onViolation: (v) => violations.push(v) });
    link.start();
    ctl = await dial(s, s.controllerCreds);
    const jsm = await jetstreamManager(ctl);
    await jsm.streams.add({ name: 'EV', subjects: ['opsfleet.ev.>'] });
    await waitFor(() => link.state().state === 'running', { what: 'system link connected', timeout: 20_000 });
  });

  after(async () => {
    for (const c of conns) await c.close().catch(() => undefined);
    await ctl?.close().catch(() => undefined);
    await link?.stop();
    await s?.dispose();
  });

  it('writes the authority with 0600 files and an operator-mode server config', () => {
    const a = s.authority!;
    for (const f of [join(a.dir, 'authority.json'), a.controllerCredsFile(), a.systemCredsFile()]) assert.equal(statSync(f).mode & 0o777, 0o600, f);
    const conf = a.serverConfig({ port: 4222, storeDir: '/var/lib/nats' });
    assert.match(conf, /^operator: "eyJ/m);
    assert.match(conf, new RegExp(`^system_account: "${a.systemAccountPublicKey}"`, 'm'));
    assert.match(conf, /type: full/);
    assert.match(conf, /dir: "\/var\/lib\/nats\/accounts"/);
  });

  it('lets a host publish (with a JetStream ack) on its own subjects only; the server refuses A publishing as B', async () => {
    const a = await s.agentCreds('web-01');
    const b = await s.agentCreds('web-02');
    const na = await dial(s, a.file, 'web-01');
    const nb = await dial(s, b.file, 'web-02');
    conns.push(na, nb);
    const errs = errorsOf(na);
    const ack = await jetstream(na).publish(eventSubject('hb', 'web-01'), 'beat', { msgID: 'web-01:i:1-1' });
    assert.equal(ack.stream, 'EV');
    const ackB = await jetstream(nb).publish(eventSubject('alert', 'web-02'), 'x');
    assert.equal(ackB.seq, ack.seq + 1);

    await assert.rejects(jetstream(na).publish(eventSubject('hb', 'web-02'), 'forged', { timeout: 3000 }), /Permissions Violation for Publish to "opsfleet\.ev\.hb\.web-02"/);
    await waitFor(() => errs.some((e) => /Permissions Violation/.test(e)), { what: 'the async permission error on A' });
    const info = await (await jetstreamManager(ctl)).streams.info('EV');
    assert.equal(info.state.messages, 2, 'the forged message never reached the stream');
  });

  it('refuses a host subscribing to the event subjects, another host\'s inbox or the JetStream API', async () => {
    const a = await s.agentCreds('db-01');
    const na = await dial(s, a.file, 'db-01');
    conns.push(na);
    const errs = errorsOf(na);
    na.subscribe('opsfleet.ev.>');
    na.subscribe(`${agentInboxPrefix('web-01')}.>`);
    await waitFor(() => errs.filter((e) => /Permissions Violation for Subscription/.test(e)).length >= 2, { what: 'two subscription violations' });
    await assert.rejects(jetstreamManager(na, { checkAPI: true }), /Permissions Violation|timeout|no responders/i);
  });

  it('revocation: the server drops the revoked host at once and refuses it afterwards; the controller counts both', async () => {
    const r = await s.agentCreds('web-03');
    const other = await s.agentCreds('web-04');
    const nr = await dial(s, r.file, 'web-03');
    const no = await dial(s, other.file, 'web-04');
    conns.push(nr, no);
    const closed = nr.closed();
    const t0 = Date.now();
    const out = await s.authority!.revokeHost('web-03');
    assert.deepEqual(out, { users: 1, pushed: true });
    await closed;
    const dropMs = Date.now() - t0;
    assert.ok(nr.isClosed());
    await assert.rejects(dial(s, r.file, 'web-03'), /Authorization Violation|Authentication/i);
    // Not collateral: the other host still publishes.
    await jetstream(no).publish(eventSubject('hb', 'web-04'), 'beat');
    await waitFor(() => violations.some((v) => v.kind === 'revoked' && v.user === 'web-03'), { what: 'revoked-disconnect advisory' });
    await waitFor(() => violations.some((v) => v.kind === 'auth_error'), { what: 'auth-error advisory for the refused reconnect' });
    assert.ok(link.counters.revokedDisconnects >= 1 && link.counters.authErrors >= 1, JSON.stringify(link.counters));
    assert.ok(s.authority!.accountClaims().nats.revocations?.[r.publicKey], 'revocation recorded in the account JWT');
    // For the record (docs/identity.md states the bound; bench/nats-auth measures it).
    assert.ok(dropMs >= 0);
  });

  it('two revocations in one second both hold, each account JWT issued after the one before (a same-second tie let a stale preload win at restart)', async () => {
    const x = await s.agentCreds('rv-1');
    const y = await s.agentCreds('rv-2');
    const iat0 = s.authority!.accountClaims().iat!;
    await s.authority!.revokeUser(x.publicKey);
    const iat1 = s.authority!.accountClaims().iat!;
    await s.authority!.revokeUser(y.publicKey);
    const iat2 = s.authority!.accountClaims().iat!;
    assert.ok(iat0 < iat1 && iat1 < iat2, `account JWT issue times ${iat0} < ${iat1} < ${iat2}`);
    await assert.rejects(dial(s, x.file, 'rv-1'), /Authorization Violation|Authentication/i);
    await assert.rejects(dial(s, y.file, 'rv-2'), /Authorization Violation|Authentication/i);
  });

  it('a revocation survives a server restart with the config written before it (the resolver dir keeps the newer JWT)', async () => {
    const z = await s.agentCreds('rs-1');
    // The config as written before the revocation (as a hand-installed file would stay).
    const staleConf = join(s.dir.path, 'nats-stale.conf');
    writeFileSync(staleConf, readFileSync(join(s.dir.path, 'nats.conf'), 'utf8'));
    const out = await s.authority!.revokeUser(z.publicKey);
    assert.equal(out.pushed, true);
    await s.stop();
    s.configFile = staleConf;
    try {
      await s.restart();
    } finally {
      s.configFile = undefined;
    }
    await waitFor(() => link.state().state === 'running', { what: 'system link back', timeout: 20_000 });
    await assert.rejects(dial(s, z.file, 'rs-1'), /Authorization Violation|Authentication/i);
    const ok = await s.agentCreds('rs-2');
    const n = await dial(s, ok.file, 'rs-2');
    await n.close();
  });

  it('an expired user JWT is refused', async () => {
    const e = await s.agentCreds('ex-1', { ttlSeconds: 1 });
    await waitFor(async () => {
      try {
        const n = await dial(s, e.file, 'ex-1');
        await n.close();
        return false;
      } catch (err) {
        return /expired|Authorization Violation|Authentication/i.test((err as Error).message);
      }
    }, { what: 'expired JWT refused', timeout: 10_000, interval: 250 });
  });

  it('bulk-issued creds (issueAgentCredsMany, the fleet simulator\'s path) connect with the fast authenticator, confined like any host', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `bulk-${i}`);
    const issued = await s.authority!.issueAgentCredsMany(ids, 600);
    assert.deepEqual(issued.map((c) => c.hostId), ids);
    const users = new Map(s.authority!.issuedUsers().map((u) => [u.publicKey, u.hostId]));
    for (const c of issued) assert.equal(users.get(c.publicKey), c.hostId, 'recorded as issued (revocable by host)');
    const fast = (i: number) => connect({ servers: `127.0.0.1:${s.port}`, authenticator: fastCredsAuthenticator(issued[i]!.creds), inboxPrefix: agentInboxPrefix(ids[i]!), reconnect: false });
    const n0 = await fast(0);
    const n1 = await dial(s, (await s.agentCreds('bulk-x')).file, 'bulk-x');
    conns.push(n0, n1);
    const ack = await jetstream(n0).publish(eventSubject('hb', 'bulk-0'), 'beat');
    assert.equal(ack.stream, 'EV');
    await assert.rejects(jetstream(n0).publish(eventSubject('hb', 'bulk-1'), 'forged', { timeout: 3000 }), /Permissions Violation for Publish/);
    await assert.rejects(s.authority!.issueAgentCredsMany(['ok', 'bad host'], 60), /not one subject token/);
  });
});
