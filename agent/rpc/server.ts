import { readFileSync } from 'node:fs';
import { experimental, Metadata, Server, ServerCredentials, status as GrpcStatus, type ServerUnaryCall, type ServerWritableStream, type ServiceDefinition, type UntypedServiceImplementation, type sendUnaryData } from '@grpc/grpc-js';
import { AgentServiceService, type AgentServiceServer, type BackupNowRequest, type BackupNowResponse, type BackupRestoreRequest, type BackupRestoreResponse, type BackupVerifyRequest, type BackupVerifyResponse, type GetStatusRequest, type GetStatusResponse, type ResetRestartsRequest, type ResetRestartsResponse, type SweepRequest, type SweepResponse } from '../../shared/gen/opsfleet/v1/agent.js';
import { OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { within } from '../../shared/lifecycle.js';

export interface RpcServerOptions {
  host: string;
  port: number;
  insecure: boolean;
  /** TLS without a CA (no client verification) is allowed only with this explicit opt-out. */
  acceptAnyClient?: boolean;
  tls?: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined } | undefined;
  /** The enrolled identity (agent/identity): clients need a certificate from the fleet CA; renewals swap in live. */
  identity?: experimental.CertificateProvider | undefined;
}

export interface RpcHandlers {
  getStatus(): GetStatusResponse;
  /** Connectivity sweep (agent/sweep): streams batches through `send`; OPS_ERR_SWEEP_INPUT means bad arguments. */
  sweep?(req: SweepRequest, send: (batch: SweepResponse) => void, signal: AbortSignal): Promise<void>;
  /** Operator reset of a health check's restart budget (agent/health). */
  resetRestarts?(check: string): ResetRestartsResponse;
  /** Operator backup actions (agent/backup/remote-ops.ts); OpsError codes map to gRPC statuses (backupStatus). */
  backup?: {
    now(set: string): Promise<BackupNowResponse>;
    verify(set: string, readData: boolean): Promise<BackupVerifyResponse>;
    restore(req: BackupRestoreRequest, signal: AbortSignal): Promise<BackupRestoreResponse>;
  };
}

/** gRPC status of a failed backup action, by OpsError code; the code itself travels in the "ops-code" trailer. */
function backupStatus(code: string | undefined): GrpcStatus {
  switch (code) {
    case 'OPS_ERR_BACKUP_NO_SET':
    case 'OPS_ERR_BACKUP_NO_SNAPSHOT':
    case 'OPS_ERR_BACKUP_NO_PATH':
      return GrpcStatus.NOT_FOUND;
    case 'OPS_ERR_BACKUP_NOT_RUNNING':
    case 'OPS_ERR_BACKUP_BUSY':
      return GrpcStatus.FAILED_PRECONDITION;
    case 'OPS_ERR_USAGE':
    case 'OPS_ERR_BACKUP_UNSAFE_PATH':
      return GrpcStatus.INVALID_ARGUMENT;
    case 'OPS_ERR_BACKUP_CHECKSUM':
      return GrpcStatus.DATA_LOSS;
    case 'OPS_ERR_BACKUP_ABORTED':
      return GrpcStatus.CANCELLED;
    default:
      // The action ran and failed (target down, corrupt archive): not a transport problem.
      return GrpcStatus.ABORTED;
  }
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new OpsError('OPS_ERR_RPC_TLS', `cannot read rpc.tls.${what} ${path}: ${(err as NodeJS.ErrnoException).code}`, { cause: err });
  }
}

/** The agent's gRPC server (AgentService). With tls.ca set, clients must present a certificate (mTLS). */
export class RpcServer {
  readonly name = 'rpc';
  private readonly server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  private boundPort = 0;
  private readonly log: Logger;

