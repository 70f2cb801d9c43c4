import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import { connectivityState as Conn, credentials, Metadata, status as GrpcStatus, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { AgentServiceClient, type BackupNowResponse, type BackupRestoreRequest, type BackupRestoreResponse, type BackupVerifyResponse, type GetStatusResponse, type RefreshFactsResponse } from '../../shared/gen/opsfleet/v1/agent.js';
import { CommandServiceClient } from '../../shared/gen/opsfleet/v1/command.js';
import { OpsError } from '../../shared/errors.js';
import { hostIdOf } from '../../shared/pki/identity.js';

export interface AgentClientOptions {
  tls?: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined; server_name?: string | undefined } | undefined;
  /** Allow agents that offer plaintext gRPC (both sides must say insecure). */
  insecure?: boolean;
  timeoutMs: number;
  /**
   * Fleet identity (controller/pki): an enrolled host is dialled with the controller's client
   * certificate, trusting only the fleet CA, and its certificate must bind the host id the
   * controller meant to dial, whatever endpoint its events announced.
   */
  identity?: { ca: string; cert: string; key: string; stateOf: (hostId: string) => 'pending' | 'enrolled' | 'removed' | undefined } | undefined;
  /** Channels kept at most (default DEFAULT_MAX_CHANNELS); the least recently used is closed past it. */
  maxChannels?: number | undefined;
  /** A channel without calls this long closes its connection (default DEFAULT_CHANNEL_IDLE_MS). */
  channelIdleMs?: number | undefined;
}

/** Name the TLS layer is given for enrolled agents: never an IP (Node warns) and never checked (the host id is). */
const IDENTITY_SERVER_NAME = 'opsfleet-agent';

/**
 * Why a connection to an agent failed, in plain words. grpc-js says things like "No connection
 * established. Last error: null. Resolution note: " which tell an operator nothing; the socket
 * error inside (ECONNREFUSED...) or the status is what matters. The original stays in `cause`.
 */
export function unreachableReason(err: Pick<ServiceError, 'code' | 'details' | 'message'>): string {
  const text = `${err.details ?? ''} ${err.message ?? ''}`;
  if (/ECONNREFUSED/.test(text)) return 'connection refused (is the agent running, and listening on that address?)';
  if (/EHOSTUNREACH|ENETUNREACH/.test(text)) return 'no route to the host (network or firewall)';
  if (/ENOTFOUND|EAI_AGAIN|Name resolution failed|DNS resolution failed/i.test(text)) return 'the host name does not resolve';
  if (/ECONNRESET|EPIPE/.test(text)) return 'the connection was closed by the agent (TLS settings of agent and controller disagree?)';
  if (/opsfleet host id/.test(text)) return /opsfleet host id[^.]*\./.exec(text)![0];
  if (/certificate|handshake|SSL|TLS/i.test(text)) return 'TLS handshake failed (certificates of agent and controller do not match)';
  if (err.code === GrpcStatus.DEADLINE_EXCEEDED || /ETIMEDOUT|Deadline exceeded/i.test(text)) return 'no answer in time (agent busy, or packets dropped on the way)';
  return 'no connection could be made';
}

/** gRPC failures as typed errors; retryable when the agent may simply be restarting. */
export function rpcError(endpoint: string, err: ServiceError): OpsError {
  const unavailable = err.code === GrpcStatus.UNAVAILABLE || err.code === GrpcStatus.DEADLINE_EXCEEDED;
  const identity = /opsfleet host id/.test(`${err.details ?? ''} ${err.message ?? ''}`);
  const code = identity ? 'OPS_ERR_RPC_IDENTITY' : unavailable ? 'OPS_ERR_RPC_UNAVAILABLE' : err.code === GrpcStatus.UNAUTHENTICATED ? 'OPS_ERR_RPC_AUTH' : 'OPS_ERR_RPC_FAILED';
  const why = unavailable ? `not reachable: ${unreachableReason(err)}` : err.details || err.message;
  return new OpsError(code, `agent at ${endpoint}: ${why}`, { cause: err, retryable: unavailable && !identity });
}

