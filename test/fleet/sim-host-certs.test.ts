import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { FastHostCerts } from '../../bench/fleet-sim/host-certs.js';
import { certInfo, generateKeyPair, hostIdOf } from '../../shared/pki/identity.js';
import { createCa, issueCertificate } from '../../shared/pki/x509.js';

/**
 * The fleet simulator's certificates (bench/fleet-sim/host-certs.ts) must be what enrollment
 * issues: signed by the fleet CA, binding exactly the host id, with the same extensions as the
 * real issuer's; otherwise the bench measures another handshake than production's.
 */
describe('simulated hosts get enrollment-shaped fleet certificates', () => {
  it('binds each host id, verifies against the CA, and differs from the real issuer only in id, serial and signature', async () => {
    const ca = await createCa('test fleet CA', 86_400_000);
    const kp = await generateKeyPair();
    const now = Date.now();
    const fast = new FastHostCerts(ca, kp.publicKeyPem, 3_600_000, issueCertificate, now);
    const caCert = new X509Certificate(ca.certPem);
    const serials = new Set<string>();
    for (const id of ['sim-00000', 'sim-00001', 'web-01', 'a', 'x'.repeat(63)]) {
      const { pem, serial } = await fast.issueHost(id);
      const c = new X509Certificate(pem);
      assert.equal(hostIdOf(c), id);
      assert.equal(c.subject, `CN=${id}`);
      assert.ok(c.verify(caCert.publicKey), `${id}: signed by the fleet CA`);
      assert.ok(c.checkIssued(caCert));
      assert.equal(certInfo(pem).serial.toLowerCase().replace(/^0+/, ''), serial.replace(/^0+/, ''));
      serials.add(serial);
      // Same extensions (text form) as the real issuer's certificate for the same id.
      const real = new X509Certificate(await issueCertificate({ ca, publicKeyPem: kp.publicKeyPem, commonName: id, uri: `opsfleet://host/${id}`, usage: 'server', lifetimeMs: 3_600_000, now }));
      assert.equal(c.subjectAltName, real.subjectAltName);
      assert.equal(c.issuer, real.issuer);
      assert.deepEqual(c.keyUsage, real.keyUsage);
      assert.equal(c.validTo, real.validTo);
      assert.equal(c.ca, false);
    }
    assert.equal(serials.size, 5);
  });
});
