import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ControllerConfig } from '../../shared/config/controller.js';
import type { NatsConfig } from '../../shared/config/common.js';
import { OpsError } from '../../shared/errors.js';
import type { ComponentStateName } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import { AUTHORITY_FILE, NatsAuthority } from './authority.js';
import { NatsSystemLink } from './system-link.js';
import type { NatsViolation } from './violations.js';

/** The alert the controller raises for refused NATS clients (one per user and kind). */
export const NATS_CLIENT_REFUSED = 'NatsClientRefused';

export type RaisedAlert = {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  resolveTimeoutS: number;
};

/** Where the authority lives and whether it is on (see `nats_auth` in the controller config). */
export function natsAuthDir(cfg: Pick<ControllerConfig, 'nats_auth' | 'data_dir'>): string {
  return cfg.nats_auth.dir ?? join(cfg.data_dir, 'nats-auth');
}

export function natsAuthEnabled(cfg: Pick<ControllerConfig, 'nats_auth' | 'data_dir'>): boolean {
  return cfg.nats_auth.enabled ?? existsSync(join(natsAuthDir(cfg), AUTHORITY_FILE));
}

/**
 * The controller's side of NATS identities: the authority (issues and revokes agent users),
 * the system link (pushes revocations, hears the server's advisories) and the
 * `NatsClientRefused` alert with a count per user. Absent when `nats_auth` is off.
 */
export class ControllerNatsAuth {
  private link: NatsSystemLink | undefined;
  private readonly log: Logger;
  /** Refused/dropped clients by `<kind>:<user>`, since start. */
  readonly refused = new Map<string, number>();

  private constructor(
    readonly authority: NatsAuthority,
    private readonly cfg: ControllerConfig,
    logger: Logger,
    private readonly raise: (a: RaisedAlert[]) => void,
  ) {
    this.log = logger.child({ component: 'natsauth' });
  }

  static async open(cfg: ControllerConfig, logger: Logger, raise: (a: RaisedAlert[]) => void): Promise<ControllerNatsAuth | undefined> {
    if (!natsAuthEnabled(cfg)) return undefined;
    const authority = await NatsAuthority.loadOrCreate(natsAuthDir(cfg), logger);
    return new ControllerNatsAuth(authority, cfg, logger, raise);
  }

  /** The controller's NATS settings: its own creds from the authority unless the config names others. */
  natsConfig(nats: NatsConfig): NatsConfig {
    if (nats.creds_file || nats.user !== undefined || nats.token !== undefined) return nats;
    return { ...nats, creds_file: this.authority.controllerCredsFile() };
  }

  /**
   * What enrollment (controller/pki) calls: issue at enroll/renewal, revoke at removal. A
   * revocation that could not be pushed is saved and goes out when the system connection is
   * back; enrollment records that as "not pushed" in the audit log.
   */
  issuer(): { issueAgentUser(hostId: string, userPublicNkey: string, ttlSeconds: number): Promise<string>; revokeUser(userPublicNkey: string): Promise<void> } {
    const a = this.authority;
    return {
      issueAgentUser: (hostId, key, ttl) => a.issueAgentUser(hostId, key, ttl),
      revokeUser: async (key) => {
        const r = await a.revokeUser(key);
        if (!r.pushed) throw new OpsError('OPS_ERR_NATS_AUTHORITY', `revocation saved but not on the NATS server yet (${r.error ?? 'no system connection'}); it is pushed when the controller's system connection is back`, { retryable: true });
      },
    };
  }

  start(): void {
    this.link = new NatsSystemLink({ servers: this.cfg.nats.servers, authority: this.authority, logger: this.log, onViolation: this.onViolation });
    this.link.start();
  }

  state(): { state: ComponentStateName; detail: string } {
    return this.link?.state() ?? { state: 'stopped', detail: 'not started' };
  }

  get counters(): NatsSystemLink['counters'] | undefined {
    return this.link?.counters;
  }

  private onViolation = (v: NatsViolation): void => {
    const who = v.user || v.nkey || 'unknown';
    const key = `${v.kind}:${who}`;
    const n = (this.refused.get(key) ?? 0) + 1;
    this.refused.set(key, n);
    const what = v.kind === 'auth_error' ? 'was refused at connect (unknown, revoked or expired credentials)' : v.kind === 'revoked' ? 'was disconnected: its credentials were revoked' : 'was disconnected: its credentials expired';
    try {
      this.raise([
        {
          labels: { alertname: NATS_CLIENT_REFUSED, severity: v.kind === 'expired' ? 'warning' : 'critical', kind: v.kind, ...(v.user ? { host: v.user } : { nkey: v.nkey || 'unknown' }) },
          annotations: {
            summary: `NATS client ${who} from ${v.host || 'unknown address'} ${what} (${n} time(s) since the controller started)`,
            description: `server reason: ${v.reason || 'none given'}. A removed host that keeps trying, or a host whose renewal keeps failing; see docs/identity.md.`,
          },
          resolveTimeoutS: 3600,
        },
      ]);
    } catch (err) {
      this.log.error({ err }, `raising ${NATS_CLIENT_REFUSED} failed`);
    }
  };

  async stop(): Promise<void> {
    await this.link?.stop();
  }
}