/** Channels kept at most (one socket each when connected): the controller's fd budget for agents. */
export const DEFAULT_MAX_CHANNELS = 10_000;
/**
 * A channel without calls this long drops its connection (grpc-js idle timeout; the channel object
 * stays for the next call). Long enough that successive runs find their channels warm (a cold
 * channel costs a TLS handshake); the socket count is bounded by `maxChannels` anyway.
 */
export const DEFAULT_CHANNEL_IDLE_MS = 30 * 60_000;

/**
 * The grpc-js target for an endpoint: a literal IPv4/IPv6 address goes through the `ipv4:` /
 * `ipv6:` resolver. The default (DNS) resolver answers a literal at once too, but builds a
 * c-ares resolver per channel on the way, a cost paid per host by a fleet-wide run. The
 * `:authority` is the same `host:port` either way.
 */
export function channelTarget(endpoint: string): string {
  const v4 = /^([0-9.]+):\d+$/.exec(endpoint);
  if (v4 && isIPv4(v4[1]!)) return `ipv4:${endpoint}`;
  const v6 = /^\[([0-9A-Fa-f:.]+)\]:\d+$/.exec(endpoint);
  if (v6 && isIPv6(v6[1]!)) return `ipv6:${endpoint}`;
  return endpoint;
}

/** One agent's channel: both services' clients share it (one connection, one TLS handshake per host). */
interface Entry {
  agent: AgentServiceClient;
  commands: CommandServiceClient;
}

/**
 * One channel per agent endpoint, reused across calls; closed on stop. Every call takes the id
 * of the host the caller means to reach as its FIRST argument, required: a call without it used
 * to dial silently without the fleet identity check (the facts refresh did), now it does not
 * compile. An enrolled host is dialled with the fleet identity and its certificate must name
 * that id; a host not enrolled (or no fleet identity configured) falls back to rpc_client.
 *
 * Cost per host (a fleet-wide run dials thousands): every enrolled host shares ONE TLS
 * SecureContext (the fleet CA, the controller's key and certificate, parsed once); what differs
 * per host is only the identity check, a closure over the id given to grpc-js with that
 * context. A host's agent and command clients share one channel. Channels are kept across runs
 * (least recently used first out past `maxChannels`), and a channel idle for `channelIdleMs`
 * closes its connection, so a 10,000-host fleet holds at most that many sockets.
 */
export class AgentClients {
  private readonly channels = new Map<string, Entry>();
  private tlsCreds: ChannelCredentials | undefined;
  private identityFiles: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;
  private identityContext: SecureContext | undefined;
  private readonly maxChannels: number;

  constructor(private readonly opts: AgentClientOptions) {
    this.maxChannels = opts.maxChannels ?? DEFAULT_MAX_CHANNELS;
  }

  /** How many agent channels are open (each at most one socket). */
  get channelCount(): number {
    return this.channels.size;
  }

  /** The channel budget (`maxChannels`): the warmer never connects more hosts than this. */
  get channelBudget(): number {
    return this.maxChannels;
  }

  /** How long a channel without calls keeps its connection (grpc-js `client_idle_timeout_ms`). */
  get channelIdleMs(): number {
    return this.opts.channelIdleMs ?? DEFAULT_CHANNEL_IDLE_MS;
  }

  /** Channels by connectivity: `open` all kept, `ready` connected (handshake done), `connecting` on the way. */
  channelStats(): { open: number; ready: number; connecting: number } {
    let ready = 0;
    let connecting = 0;
    for (const e of this.channels.values()) {
      const st = e.agent.getChannel().getConnectivityState(false);
      if (st === Conn.READY) ready++;
      else if (st === Conn.CONNECTING) connecting++;
    }
    return { open: this.channels.size, ready, connecting };
  }

  /**
   * Whether the channel to `hostId` at `endpoint` exists and is READY, without creating it or
   * moving it in the LRU order. `touch` counts as activity for the idle timeout (a warm channel
   * of a host still online is kept, see ChannelWarmer).
   */
  isReady(hostId: string, endpoint: string, tls: boolean, touch = false): boolean {
    const ch = this.readyChannel(hostId, endpoint, tls);
    if (!ch) return false;
    if (touch) ch.getConnectivityState(true);
    return true;
  }

