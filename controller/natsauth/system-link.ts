import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { errorLine, OpsError } from '../../shared/errors.js';
import type { ComponentStateName } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import { connectNatsWithRetry } from '../../shared/nats/connect.js';
import type { NatsAuthority } from './authority.js';
import { violationFromAdvisory, type NatsViolation } from './violations.js';

export interface SystemLinkOptions {
  servers: string[];
  authority: NatsAuthority;
  logger: Logger;
  /** Called for every refused or dropped client the server reports. */
  onViolation?: (v: NatsViolation) => void;
  /** Bound on one claims push; default 5 s. */
  pushTimeoutMs?: number;
}

/**
 * The controller's connection as the system account's user: pushes the OPSFLEET account JWT
 * (revocations) with `$SYS.REQ.CLAIMS.UPDATE` at every (re)connect and on every revocation, and
 * counts the server's advisories about refused clients. Started after the authority exists;
 * it never blocks the controller's start (it connects in the background like ingest).
 */
export class NatsSystemLink {
  private nc: NatsConnection | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly subs: Subscription[] = [];
  private readonly log: Logger;
  private st: ComponentStateName = 'stopped';
  private lastError: string | undefined;
  readonly counters = { pushes: 0, pushFailures: 0, authErrors: 0, revokedDisconnects: 0, expiredDisconnects: 0 };

  constructor(private readonly o: SystemLinkOptions) {
    this.log = o.logger.child({ component: 'natsauth.system' });
  }

  start(): void {
    this.st = 'starting';
    this.o.authority.attachPusher((jwt) => this.pushAccount(jwt));
    this.loop ??= this.run().catch((err: unknown) => this.log.error({ err }, 'nats system link failed'));
  }

  state(): { state: ComponentStateName; detail: string } {
    const c = this.counters;
    return { state: this.st, detail: this.lastError ?? `pushes ${c.pushes}, auth errors ${c.authErrors}, revoked ${c.revokedDisconnects}, expired ${c.expiredDisconnects}` };
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      const nc = await connectNatsWithRetry(
        { servers: this.o.servers, creds_file: this.o.authority.systemCredsFile(), connect_timeout: 5000 },
        { name: 'opsfleet-controller system', logger: this.log, signal: this.abort.signal, what: 'revocations wait, retrying', onConnectedChange: (up) => up && this.onReconnect() },
      );
      if (!nc) return;
      this.nc = nc;
      this.subscribe(nc);
      await this.onReconnect();
      await nc.closed();
      this.subs.length = 0;
      this.nc = undefined;
      if (this.abort.signal.aborted) return;
      this.st = 'degraded';
      this.log.warn('nats system connection closed; connecting again');
    }
  }

  /** A revocation made while the server was away must reach it now. */
  private async onReconnect(): Promise<void> {
    try {
      await this.o.authority.push();
      this.st = 'running';
      this.lastError = undefined;
    } catch (err) {
      this.st = 'degraded';
      this.lastError = `account push failed: ${errorLine(err)}`;
      this.log.error({ err: errorLine(err) }, 'pushing the account JWT failed; retried at the next reconnect or revocation');
    }
  }

  private subscribe(nc: NatsConnection): void {
    const onMsg = (subject: string, data: Uint8Array) => {
      const v = violationFromAdvisory(subject, data);
      if (!v) return;
      if (v.kind === 'auth_error') this.counters.authErrors++;
      else if (v.kind === 'revoked') this.counters.revokedDisconnects++;
      else this.counters.expiredDisconnects++;
      this.log.warn({ violation: v }, 'nats client refused');
      try {
        this.o.onViolation?.(v);
      } catch (err) {
        this.log.error({ err }, 'violation listener failed');
      }
    };
    for (const subject of ['$SYS.SERVER.*.CLIENT.AUTH.ERR', `$SYS.ACCOUNT.${this.o.authority.accountPublicKey}.DISCONNECT`]) {
      this.subs.push(nc.subscribe(subject, { callback: (err, m) => {
            if (!err) onMsg(m.subject, m.data);
          } }));
    }
  }

  /** One claims update; the server answers `{data:{code:200}}` or an error. */
  private async pushAccount(jwt: string): Promise<void> {
    const nc = this.nc;
    if (!nc || nc.isClosed()) throw new OpsError('OPS_ERR_NATS_AUTHORITY', 'not connected to NATS as the system account: the revocation is pushed when the connection is back', { retryable: true });
    try {
      const r = await nc.request('$SYS.REQ.CLAIMS.UPDATE', jwt, { timeout: this.o.pushTimeoutMs ?? 5000 });
      const body = JSON.parse(r.string()) as { data?: { code?: number; message?: string }; error?: { code?: number; description?: string } };
      if (body.error || (body.data?.code ?? 200) >= 300) throw new Error(body.error?.description ?? body.data?.message ?? r.string());
      this.counters.pushes++;
    } catch (err) {
      this.counters.pushFailures++;
      if (err instanceof OpsError) throw err;
      throw new OpsError('OPS_ERR_NATS_AUTHORITY', `the NATS server refused the account update: ${(err as Error).message}`, { cause: err, retryable: true });
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.o.authority.attachPusher(undefined);
    await this.nc?.close().catch(() => undefined);
    await this.loop;
    this.st = 'stopped';
  }
}
