import { readFileSync } from 'node:fs';
import { credentials, Metadata, status as GrpcStatus, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { AgentServiceClient, type BackupNowResponse, type BackupRestoreRequest, type BackupRestoreResponse, type BackupVerifyResponse, type GetStatusResponse, type RefreshFactsResponse } from '../../shared/gen/opsfleet/v1/agent.js';
import { CommandServiceClient } from '../../shared/gen/opsfleet/v1/command.js';
import { OpsError } from '../../shared/errors.js';

export interface AgentClientOptions {
  tls?: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined; server_name?: string | undefined } | undefined;
  /** Allow agents that offer plaintext gRPC (both sides must say insecure). */
  insecure?: boolean;
  timeoutMs: number;
}

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
  if (/certificate|handshake|SSL|TLS/i.test(text)) return 'TLS handshake failed (certificates of agent and controller do not match)';
  if (err.code === GrpcStatus.DEADLINE_EXCEEDED || /ETIMEDOUT|Deadline exceeded/i.test(text)) return 'no answer in time (agent busy, or packets dropped on the way)';
  return 'no connection could be made';
}

/** gRPC failures as typed errors; retryable when the agent may simply be restarting. */
export function rpcError(endpoint: string, err: ServiceError): OpsError {
  const unavailable = err.code === GrpcStatus.UNAVAILABLE || err.code === GrpcStatus.DEADLINE_EXCEEDED;
  const code = unavailable ? 'OPS_ERR_RPC_UNAVAILABLE' : err.code === GrpcStatus.UNAUTHENTICATED ? 'OPS_ERR_RPC_AUTH' : 'OPS_ERR_RPC_FAILED';
  const why = unavailable ? `not reachable: ${unreachableReason(err)}` : err.details || err.message;
  return new OpsError(code, `agent at ${endpoint}: ${why}`, { cause: err, retryable: unavailable });
}

/** One channel per agent endpoint, reused across calls; closed on stop. */
export class AgentClients {
  private readonly clients = new Map<string, AgentServiceClient>();
  private readonly commandClients = new Map<string, CommandServiceClient>();
  private tlsCreds: ChannelCredentials | undefined;

  constructor(private readonly opts: AgentClientOptions) {}

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

  private channelOptions(tls: boolean): Record<string, string | number> {
    const options: Record<string, string | number> = { 'grpc.keepalive_time_ms': 60_000 };
    if (tls && this.opts.tls?.server_name) options['grpc.ssl_target_name_override'] = this.opts.tls.server_name;
    return options;
  }

  client(endpoint: string, tls: boolean): AgentServiceClient {
    const key = `${tls ? 'tls' : 'plain'}|${endpoint}`;
    let c = this.clients.get(key);
    if (!c) {
      c = new AgentServiceClient(endpoint, this.creds(tls), this.channelOptions(tls));
      this.clients.set(key, c);
    }
    return c;
  }

  /** Client of the agent's CommandService (playbooks); same credentials as status calls. */
  commands(endpoint: string, tls: boolean): CommandServiceClient {
    const key = `${tls ? 'tls' : 'plain'}|${endpoint}`;
    let c = this.commandClients.get(key);
    if (!c) {
      c = new CommandServiceClient(endpoint, this.creds(tls), this.channelOptions(tls));
      this.commandClients.set(key, c);
    }
    return c;
  }

  getStatus(endpoint: string, tls: boolean, timeoutMs = this.opts.timeoutMs): Promise<GetStatusResponse> {
    return new Promise((resolve, reject) => {
      // Inside the executor: a local refusal (plaintext, TLS files) becomes a rejection.
      const c = this.client(endpoint, tls);
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
  backupNow(endpoint: string, tls: boolean, set: string, timeoutMs: number, signal?: AbortSignal): Promise<BackupNowResponse> {
    return this.unary(endpoint, signal, (c, md, opts, cb) => c.backupNow({ set }, md, opts, cb), timeoutMs, tls);
  }

  backupVerify(endpoint: string, tls: boolean, set: string, readData: boolean, timeoutMs: number, signal?: AbortSignal): Promise<BackupVerifyResponse> {
    return this.unary(endpoint, signal, (c, md, opts, cb) => c.backupVerify({ set, readData }, md, opts, cb), timeoutMs, tls);
  }

  backupRestore(endpoint: string, tls: boolean, req: BackupRestoreRequest, timeoutMs: number, signal?: AbortSignal): Promise<BackupRestoreResponse> {
    return this.unary(endpoint, signal, (c, md, opts, cb) => c.backupRestore(req, md, opts, cb), timeoutMs, tls);
  }

  /** Asks the agent to gather its facts now; answers the FactsDoc JSON text. Gathering spawns probes: give it time. */
  refreshFacts(endpoint: string, tls: boolean, timeoutMs: number, signal?: AbortSignal): Promise<RefreshFactsResponse> {
    return this.unary(endpoint, signal, (c, md, opts, cb) => c.refreshFacts({}, md, opts, cb), timeoutMs, tls);
  }

  private unary<T>(
    endpoint: string,
    signal: AbortSignal | undefined,
    call: (c: AgentServiceClient, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: T) => void) => { cancel(): void },
    timeoutMs: number,
    tls: boolean,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const c = this.client(endpoint, tls);
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
    for (const c of [...this.clients.values(), ...this.commandClients.values()]) c.close();
    this.clients.clear();
    this.commandClients.clear();
  }
}