  /** The existing channel to `hostId` at `endpoint` when it is READY; never creates one. */
  private readyChannel(hostId: string, endpoint: string, tls: boolean): ReturnType<AgentServiceClient['getChannel']> | undefined {
    let key: string;
    try {
      key = this.dial(hostId, endpoint, tls).key;
    } catch {
      return undefined;
    }
    const ch = this.channels.get(key)?.agent.getChannel();
    return ch && ch.getConnectivityState(false) === Conn.READY ? ch : undefined;
  }

  /**
   * Calls `fn` once when the READY channel to `hostId` at `endpoint` leaves READY (its agent
   * restarted, the connection dropped, the channel closed). Without a call pending, grpc-js does
   * not reconnect a dropped channel by itself: the warmer uses this to connect it again.
   * Returns false (and never calls `fn`) when there is no READY channel.
   */
  onLeaveReady(hostId: string, endpoint: string, tls: boolean, fn: () => void): boolean {
    const ch = this.readyChannel(hostId, endpoint, tls);
    if (!ch) return false;
    try {
      ch.watchConnectivityState(Conn.READY, Infinity, () => fn());
    } catch {
      return false;
    }
    return true;
  }

  /** Whether a channel to `hostId` at `endpoint` is kept (no side effect but closing a removed host's). */
  hasChannel(hostId: string, endpoint: string, tls: boolean): boolean {
    try {
      return this.channels.has(this.dial(hostId, endpoint, tls).key);
    } catch {
      return false;
    }
  }

  /**
   * Creates the channel to `hostId` and connects it without a call (ChannelWarmer). grpc-js
   * reports READY only after TCP, the TLS handshake (with the host id check of the fleet
   * identity) and the HTTP/2 preface, so the next call on a READY channel pays none of them.
   * Rejects at once on TRANSIENT_FAILURE, so an unreachable host does not hold a warmer slot
   * until the deadline; grpc-js then retries by itself with its backoff (1 s up to 120 s) until
   * the channel goes idle, as for a channel a run opened.
   */
  connect(hostId: string, endpoint: string, tls: boolean, timeoutMs = this.opts.timeoutMs): Promise<void> {
    return new Promise((resolve, reject) => {
      const ch = this.client(hostId, endpoint, tls).getChannel();
      const deadline = Date.now() + timeoutMs;
      const fail = (why: string) => reject(new OpsError('OPS_ERR_RPC_UNAVAILABLE', `agent at ${endpoint}: not reachable: ${why}`, { retryable: true }));
      const check = (): void => {
        // Runs in grpc-js's watcher callback: a throw here (a channel closed under us) must become the rejection.
        try {
          const st = ch.getConnectivityState(true);
          if (st === Conn.READY) return resolve();
          if (st === Conn.TRANSIENT_FAILURE) return fail('connect failed (refused, unreachable, or the TLS handshake or host id check failed)');
          if (st === Conn.SHUTDOWN) return fail('channel closed (over the channel budget, or the host was removed)');
          ch.watchConnectivityState(st, deadline, (err) => (err ? fail('no connection in time') : check()));
        } catch (err) {
          fail(`channel unusable: ${(err as Error).message}`);
        }
      };
      check();
    });
  }

  /** Whether `hostId` is dialled with the fleet identity; throws for a removed host (never dialled again). */
  private usesIdentity(hostId: string): boolean {
    if (!this.opts.identity) return false;
    const state = this.opts.identity.stateOf(hostId);
    if (state === 'removed') {
      // Its channel from before the removal (kept across runs) is closed: no connection to it stays open.
      for (const [key, e] of this.channels) {
        if (key.startsWith(`id:${hostId}|`)) {
          this.channels.delete(key);
          AgentClients.closeEntry(e);
        }
      }
      throw new OpsError('OPS_ERR_HOST_REVOKED', `host "${hostId}" was removed (opsctl hosts remove): the controller no longer calls it`);
    }
    return state === 'enrolled';
  }

