/**
 * Fleet identities for the simulated hosts: a fleet-CA certificate per host (host-certs.ts) and
 * the host's row in the controller's `host_identities`, as enrollment leaves it after
 * `enroll()` and `issue()` (state `enrolled`, the key's fingerprint, the certificate's serial and
 * validity). With the row, the controller dials the host with its fleet identity and checks that
 * the certificate binds the host id, exactly as for a real enrolled agent.
 *
 * The rows are written into the running controller's database (WAL; the controller reads a
 * host's state on every dial, nothing is cached but removals) in one transaction, where 5,000
 * HTTP enrollments would spend minutes on CSRs. What the shortcut skips: the enrollment token
 * and its audit rows (`host.enroll`), which no part of a run reads.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { IdentityRow } from '../../controller/pki/enrollment.js';
import { generateKeyPair, keyFingerprint } from '../../shared/pki/identity.js';
import { issueCertificate } from '../../shared/pki/x509.js';
import { FastHostCerts } from './host-certs.js';

export interface SimTls {
  caFile: string;
  keyFile: string;
  certFileTemplate: string;
}

/**
 * Signs a certificate for each host with the controller's fleet CA (`<dataDir>/pki`), writes
 * `<dir>/<host>.crt` and the shared `<dir>/host.key`, and enrolls the hosts in the controller's
 * database. Returns what the simulator's workers need.
 */
export async function enrollSimHosts(dataDir: string, dir: string, hostIds: string[], lifetimeMs = 24 * 3_600_000): Promise<SimTls & { signMs: number }> {
  const pki = join(dataDir, 'pki');
  const ca = { certPem: readFileSync(join(pki, 'ca.crt'), 'utf8'), keyPem: readFileSync(join(pki, 'ca.key'), 'utf8') };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = await generateKeyPair();
  const keyFile = join(dir, 'host.key');
  writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });
  const now = Date.now();
  const certs = new FastHostCerts(ca, key.publicKeyPem, lifetimeMs, issueCertificate, now);
  const t0 = performance.now();
  const fp = keyFingerprint(key.publicKeyPem);
  const rows: IdentityRow[] = [];
  for (const hostId of hostIds) {
    const { pem, serial } = await certs.issueHost(hostId);
    writeFileSync(join(dir, `${hostId}.crt`), pem);
    rows.push({
      host_id: hostId,
      state: 'enrolled',
      key_fp: fp,
      public_key: key.publicKeyPem,
      nats_key: null,
      tags: '{}',
      token_name: 'fleet-sim',
      version: '',
      requested_ms: now,
      enrolled_ms: now,
      accepted_by: 'token:fleet-sim',
      cert_serial: serial,
      not_before_ms: now - 60_000,
      not_after_ms: now + lifetimeMs,
      renewed_ms: now,
      removed_ms: null,
      removed_by: null,
    });
  }
  const signMs = performance.now() - t0;
  const db = new Database(join(dataDir, 'controller.db'), { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 30000');
    const put = db.prepare(
      `INSERT OR REPLACE INTO host_identities (host_id, state, key_fp, public_key, nats_key, tags, token_name, version, requested_ms, enrolled_ms, accepted_by, cert_serial, not_before_ms, not_after_ms, renewed_ms, removed_ms, removed_by)
       VALUES (@host_id, @state, @key_fp, @public_key, @nats_key, @tags, @token_name, @version, @requested_ms, @enrolled_ms, @accepted_by, @cert_serial, @not_before_ms, @not_after_ms, @renewed_ms, @removed_ms, @removed_by)`,
    );
    db.transaction(() => {
      for (const r of rows) put.run(r);
    })();
  } finally {
    db.close();
  }
  return { caFile: join(pki, 'ca.crt'), keyFile, certFileTemplate: join(dir, '{host}.crt'), signMs };
}