  constructor(
    private readonly opts: RpcServerOptions,
    private readonly handlers: RpcHandlers,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'rpc' });
    const impl: AgentServiceServer = {
      getStatus: (_call: ServerUnaryCall<GetStatusRequest, GetStatusResponse>, cb: sendUnaryData<GetStatusResponse>) => {
        try {
          cb(null, this.handlers.getStatus());
        } catch (err) {
          this.log.error({ err }, 'GetStatus failed');
          cb({ code: GrpcStatus.INTERNAL, details: (err as Error).message });
        }
      },
      resetRestarts: (call: ServerUnaryCall<ResetRestartsRequest, ResetRestartsResponse>, cb: sendUnaryData<ResetRestartsResponse>) => {
        if (!this.handlers.resetRestarts) return cb({ code: GrpcStatus.UNIMPLEMENTED, details: 'this agent has no health checks' });
        try {
          cb(null, this.handlers.resetRestarts(call.request.check));
        } catch (err) {
          this.log.error({ err }, 'ResetRestarts failed');
          cb({ code: GrpcStatus.INTERNAL, details: (err as Error).message });
        }
      },
      backupNow: (call: ServerUnaryCall<BackupNowRequest, BackupNowResponse>, cb: sendUnaryData<BackupNowResponse>) => {
        this.backupCall('BackupNow', cb, (b) => b.now(call.request.set));
      },
      backupVerify: (call: ServerUnaryCall<BackupVerifyRequest, BackupVerifyResponse>, cb: sendUnaryData<BackupVerifyResponse>) => {
        this.backupCall('BackupVerify', cb, (b) => b.verify(call.request.set, call.request.readData));
      },
      backupRestore: (call: ServerUnaryCall<BackupRestoreRequest, BackupRestoreResponse>, cb: sendUnaryData<BackupRestoreResponse>) => {
        const ac = new AbortController();
        call.on('cancelled', () => ac.abort());
        this.backupCall('BackupRestore', cb, (b) => b.restore(call.request, ac.signal));
      },
      sweep: (call: ServerWritableStream<SweepRequest, SweepResponse>) => {
        const handler = this.handlers.sweep;
        if (!handler) return void call.emit('error', { code: GrpcStatus.UNIMPLEMENTED, details: 'this agent does not run sweeps' });
        const ac = new AbortController();
        call.on('cancelled', () => ac.abort());
        handler(call.request, (b) => call.write(b), ac.signal).then(
          () => call.end(),
          (err: unknown) => {
            const input = err instanceof OpsError && err.code === 'OPS_ERR_SWEEP_INPUT';
            if (!input) this.log.error({ err }, 'Sweep failed');
            call.emit('error', { code: input ? GrpcStatus.INVALID_ARGUMENT : GrpcStatus.INTERNAL, details: (err as Error).message });
          },
        );
      },
    };
    this.server.addService(AgentServiceService, impl);
  }

  private backupCall<T>(name: string, cb: sendUnaryData<T>, fn: (b: NonNullable<RpcHandlers['backup']>) => Promise<T>): void {
    const b = this.handlers.backup;
    if (!b) return cb({ code: GrpcStatus.UNIMPLEMENTED, details: 'this agent does not run backups' });
    fn(b).then(
      (res) => cb(null, res),
      (err: unknown) => {
        const code = err instanceof OpsError ? err.code : undefined;
        const status = backupStatus(code);
        if (status === GrpcStatus.ABORTED || status === GrpcStatus.DATA_LOSS) this.log.error({ err, code }, `${name} failed`);
        const metadata = new Metadata();
        metadata.set('ops-code', code ?? 'OPS_ERR_BACKUP_FAILED');
        cb({ code: status, details: (err as Error).message, metadata });
      },
    );
  }

  /** Adds another service (commands, sweep...) before start(). */
  addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    this.server.addService(definition, implementation);
  }

  private credentials(): ServerCredentials {
    // Host certificates are server-only (EKU): OpenSSL refuses one offered as a client
    // certificate, so of all fleet-CA certificates only the controller's can call.
    if (this.opts.identity) return experimental.createCertificateProviderServerCredentials(this.opts.identity, this.opts.identity, true);
    if (this.opts.tls?.cert && this.opts.tls.key) {
      if (!this.opts.tls.ca && !this.opts.acceptAnyClient) {
        throw new OpsError('OPS_ERR_RPC_TLS', 'rpc.tls without ca would accept any client: set rpc.tls.ca, or rpc.accept_any_client: true');
      }
      const ca = this.opts.tls.ca ? readPem(this.opts.tls.ca, 'ca') : null;
      return ServerCredentials.createSsl(ca, [{ cert_chain: readPem(this.opts.tls.cert, 'cert'), private_key: readPem(this.opts.tls.key, 'key') }], ca !== null);
    }
    if (!this.opts.insecure) throw new OpsError('OPS_ERR_RPC_INSECURE', 'plaintext RPC listener refused without insecure: true');
    return ServerCredentials.createInsecure();
  }

  /** Binds and serves; returns the bound port (useful with port 0). */
  async start(): Promise<number> {
    const creds = this.credentials();
    const host = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host}:${this.opts.port}`, creds, (err, port) => {
        if (err) reject(new OpsError('OPS_ERR_RPC_BIND', `cannot listen on ${host}:${this.opts.port}: ${err.message}`, { cause: err }));
        else resolve(port);
      });
    });
    const clientAuth = this.opts.identity ? "the controller's certificate from the fleet CA" : !this.opts.tls ? 'none (plaintext)' : this.opts.tls.ca ? 'client certificate signed by rpc.tls.ca' : 'NONE: any client accepted';
    this.log.info({ host: this.opts.host, port: this.boundPort, tls: !!this.opts.tls || !!this.opts.identity, clientAuth }, 'rpc listening');
    if (this.opts.tls && !this.opts.tls.ca) {
      this.log.warn({ host: this.opts.host, port: this.boundPort }, 'RPC ACCEPTS ANY CLIENT (rpc.accept_any_client: true, no rpc.tls.ca): anyone who can reach this port can run commands on this host');
    }
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Graceful shutdown bounded by `graceMs`, then forced. */
  async stop(graceMs = 2000): Promise<void> {
    const graceful = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    if (!(await within(graceful, graceMs))) this.server.forceShutdown();
  }
}