  private loadIdentity(): { ca: Buffer; cert: Buffer; key: Buffer } {
    const id = this.opts.identity!;
    try {
      this.identityFiles ??= { ca: readFileSync(id.ca), cert: readFileSync(id.cert), key: readFileSync(id.key) };
    } catch (err) {
      throw new OpsError('OPS_ERR_RPC_TLS', `cannot load the controller identity in ${id.cert}: ${(err as Error).message}`, { cause: err });
    }
    return this.identityFiles;
  }

  /** The check that the agent's certificate binds `hostId`, whatever name the TLS layer was given. */
  private static identityCheck(hostId: string): (name: string, cert: PeerCertificate) => Error | undefined {
    return (_name, cert) => {
      const got = hostIdOf(cert);
      return got === hostId ? undefined : new Error(`opsfleet host id mismatch: dialled host "${hostId}" but its certificate is for ${got ? `"${got}"` : 'no opsfleet host'}.`);
    };
  }

  private hostCreds(hostId: string): ChannelCredentials {
    const f = this.loadIdentity();
    try {
      this.identityContext ??= createSecureContext({ ca: f.ca, key: f.key, cert: f.cert });
    } catch (err) {
      throw new OpsError('OPS_ERR_RPC_TLS', `cannot use the controller identity in ${this.opts.identity!.cert}: ${(err as Error).message}`, { cause: err });
    }
    return credentials.createFromSecureContext(this.identityContext, { checkServerIdentity: AgentClients.identityCheck(hostId) });
  }

  private creds(tls: boolean): ChannelCredentials {
    if (!tls) {
      if (!this.opts.insecure) {
        throw new OpsError('OPS_ERR_RPC_INSECURE', 'the agent offers plaintext gRPC; configure TLS on it, or write rpc_client.insecure: true on the controller to allow plaintext');
      }
      return credentials.createInsecure();
    }
    if (!this.tlsCreds) {
      const t = this.opts.tls;
      const read = (p: string | undefined) => (p ? readFileSync(p) : null);
      try {
        this.tlsCreds = credentials.createSsl(read(t?.ca), read(t?.key), read(t?.cert));
      } catch (err) {
        throw new OpsError('OPS_ERR_RPC_TLS', `cannot load rpc_client.tls files: ${(err as Error).message}`, { cause: err });
      }
    }
    return this.tlsCreds;
  }

  private channelOptions(serverName: string | undefined): Record<string, string | number> {
    const options: Record<string, string | number> = { 'grpc.keepalive_time_ms': 60_000 };
    // Channelz keeps a registry entry and a trace per channel and subchannel: nobody reads it here.
    options['grpc.enable_channelz'] = 0;
    // Each channel its own subchannel pool: no two agents share a subchannel anyway, and closing
    // a channel makes the global pool scan every subchannel of the process (closing 5,000
    // channels at stop took 4.6 s of CPU, quadratic in the fleet; an LRU eviction paid it too).
    options['grpc.use_local_subchannel_pool'] = 1;
    options['grpc.client_idle_timeout_ms'] = this.opts.channelIdleMs ?? DEFAULT_CHANNEL_IDLE_MS;
    if (serverName) options['grpc.ssl_target_name_override'] = serverName;
    return options;
  }

  /** Channel key, credentials and options for one agent; `hostId` (the host the caller means) selects the fleet identity. */
  private dial(hostId: string, endpoint: string, tls: boolean): { key: string; creds: () => ChannelCredentials; options: Record<string, string | number> } {
    if (tls && this.usesIdentity(hostId)) {
      return { key: `id:${hostId}|${endpoint}`, creds: () => this.hostCreds(hostId), options: this.channelOptions(IDENTITY_SERVER_NAME) };
    }
    if (this.opts.identity?.stateOf(hostId) === 'removed') this.usesIdentity(hostId);
    return { key: `${tls ? 'tls' : 'plain'}|${endpoint}`, creds: () => this.creds(tls), options: this.channelOptions(tls ? this.opts.tls?.server_name : undefined) };
  }

