import { createHash, createPrivateKey, createPublicKey, sign, verify, webcrypto, X509Certificate } from 'node:crypto';

/**
 * Fleet identities without the X.509 library: names, key pairs, fingerprints, reading
 * certificates (node:crypto) and the renewal proof. Kept apart from x509.ts so that a daemon
 * start that only reads its identity never loads @peculiar/x509 (about a second of CPU).
 *
 * A host's certificate binds its id as the URI SAN `opsfleet://host/<id>`; the controller's
 * client certificate carries `opsfleet://controller`.
 */
export const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
export const HOST_URI_PREFIX = 'opsfleet://host/';
export const CONTROLLER_URI = 'opsfleet://controller';

export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
}

export async function generateKeyPair(): Promise<KeyPairPem> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const priv = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  return { privateKeyPem: priv.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKeyPem: createPublicKey(priv).export({ format: 'pem', type: 'spki' }).toString() };
}

/** SHA-256 of the DER SubjectPublicKeyInfo, hex: what "the same key" means everywhere. */
export function keyFingerprint(publicKeyPem: string): string {
  return createHash('sha256').update(createPublicKey(publicKeyPem).export({ format: 'der', type: 'spki' })).digest('hex');
}

/** URIs in a `subjectaltname` string as Node reports it ("URI:a, DNS:b"). */
export function sanUris(subjectAltName: string | undefined): string[] {
  return (subjectAltName ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}

/** The host id a certificate binds, or undefined. */
export function hostIdOf(cert: { subjectAltName?: string | undefined } | { subjectaltname?: string | undefined }): string | undefined {
  const san = 'subjectAltName' in cert ? cert.subjectAltName : (cert as { subjectaltname?: string }).subjectaltname;
  const uri = sanUris(san).find((u) => u.startsWith(HOST_URI_PREFIX));
  return uri?.slice(HOST_URI_PREFIX.length);
}

export function certInfo(pem: string): { notBeforeMs: number; notAfterMs: number; hostId: string | undefined; fingerprint: string; serial: string } {
  const c = new X509Certificate(pem);
  return { notBeforeMs: Date.parse(c.validFrom), notAfterMs: Date.parse(c.validTo), hostId: hostIdOf(c), fingerprint: keyFingerprint(c.publicKey.export({ format: 'pem', type: 'spki' }).toString()), serial: c.serialNumber };
}

/**
 * Proof of possession for renewal: the host signs `opsfleet-renew\n<hostId>\n<ts>\n<sha256(csr)>`
 * with its current key; the controller checks it against the key it enrolled.
 */
export function renewPayload(hostId: string, tsMs: number, csrPem: string): Buffer {
  return Buffer.from(`opsfleet-renew\n${hostId}\n${tsMs}\n${createHash('sha256').update(csrPem).digest('hex')}`);
}

export function signRenewal(privateKeyPem: string, hostId: string, tsMs: number, csrPem: string): string {
  return sign('sha256', renewPayload(hostId, tsMs, csrPem), privateKeyPem).toString('base64');
}

export function verifyRenewal(publicKeyPem: string, hostId: string, tsMs: number, csrPem: string, signature: string): boolean {
  try {
    return verify('sha256', renewPayload(hostId, tsMs, csrPem), publicKeyPem, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
