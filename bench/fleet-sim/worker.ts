/**
 * A worker process of the fleet simulator: many virtual agents, each with its own NATS
 * connection and its own gRPC port. One grpc-js Server listens on all of this worker's ports
 * (a port per agent, as the controller keeps one channel per agent endpoint); a call is told
 * apart by the port it came in on (`:authority`). Started by fleet.ts with fork(); the spec
 * comes as argv[2] (JSON). SIGKILL of this process is the "hosts die at once" cue.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js';
import { CommandServiceService, type CommandServiceServer, type RunPlaybookRequest, type RunPlaybookResponse } from '../../shared/gen/opsfleet/v1/command.js';
import { AgentServiceService, type AgentServiceServer } from '../../shared/gen/opsfleet/v1/agent.js';
import { VERSION } from '../../shared/version.js';
import type { ParentMessage, WorkerMessage, WorkerSpec } from './protocol.js';
import { VirtualAgent, type SimCounters } from './virtual-agent.js';

const spec = JSON.parse(process.argv[2]!) as WorkerSpec;
// The traffic is the same either way: only the stacks of errors nobody reads are not captured (WorkerSpec.errorStacks).
if (!spec.errorStacks) Error.stackTraceLimit = 0;
const counters: SimCounters = { published: 0, publishErrors: 0, byKind: {} };
const agents: VirtualAgent[] = [];
const byPort = new Map<number, VirtualAgent>();
let rpcCalls = 0;

function send(m: WorkerMessage): void {
  process.send?.(m);
}

/** Canned answers per built-in: the controller's side of a run is what the bench measures. */
const BUILTIN_DATA: Record<string, unknown> = {
  load: { load1: 0.42, load5: 0.38, load15: 0.3, cores: 8 },
  memory: { total: 34359738368, available: 21000000000, used_percent: 38.9 },
  disk_usage: { mounts: [{ mount: '/', used_percent: 46.5 }] },
};

const commands: CommandServiceServer = {
  runPlaybook: (call: ServerWritableStream<RunPlaybookRequest, RunPlaybookResponse>) => {
    rpcCalls++;
    const started = Date.now();
    const agent = byPort.get(Number(call.getHost().split(':').pop()));
    const req = call.request;
    if (!agent || agent.stopped) {
      call.write({ tsMs: Date.now(), done: { status: 'failed', durationMs: 0, startedAtMs: started, endedAtMs: Date.now() } });
      call.end();
      return;
    }
    let failed = false;
    req.steps.forEach((s, index) => {
      const name = s.name || s.builtin || s.run;
      call.write({ tsMs: Date.now(), stepStart: { index, name, kind: s.builtin ? 'builtin' : 'run' } });
      const known = s.builtin !== '' && s.builtin in BUILTIN_DATA;
      // Shell steps are refused as an agent without rpc.allow_shell does; the bench uses built-ins.
      if (!known) failed = true;
      call.write({
        tsMs: Date.now(),
        stepResult: { index, name, status: known ? 'ok' : 'refused', exitCode: known ? 0 : -1, durationMs: 0, dataJson: known ? JSON.stringify(BUILTIN_DATA[s.builtin]) : '', error: known ? '' : 'simulated agent answers built-in steps only', outputTruncated: false, outputBytes: 0 },
      });
    });
    call.write({ tsMs: Date.now(), done: { status: failed ? 'refused' : 'ok', durationMs: Date.now() - started, startedAtMs: started, endedAtMs: Date.now() } });
    call.end();
  },
};

const status: Partial<AgentServiceServer> = {
  getStatus: (call, cb) => {
    rpcCalls++;
    const agent = byPort.get(Number(call.getHost().split(':').pop()));
    cb(null, { hostId: agent?.hostId ?? '', instanceId: agent?.instanceId ?? '', agentVersion: VERSION, uptimeS: Math.floor(process.uptime()), outboxDepth: 0, outboxEvicted: 0, lastSeq: 0, natsConnected: true, components: [], startedAtMs: Math.floor(Date.now() - process.uptime() * 1000) });
  },
};

const server = new Server();
server.addService(CommandServiceService, commands);
server.addService(AgentServiceService, status as AgentServiceServer);