  private entry(hostId: string, endpoint: string, tls: boolean): Entry {
    const d = this.dial(hostId, endpoint, tls);
    let e = this.channels.get(d.key);
    if (e) {
      // Most recently used last: the first entry is the one to close when over budget.
      this.channels.delete(d.key);
      this.channels.set(d.key, e);
      return e;
    }
    const creds = d.creds();
    const target = channelTarget(endpoint);
    const agent = new AgentServiceClient(target, creds, d.options);
    // The command client rides the agent client's channel: one connection per host.
    const commands = new CommandServiceClient(target, creds, { channelOverride: agent.getChannel() });
    e = { agent, commands };
    this.channels.set(d.key, e);
    // Over budget: close the least recently used. Calls already started on it finish; only new ones would need a new channel.
    while (this.channels.size > this.maxChannels) {
      const [oldKey, old] = this.channels.entries().next().value as [string, Entry];
      this.channels.delete(oldKey);
      AgentClients.closeEntry(old);
    }
    return e;
  }

  private static closeEntry(e: Entry): void {
    if (e.commands.getChannel() !== e.agent.getChannel()) e.commands.close();
    e.agent.close();
  }

  /** `hostId`: the host the caller means to reach (its certificate must say so when it is enrolled). */
  client(hostId: string, endpoint: string, tls: boolean): AgentServiceClient {
    return this.entry(hostId, endpoint, tls).agent;
  }

  /** Client of the agent's CommandService (playbooks); same channel and credentials as status calls. */
  commands(hostId: string, endpoint: string, tls: boolean): CommandServiceClient {
    return this.entry(hostId, endpoint, tls).commands;
  }

  getStatus(hostId: string, endpoint: string, tls: boolean, timeoutMs = this.opts.timeoutMs): Promise<GetStatusResponse> {
    return new Promise((resolve, reject) => {
      // Inside the executor: a local refusal (plaintext, TLS files) becomes a rejection.
      const c = this.client(hostId, endpoint, tls);
      c.getStatus({}, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(rpcError(endpoint, err));
        else resolve(res);
      });
    });
  }

  /**
   * Backup actions on the agent (unary, long deadlines given by the caller). A rejection is
   * rpcError(...) whose `cause` is the ServiceError: its status and "ops-code" trailer say why.
   * `signal` cancels the call (the operator went away).
   */
  backupNow(hostId: string, endpoint: string, tls: boolean, set: string, timeoutMs: number, signal?: AbortSignal): Promise<BackupNowResponse> {
    return this.unary(hostId, endpoint, tls, signal, (c, md, opts, cb) => c.backupNow({ set }, md, opts, cb), timeoutMs);
  }

  backupVerify(hostId: string, endpoint: string, tls: boolean, set: string, readData: boolean, timeoutMs: number, signal?: AbortSignal): Promise<BackupVerifyResponse> {
    return this.unary(hostId, endpoint, tls, signal, (c, md, opts, cb) => c.backupVerify({ set, readData }, md, opts, cb), timeoutMs);
  }

  backupRestore(hostId: string, endpoint: string, tls: boolean, req: BackupRestoreRequest, timeoutMs: number, signal?: AbortSignal): Promise<BackupRestoreResponse> {
    return this.unary(hostId, endpoint, tls, signal, (c, md, opts, cb) => c.backupRestore(req, md, opts, cb), timeoutMs);
  }

  /** Asks the agent to gather its facts now; answers the FactsDoc JSON text. Gathering spawns probes: give it time. */
  refreshFacts(hostId: string, endpoint: string, tls: boolean, timeoutMs: number, signal?: AbortSignal): Promise<RefreshFactsResponse> {
    return this.unary(hostId, endpoint, tls, signal, (c, md, opts, cb) => c.refreshFacts({}, md, opts, cb), timeoutMs);
  }

  private unary<T>(
    hostId: string,
    endpoint: string,
    tls: boolean,
    signal: AbortSignal | undefined,
    call: (c: AgentServiceClient, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: T) => void) => { cancel(): void },
    timeoutMs: number,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const c = this.client(hostId, endpoint, tls);
      const onAbort = () => handle.cancel();
      const handle = call(c, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(rpcError(endpoint, err));
        else resolve(res);
      });
      if (signal?.aborted) handle.cancel();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    for (const e of this.channels.values()) AgentClients.closeEntry(e);
    this.channels.clear();
  }
}
