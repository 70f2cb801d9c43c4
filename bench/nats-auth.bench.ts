/**
 * What per-host NATS identities cost (issue 14): the same nats-server 2.9 build started twice
 * in one run, open (no auth: the baseline) and in operator mode with the controller's authority
 * (per-host user JWT, nkey signature at connect, publish permissions checked per message).
 * Rounds are interleaved so machine load hits both alike; the server's own CPU time (from
 * /proc) is reported beside wall time because it survives load. Also: how long a revocation
 * takes from `revokeUser` to the server dropping the client, and what issuing a JWT costs.
 */
import { readFileSync } from 'node:fs';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { NatsAuthority } from '../controller/natsauth/authority.js';
import { agentInboxPrefix, eventSubject } from '../shared/nats/subjects.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { tempDir } from '../test/helpers/tmp.js';
import type { Bench, BenchRow } from './types.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** utime + stime of a process in ms (clock ticks of 10 ms on Linux). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

interface Side {
  name: string;
  server: NatsServer;
  opts: (hostId: string) => ConnectionOptions;
  connectMs: number[];
  pubMs: number[];
  serverCpuMs: number;
}

async function connectRound(s: Side, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const nc = await connect(s.opts('bench-01'));
    s.connectMs.push(performance.now() - t0);
    await nc.close();
  }
}

/** JetStream publishes with acks, `window` in flight: the agent publisher's pattern. */
async function publishRound(s: Side, nc: NatsConnection, n: number, window: number): Promise<void> {
  const js = jetstream(nc);
  const body = new Uint8Array(512);
  const pid = s.server.pid!;
  const c0 = cpuMs(pid);
  const t0 = performance.now();
  let inflight: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    inflight.push(js.publish(eventSubject('metric', 'bench-01'), body));
    if (inflight.length >= window) {
      await Promise.all(inflight);
      inflight = [];
    }
  }
  await Promise.all(inflight);
  s.pubMs.push(performance.now() - t0);
  s.serverCpuMs += cpuMs(pid) - c0;
}