const tls = spec.tls ? { ca: readFileSync(spec.tls.caFile), key: readFileSync(spec.tls.keyFile) } : undefined;

/**
 * A port for one agent. With TLS, as an enrolled agent serves (agent/rpc/server.ts): its own
 * fleet certificate, and a client certificate from the fleet CA required (the controller's).
 */
function bind(hostId: string): Promise<number> {
  let creds = ServerCredentials.createInsecure();
  if (tls) {
    const cert = readFileSync(spec.tls!.certFileTemplate.replaceAll('{host}', hostId));
    creds = ServerCredentials.createSsl(tls.ca, [{ cert_chain: cert, private_key: tls.key }], true);
  }
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, port) => (err ? reject(err) : resolve(port))));
}

async function main(): Promise<void> {
  const t0 = Date.now();
  for (let i = 0; i < spec.count; i++) {
    const index = spec.first + i;
    const hostId = `${spec.hostPrefix}${String(index).padStart(5, '0')}`;
    const port = await bind(hostId);
    const nats = spec.credsFileTemplate ? { ...spec.nats, credsFile: spec.credsFileTemplate.replaceAll('{host}', hostId) } : spec.nats;
    const a = new VirtualAgent(hostId, index, nats, port, spec.cadence, counters, { ...spec.tags, rack: `r${index % 40}` }, tls !== undefined);
    agents.push(a);
    byPort.set(port, a);
  }
  // Connect at the given rate; traffic of connected agents starts at once (the scheduler skips the rest).
  const scheduler = setInterval(() => {
    const now = Date.now();
    for (const a of agents) a.tick(now);
  }, 100);
  let connected = 0;
  const perTick = Math.max(1, Math.round(spec.connectPerSecond / 10));
  if (agents[0]) {
    try {
      await agents[0].probe();
    } catch (err) {
      const creds = spec.credsFileTemplate ? `per-host creds ${spec.credsFileTemplate}` : 'no credentials (the server may be in operator mode: give the workers per-host creds)';
      throw new Error(`virtual agent ${agents[0].hostId} cannot connect to NATS ${spec.nats.servers.join(',')} with ${creds}: ${(err as Error).message}`);
    }
  }
  // A slice that does not connect within the stall limit (a broker refusing or lost midway) fails the run.
  const stallMs = spec.connectStallMs ?? 60_000;
  for (let i = 0; i < agents.length; i += perTick) {
    const slice = agents.slice(i, i + perTick);
    const tick = Date.now();
    let stall: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(slice.map((a) => a.connect())),
      new Promise((_, reject) => (stall = setTimeout(() => reject(new Error(`agents ${slice[0]!.hostId}… did not connect to NATS within ${stallMs} ms (${connected} of ${agents.length} of this worker connected)`)), stallMs))),
    ]).finally(() => clearTimeout(stall));
    connected += slice.length;
    if (connected % 500 < perTick) send({ type: 'progress', connected });
    const wait = 100 - (Date.now() - tick);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  send({ type: 'ready', agents: agents.length, ports: byPort.size, connectMs: Date.now() - t0 });

  // How long this worker's event loop was held between two stats requests: events are stamped
  // before they are written to the socket, so a held loop is counted as ingest lag downstream.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'stats') {
      const cpu = process.cpuUsage();
      const loopDelayP99Ms = loopDelay.percentile(99) / 1e6;
      const loopDelayMaxMs = loopDelay.max / 1e6;
      loopDelay.reset();
      send({ type: 'stats', counters, rpcCalls, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, rssMb: process.memoryUsage().rss / 2 ** 20, loopDelayP99Ms, loopDelayMaxMs });
    } else if (m.type === 'stop') {
      clearInterval(scheduler);
      void Promise.all(agents.map((a) => a.stop()))
        .then(() => server.tryShutdown(() => process.exit(0)))
        .catch(() => process.exit(1));
    }
  });
}

main().catch((err: unknown) => {
  // Exit only once the message is out: an exit right after send() can drop it, and the parent would see a bare exit.
  const message = (err as Error).message ?? String(err);
  if (process.send) process.send({ type: 'error', message } satisfies WorkerMessage, undefined, {}, () => process.exit(1));
  else process.exit(1);
});
