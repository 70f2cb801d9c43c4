import type Database from 'better-sqlite3';
import { OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { certInfo, keyFingerprint, verifyRenewal } from '../../shared/pki/identity.js';

const verifiedCsrKey = async (csrPem: string) => (await import('../../shared/pki/x509.js')).verifiedCsrKey(csrPem);
import type { AuditLog } from '../audit/audit-log.js';
import { EnrollTokens } from './enroll-tokens.js';
import type { FleetCa } from './fleet-ca.js';

/** The NATS side (controller/natsauth, helper natsid): per-host user JWTs and their revocation. */
export interface NatsIssuer {
  issueAgentUser(hostId: string, userPublicNkey: string, ttlSeconds: number): Promise<string>;
  revokeUser(userPublicNkey: string): Promise<void>;
}

export type IdentityState = 'pending' | 'enrolled' | 'removed';

/** A host identity's row as it travels between controllers (control log): public keys only. */
export interface IdentityRow {
  host_id: string;
  state: IdentityState;
  key_fp: string;
  public_key: string;
  nats_key: string | null;
  tags: string;
  token_name: string;
  version: string;
  requested_ms: number;
  enrolled_ms: number | null;
  accepted_by: string | null;
  cert_serial: string | null;
  not_before_ms: number | null;
  not_after_ms: number | null;
  renewed_ms: number | null;
  removed_ms: number | null;
  removed_by: string | null;
}
type Row = IdentityRow;

/** When a row last changed: a later record wins, an older one (applied late) is ignored. */
const changedAt = (r: Row) => Math.max(r.requested_ms, r.enrolled_ms ?? 0, r.renewed_ms ?? 0, r.removed_ms ?? 0);

export interface IdentityView {
  hostId: string;
  state: IdentityState;
  keyFingerprint: string;
  tags: Record<string, string>;
  token: string;
  version: string;
  requestedAt: string;
  enrolledAt: string | null;
  acceptedBy: string | null;
  certNotAfter: string | null;
  renewedAt: string | null;
  removedAt: string | null;
  removedBy: string | null;
}

export interface EnrollRequest {
  token: string;
  host_id: string;
  csr_pem: string;
  nats_public_key?: string | undefined;
  tags?: Record<string, string> | undefined;
  version?: string | undefined;
}

export interface RenewRequest {
  host_id: string;
  csr_pem: string;
  ts_ms: number;
  signature: string;
  nats_public_key?: string | undefined;
}

export type EnrollResult =
  | { status: 'enrolled'; host_id: string; cert_pem: string; ca_pem: string; nats_jwt: string | null; renew_after: string; not_after: string; tags: Record<string, string> }
  | { status: 'pending'; host_id: string };

export interface EnrollmentDeps {
  db: Database.Database;
  ca: FleetCa;
  audit: AuditLog;
  certLifetimeMs: number;
  logger: Logger;
  nats?: NatsIssuer | undefined;
  now?: () => number;
}

/** How far a renewal's signed timestamp may be from the controller's clock. */
const RENEW_SKEW_MS = 5 * 60_000;
export const HOST_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/**
 * Enrollment, acceptance, renewal and removal of host identities. The database decides every
 * race: the token use and the host's row are written in one transaction, and a host id that
 * has a pending or enrolled row with another key is refused (no takeover) until removed.
 */
export class Enrollment {
  readonly tokens: EnrollTokens;
  private readonly stmts;
  private readonly now: () => number;
  private readonly log: Logger;
  /** Host ids removed, kept in memory so ingest and the gRPC pool can ask per message for free. */
  private readonly removedIds = new Set<string>();
  private readonly listeners = new Set<(row: IdentityRow) => void>();

  constructor(private readonly d: EnrollmentDeps) {
    this.now = d.now ?? Date.now;
    this.log = d.logger.child({ component: 'enrollment' });
    this.tokens = new EnrollTokens(d.db, this.now);
    const db = d.db;
    this.stmts = {
      get: db.prepare<[string], Row>('SELECT * FROM host_identities WHERE host_id = ?'),
      brief: db.prepare<[string], { state: IdentityState; not_after_ms: number | null }>('SELECT state, not_after_ms FROM host_identities WHERE host_id = ?'),
      briefs: db.prepare<[], { host_id: string; state: IdentityState; not_after_ms: number | null }>('SELECT host_id, state, not_after_ms FROM host_identities'),
      all: db.prepare<[], Row>('SELECT * FROM host_identities ORDER BY host_id'),
      removed: db.prepare<[], { host_id: string }>("SELECT host_id FROM host_identities WHERE state = 'removed'"),
      upsert: db.prepare(
        `INSERT INTO host_identities (host_id, state, key_fp, public_key, nats_key, tags, token_name, version, requested_ms, enrolled_ms, accepted_by)
         VALUES (@host_id, @state, @key_fp, @public_key, @nats_key, @tags, @token_name, @version, @requested_ms, @enrolled_ms, @accepted_by)
         ON CONFLICT (host_id) DO UPDATE SET state = excluded.state, key_fp = excluded.key_fp, public_key = excluded.public_key, nats_key = excluded.nats_key,
           tags = excluded.tags, token_name = excluded.token_name, version = excluded.version, requested_ms = excluded.requested_ms, enrolled_ms = excluded.enrolled_ms,
           accepted_by = excluded.accepted_by, cert_serial = NULL, not_before_ms = NULL, not_after_ms = NULL, renewed_ms = NULL, removed_ms = NULL, removed_by = NULL`,
      ),
      issued: db.prepare('UPDATE host_identities SET cert_serial = ?, not_before_ms = ?, not_after_ms = ?, nats_key = coalesce(?, nats_key), renewed_ms = ? WHERE host_id = ? AND key_fp = ? AND state = \'enrolled\''),
      accept: db.prepare("UPDATE host_identities SET state = 'enrolled', enrolled_ms = ?, accepted_by = ? WHERE host_id = ? AND state = 'pending'"),
      replace: db.prepare(
        `INSERT OR REPLACE INTO host_identities (host_id, state, key_fp, public_key, nats_key, tags, token_name, version, requested_ms, enrolled_ms, accepted_by, cert_serial, not_before_ms, not_after_ms, renewed_ms, removed_ms, removed_by)
         VALUES (@host_id, @state, @key_fp, @public_key, @nats_key, @tags, @token_name, @version, @requested_ms, @enrolled_ms, @accepted_by, @cert_serial, @not_before_ms, @not_after_ms, @renewed_ms, @removed_ms, @removed_by)`,
      ),
      remove: db.prepare("UPDATE host_identities SET state = 'removed', removed_ms = ?, removed_by = ? WHERE host_id = ? AND state != 'removed'"),
    };
    for (const r of this.stmts.removed.all()) this.removedIds.add(r.host_id);
  }

  /** Hears a host's row after every change made here: enrolled, pending, accepted, certificate issued or renewed, removed. */
  onChange(fn: (row: IdentityRow) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(hostId: string): void {
    const row = this.stmts.get.get(hostId);
    if (row) for (const fn of this.listeners) fn(row);
  }

  /**
   * A host's row as another controller wrote it (control log). The later change wins: a record
   * applied late (a former leader's outbox) does not roll a host back; removal takes effect
   * here at once (ingest and the gRPC pool ask isRemoved).
   */
  applyRow(r: IdentityRow): void {
    if (!HOST_ID.test(r.host_id)) throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', `identity: host_id "${r.host_id.slice(0, 80)}" is not a host id`);
    const mine = this.stmts.get.get(r.host_id);
    if (mine && changedAt(mine) > changedAt(r)) return;
    this.stmts.replace.run(r);
    if (r.state === 'removed') this.removedIds.add(r.host_id);
    else this.removedIds.delete(r.host_id);
  }

  /** Whether a host's identity was removed: its events are rejected and it is never dialled. */
  isRemoved(hostId: string): boolean {
    return this.removedIds.has(hostId);
  }

  /** The state of a host's identity, if it has one. */
  state(hostId: string): IdentityState | undefined {
    return this.stmts.get.get(hostId)?.state;
  }

  list(): IdentityView[] {
    return this.stmts.all.all().map(view);
  }

  get(hostId: string): IdentityView | undefined {
    const r = this.stmts.get.get(hostId);
    return r ? view(r) : undefined;
  }

  /**
   * What the hosts list shows of a host's identity: its state and certificate expiry, read
   * without the key PEM and tags (`get` for each of 5,000 hosts was a good part of the list).
   */
  brief(hostId: string): { state: IdentityState; certNotAfter: string | null } | undefined {
    const r = this.stmts.brief.get(hostId);
    return r ? { state: r.state, certNotAfter: r.not_after_ms === null ? null : new Date(r.not_after_ms).toISOString() } : undefined;
  }

  /** `brief` of every host with an identity, in one query: what the full hosts list reads (5,000 lookups cost ~16 ms). */
  briefs(): Map<string, { state: IdentityState; certNotAfter: string | null }> {
    const out = new Map<string, { state: IdentityState; certNotAfter: string | null }>();
    for (const r of this.stmts.briefs.iterate()) out.set(r.host_id, { state: r.state, certNotAfter: r.not_after_ms === null ? null : new Date(r.not_after_ms).toISOString() });
    return out;
  }

  async enroll(req: EnrollRequest): Promise<EnrollResult> {
    if (!HOST_ID.test(req.host_id)) throw new OpsError('OPS_ERR_ENROLL_BAD_REQUEST', `host_id: letters, digits, "_" and "-", at most 63 characters, got "${req.host_id.slice(0, 80)}"`);
    const publicKey = await verifiedCsrKey(req.csr_pem);
    const fp = keyFingerprint(publicKey);
    const now = this.now();
    // Synchronous from here to the commit: no other request interleaves (one Node thread, one transaction).
    const outcome = this.d.db.transaction((): { row: Row; fresh: boolean } => {
      const existing = this.stmts.get.get(req.host_id);
      if (existing && existing.state !== 'removed') {
        if (existing.key_fp !== fp) {
          throw new OpsError('OPS_ERR_ENROLL_TAKEOVER', `host id "${req.host_id}" is already ${existing.state} with another key (fingerprint ${existing.key_fp.slice(0, 16)}…); a host cannot take over another's identity. If the host was reinstalled, run opsctl hosts remove ${req.host_id} first`);
        }
        // Same key: the host asks again (polling while pending, or it lost its certificate).
        // The token must still be the real one, but a poll spends no use.
        this.tokens.identify(req.token);
        return { row: existing, fresh: false };
      }
      const grant = this.tokens.take(req.token);
      const tags = { ...(req.tags ?? {}), ...grant.tags };
      const state: IdentityState = grant.approve === 'manual' ? 'pending' : 'enrolled';
      this.stmts.upsert.run({ host_id: req.host_id, state, key_fp: fp, public_key: publicKey, nats_key: req.nats_public_key ?? null, tags: JSON.stringify(tags), token_name: grant.name, version: req.version ?? '', requested_ms: now, enrolled_ms: state === 'enrolled' ? now : null, accepted_by: state === 'enrolled' ? `token:${grant.name}` : null });
      this.removedIds.delete(req.host_id);
      return { row: this.stmts.get.get(req.host_id)!, fresh: true };
    })();
    if (outcome.fresh) {
      this.changed(req.host_id);
      const token = this.tokens.identify(req.token);
      this.tokens.changed(token.id);
      this.d.audit.append(`token:${outcome.row.token_name}`, outcome.row.state === 'pending' ? 'host.enroll.pending' : 'host.enroll', req.host_id, { keyFingerprint: fp, tags: JSON.parse(outcome.row.tags) as unknown, version: req.version ?? '' });
      this.log.info({ hostId: req.host_id, state: outcome.row.state, token: outcome.row.token_name }, outcome.row.state === 'pending' ? 'host waits for acceptance' : 'host enrolled');
    }
    if (outcome.row.state === 'pending') return { status: 'pending', host_id: req.host_id };
    return this.issue(outcome.row, req.nats_public_key);
  }

  /** Signs a certificate (and a NATS user JWT) for an enrolled row. */
  private async issue(row: Row, natsKey: string | undefined): Promise<Extract<EnrollResult, { status: 'enrolled' }>> {
    const now = this.now();
    const certPem = await this.d.ca.issueHost(row.host_id, row.public_key, this.d.certLifetimeMs, now);
    const info = certInfo(certPem);
    const nk = natsKey ?? row.nats_key ?? undefined;
    let natsJwt: string | null = null;
    if (this.d.nats && nk) {
      if (row.nats_key && row.nats_key !== nk) await this.d.nats.revokeUser(row.nats_key).catch((err: unknown) => this.log.error({ err, hostId: row.host_id }, 'revoking the previous NATS user failed'));
      natsJwt = await this.d.nats.issueAgentUser(row.host_id, nk, Math.ceil(this.d.certLifetimeMs / 1000));
    }
    // The row may have been removed while signing: then the certificate is not handed out.
    const changed = this.stmts.issued.run(info.serial, info.notBeforeMs, info.notAfterMs, nk ?? null, now, row.host_id, row.key_fp).changes;
    if (changed === 0) throw new OpsError('OPS_ERR_HOST_REVOKED', `host "${row.host_id}" was removed; enroll it again with a new token`);
    this.changed(row.host_id);
    // notBefore is backdated for skew; the schedule counts from now.
    const lifetime = info.notAfterMs - now;
    return {
      status: 'enrolled',
      host_id: row.host_id,
      cert_pem: certPem,
      ca_pem: this.d.ca.caPem,
      nats_jwt: natsJwt,
      // Two thirds into its life: a third of the lifetime is left to retry a failing renewal.
      renew_after: new Date(now + Math.floor((lifetime * 2) / 3)).toISOString(),
      not_after: new Date(info.notAfterMs).toISOString(),
      tags: JSON.parse(row.tags) as Record<string, string>,
    };
  }

  /** Renewal: the host proves it holds the enrolled key by signing the request with it. */
  async renew(req: RenewRequest): Promise<EnrollResult> {
    const row = this.stmts.get.get(req.host_id);
    if (!row) throw new OpsError('OPS_ERR_IDENTITY_NOT_FOUND', `host "${req.host_id}" is not enrolled`);
    if (row.state === 'removed') throw new OpsError('OPS_ERR_HOST_REVOKED', `host "${req.host_id}" was removed at ${new Date(row.removed_ms ?? 0).toISOString()}; renewal refused`);
    if (row.state === 'pending') throw new OpsError('OPS_ERR_ENROLL_PENDING', `host "${req.host_id}" waits for opsctl hosts accept ${req.host_id}`);
    if (Math.abs(this.now() - req.ts_ms) > RENEW_SKEW_MS) throw new OpsError('OPS_ERR_RENEW_PROOF', `renewal timestamp is ${Math.round((req.ts_ms - this.now()) / 1000)} s away from the controller's clock (at most ${RENEW_SKEW_MS / 1000} s)`);
    if (!verifyRenewal(row.public_key, req.host_id, req.ts_ms, req.csr_pem, req.signature)) throw new OpsError('OPS_ERR_RENEW_PROOF', `renewal for "${req.host_id}" is not signed by its enrolled key`);
    const csrKey = await verifiedCsrKey(req.csr_pem);
    if (keyFingerprint(csrKey) !== row.key_fp) throw new OpsError('OPS_ERR_RENEW_PROOF', 'renewal CSR carries another key than the enrolled one (a new key needs a new enrollment)');
    const r = await this.issue(row, req.nats_public_key);
    this.log.info({ hostId: req.host_id, notAfter: r.not_after }, 'host certificate renewed');
    return r;
  }

  accept(hostId: string, by: string): IdentityView {
    const row = this.stmts.get.get(hostId);
    if (!row || row.state === 'removed') throw new OpsError('OPS_ERR_IDENTITY_NOT_FOUND', `no host "${hostId}" waits for acceptance`);
    if (row.state === 'enrolled') throw new OpsError('OPS_ERR_IDENTITY_STATE', `host "${hostId}" is already enrolled`);
    this.stmts.accept.run(this.now(), by, hostId);
    this.changed(hostId);
    this.d.audit.append(by, 'host.accept', hostId, { keyFingerprint: row.key_fp });
    return view(this.stmts.get.get(hostId)!);
  }

  /**
   * Removes a host's identity at once: its renewal and gRPC are refused and its events rejected
   * from the next message on; its NATS user is revoked on the server (natsid: revokeUser).
   */
  async remove(hostId: string, by: string): Promise<IdentityView> {
    const row = this.stmts.get.get(hostId);
    if (!row || row.state === 'removed') throw new OpsError('OPS_ERR_IDENTITY_NOT_FOUND', `host "${hostId}" has no identity to remove`);
    this.stmts.remove.run(this.now(), by, hostId);
    this.removedIds.add(hostId);
    this.changed(hostId);
    let natsRevoked: boolean | string = false;
    if (row.nats_key && this.d.nats) {
      try {
        await this.d.nats.revokeUser(row.nats_key);
        natsRevoked = true;
      } catch (err) {
        natsRevoked = `failed: ${(err as Error).message}`;
        this.log.error({ err, hostId }, 'revoking the NATS user failed; its JWT stays valid until it expires');
      }
    }
    this.d.audit.append(by, 'host.remove', hostId, { keyFingerprint: row.key_fp, previousState: row.state, natsRevoked });
    return view(this.stmts.get.get(hostId)!);
  }

  /** Enrolled hosts whose certificate has less than `fraction` of its life left (renewal keeps failing). */
  expiring(fraction: number): Array<{ hostId: string; notAfterMs: number }> {
    const now = this.now();
    return this.stmts.all
      .all()
      .filter((r) => r.state === 'enrolled' && r.not_after_ms !== null && r.renewed_ms !== null && r.not_after_ms - now < (r.not_after_ms - r.renewed_ms) * fraction)
      .map((r) => ({ hostId: r.host_id, notAfterMs: r.not_after_ms! }));
  }
}

function view(r: Row): IdentityView {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    hostId: r.host_id,
    state: r.state,
    keyFingerprint: r.key_fp,
    tags: JSON.parse(r.tags) as Record<string, string>,
    token: r.token_name,
    version: r.version,
    requestedAt: new Date(r.requested_ms).toISOString(),
    enrolledAt: iso(r.enrolled_ms),
    acceptedBy: r.accepted_by,
    certNotAfter: iso(r.not_after_ms),
    renewedAt: iso(r.renewed_ms),
    removedAt: iso(r.removed_ms),
    removedBy: r.removed_by,
  };
}
