import { OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { createCsr, signRenewal } from '../../shared/pki/x509.js';
import { VERSION } from '../../shared/version.js';
import { postJson } from './enroll-http.js';
import { IdentityFiles, type IdentityMeta, type IssuedIdentity } from './identity-files.js';

export interface EnrollOptions {
  stateDir: string;
  hostId: string;
  controllerUrl: string;
  token: string;
  tags: Record<string, string>;
  /** CA file for an https controller with a private CA. */
  ca?: string | undefined;
  /** How long to wait while the controller parks the host for manual acceptance. */
  waitMs: number;
  pollMs?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
  /** Told once when the controller parks the host (manual approval). */
  onPending?: () => void;
}

/** A wait that keeps the process alive (shared sleep is unref'd: the `enroll` command would exit 13 mid-wait). */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

const apiUrl = (base: string, path: string) => `${base.replace(/\/+$/, '')}/${path}`;

/**
 * Enrolls this host: makes its key (kept in <state_dir>/identity, never sent), sends a CSR with
 * its host id, the token and its NATS public key, and stores what the controller issues. While
 * the host waits for `opsctl hosts accept` it asks again every pollMs (a poll spends no token use).
 * An existing identity for the same host id is kept: `already: true`.
 */
export async function enroll(o: EnrollOptions): Promise<{ meta: IdentityMeta; already: boolean }> {
  const files = new IdentityFiles(o.stateDir);
  const existing = files.read();
  if (existing) {
    if (existing.host_id !== o.hostId) throw new OpsError('OPS_ERR_ENROLL_FAILED', `${files.dir} holds the identity of host "${existing.host_id}", not "${o.hostId}": keep host.id, or move the folder aside to enroll as a new host`);
    return { meta: existing, already: true };
  }
  const key = await files.ensureKey();
  const body = { token: o.token, host_id: o.hostId, csr_pem: await createCsr(o.hostId, key), nats_public_key: files.natsPublicKey(), tags: o.tags, version: VERSION };
  const deadline = Date.now() + o.waitMs;
  let toldPending = false;
  for (;;) {
    const r = await postJson(apiUrl(o.controllerUrl, 'api/v1/enroll'), body, { ca: o.ca, timeoutMs: o.timeoutMs ?? 15_000 });
    if (r.body.status === 'enrolled') return { meta: files.write(r.body as unknown as IssuedIdentity, o.controllerUrl), already: false };
    if (!toldPending) {
      toldPending = true;
      o.onPending?.();
      o.logger?.warn({ hostId: o.hostId, next: `opsctl hosts accept ${o.hostId}` }, 'enrollment waits for an operator to accept this host');
    }
    if (Date.now() >= deadline || o.signal?.aborted) {
      throw new OpsError('OPS_ERR_ENROLL_PENDING', `host "${o.hostId}" waits for an operator: run opsctl hosts accept ${o.hostId}, then run this again (or start the agent: it keeps asking)`, { retryable: true });
    }
    await pause(Math.min(o.pollMs ?? 2000, Math.max(0, deadline - Date.now())), o.signal);
  }
}

/** Renews the certificate (and NATS JWT), proving possession of the enrolled key. */
export async function renew(stateDir: string, o: { ca?: string | undefined; timeoutMs?: number } = {}): Promise<IdentityMeta> {
  const files = new IdentityFiles(stateDir);
  const meta = files.read();
  if (!meta) throw new OpsError('OPS_ERR_IDENTITY_MISSING', `no identity in ${files.dir}: enroll first (opsfleet-agent enroll)`);
  const key = files.key();
  const csr = await createCsr(meta.host_id, key);
  const ts = Date.now();
  const r = await postJson(
    apiUrl(meta.controller_url, 'api/v1/enroll/renew'),
    { host_id: meta.host_id, csr_pem: csr, ts_ms: ts, signature: signRenewal(key, meta.host_id, ts, csr), nats_public_key: files.natsPublicKey() },
    { ca: o.ca, timeoutMs: o.timeoutMs ?? 15_000 },
  );
  return files.write(r.body as unknown as IssuedIdentity, meta.controller_url, meta.enrolled_at);
}