const bench: Bench = {
  name: 'nats-auth',
  async run({ quick }) {
    const rounds = quick ? 3 : 6;
    const connects = quick ? 20 : 50;
    const msgs = quick ? 5_000 : 20_000;
    const open = await NatsServer.start({ operator: false });
    const secure = await NatsServer.start({ operator: true });
    const dir = tempDir('opsfleet-bench-natsauth-');
    try {
      const agentCreds = await secure.agentCreds('bench-01', { ttlSeconds: 3600 });
      const credsBytes = readFileSync(agentCreds.file);
      const sides: Side[] = [
        { name: 'open (no auth)', server: open, opts: (h) => ({ servers: `127.0.0.1:${open.port}`, inboxPrefix: agentInboxPrefix(h) }), connectMs: [], pubMs: [], serverCpuMs: 0 },
        { name: 'operator mode (per-host JWT)', server: secure, opts: (h) => ({ servers: `127.0.0.1:${secure.port}`, inboxPrefix: agentInboxPrefix(h), authenticator: credsAuthenticator(credsBytes) }), connectMs: [], pubMs: [], serverCpuMs: 0 },
      ];
      for (const s of sides) {
        const admin = await connect(s.server.connectOptions());
        await (await jetstreamManager(admin)).streams.add({ name: 'BENCH', subjects: ['opsfleet.ev.>'], max_msgs: 100_000 });
        await admin.close();
      }
      const conns = await Promise.all(sides.map((s) => connect(s.opts('bench-01'))));
      for (let r = 0; r < rounds; r++) {
        for (const [i, s] of sides.entries()) {
          await connectRound(s, connects);
          await publishRound(s, conns[i]!, msgs, 64);
        }
      }
      for (const c of conns) await c.close();

      // Revocation: revokeUser → the server closes the client (full resolver, pushed live).
      const authority = secure.authority!;
      const pushed = await NatsAuthority.loadOrCreate(authority.dir);
      const sys = await connect({ servers: `127.0.0.1:${secure.port}`, authenticator: credsAuthenticator(readFileSync(authority.systemCredsFile())) });
      pushed.attachPusher(async (jwt) => {
        const m = await sys.request('$SYS.REQ.CLAIMS.UPDATE', jwt, { timeout: 5000 });
        if (!m.string().includes('"code":200')) throw new Error(m.string());
      });
      const revokeMs: number[] = [];
      for (let i = 0; i < (quick ? 5 : 10); i++) {
        const c = await secure.agentCreds(`rv-${i}`);
        const nc = await connect({ servers: `127.0.0.1:${secure.port}`, authenticator: credsAuthenticator(readFileSync(c.file)), reconnect: false });
        const t0 = performance.now();
        const closed = nc.closed();
        const out = await pushed.revokeUser(c.publicKey);
        if (!out.pushed) throw new Error(`revocation not pushed: ${out.error}`);
        await closed;
        revokeMs.push(performance.now() - t0);
      }
      await sys.close();

      // Issuing: what enrollment pays per host (sign a user JWT; the file write included).
      const nIssue = quick ? 200 : 1000;
      const ti = performance.now();
      for (let i = 0; i < nIssue; i++) await authority.issueAgentCreds(`iss-${i % 50}`, 3600);
      const issueS = (performance.now() - ti) / 1000;

      const [o, sec] = sides as [Side, Side];
      const pubRate = (s: Side) => (msgs * rounds) / (s.pubMs.reduce((a, b) => a + b, 0) / 1000);
      const rows: BenchRow[] = [
        { name: `connect, ${o.name}: median ${median(o.connectMs).toFixed(2)} ms`, rate: 1000 / median(o.connectMs), unit: 'connects', count: o.connectMs.length, seconds: o.connectMs.reduce((a, b) => a + b, 0) / 1000 },
        { name: `connect, ${sec.name}: median ${median(sec.connectMs).toFixed(2)} ms`, rate: 1000 / median(sec.connectMs), unit: 'connects', count: sec.connectMs.length, seconds: sec.connectMs.reduce((a, b) => a + b, 0) / 1000, note: `${((median(sec.connectMs) / median(o.connectMs) - 1) * 100).toFixed(1)} % vs open` },
        { name: `JetStream publish+ack, 512 B, 64 in flight, ${o.name}`, rate: pubRate(o), unit: 'msgs', count: msgs * rounds, seconds: o.pubMs.reduce((a, b) => a + b, 0) / 1000, note: `server CPU ${(o.serverCpuMs / ((msgs * rounds) / 1000)).toFixed(2)} ms per 1000 msgs` },
        { name: `JetStream publish+ack, 512 B, 64 in flight, ${sec.name}`, rate: pubRate(sec), unit: 'msgs', count: msgs * rounds, seconds: sec.pubMs.reduce((a, b) => a + b, 0) / 1000, note: `server CPU ${(sec.serverCpuMs / ((msgs * rounds) / 1000)).toFixed(2)} ms per 1000 msgs; rate ${((pubRate(sec) / pubRate(o) - 1) * 100).toFixed(1)} % vs open` },
        { name: `revocation: revokeUser → client dropped by the server, median ${median(revokeMs).toFixed(1)} ms, max ${Math.max(...revokeMs).toFixed(1)} ms`, rate: 1000 / median(revokeMs), unit: 'revocations', count: revokeMs.length, seconds: revokeMs.reduce((a, b) => a + b, 0) / 1000 },
        { name: 'issue a per-host user JWT + .creds (enrollment\'s NATS share)', rate: nIssue / issueS, unit: 'users', count: nIssue, seconds: issueS },
      ];
      return {
        title: 'NATS per-host identities: JWT auth vs open server, same run (issue 14)',
        rows,
        notes: [
          'Both servers: Debian nats-server 2.9.10, same flags, same store kind; rounds interleaved (open, operator, open, ...). Server CPU from /proc/<pid>/stat (10 ms ticks) survives the machine\'s load better than wall time.',
          'Connect in operator mode adds the nonce signature (ed25519) and the JWT chain check; it is paid once per (re)connect, not per message. Publish permissions are checked per message against a cached result.',
          'Revocation uses the `full` resolver: the account JWT with the revocation goes to the server over $SYS.REQ.CLAIMS.UPDATE and the server drops the client in the same step; the figure is the whole round trip as the controller sees it.',
        ],
      };
    } finally {
      await open.dispose();
      await secure.dispose();
      dir.cleanup();
    }
  },
};

export default bench;
