// tsyringe (inside @peculiar/x509) needs the Reflect metadata API before it loads.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, createPublicKey, sign, verify, webcrypto, X509Certificate } from 'node:crypto';
import { OpsError } from '../errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/**
 * Fleet identities are ECDSA P-256 keys and X.509 certificates. A host's certificate binds its
 * id as the URI SAN `opsfleet://host/<id>`; the controller's client certificate carries
 * `opsfleet://controller`. Host certificates are server-only (EKU serverAuth) and the
 * controller's client-only (clientAuth): OpenSSL refuses a host certificate offered as a client
 * certificate, so one agent cannot call another with its own identity.
 */
export const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
export const HOST_URI_PREFIX = 'opsfleet://host/';
export const CONTROLLER_URI = 'opsfleet://controller';
const EKU_SERVER = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT = '1.3.6.1.5.5.7.3.2';

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

type KeyPair = { privateKey: webcrypto.CryptoKey; publicKey: webcrypto.CryptoKey };

async function importKeys(privateKeyPem: string): Promise<KeyPair> {
  const priv = createPrivateKey(privateKeyPem);
  const pkcs8 = priv.export({ format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, ALG, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', spki, ALG, true, ['verify']),
  };
}

/** SHA-256 of the DER SubjectPublicKeyInfo, hex: what "the same key" means everywhere. */
export function keyFingerprint(publicKeyPem: string): string {
  return createHash('sha256').update(createPublicKey(publicKeyPem).export({ format: 'der', type: 'spki' })).digest('hex');
}

/** A PKCS#10 request for `hostId`, signed with the host's key (proves it holds the key). */
export async function createCsr(hostId: string, privateKeyPem: string): Promise<string> {
  const keys = await importKeys(privateKeyPem);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${hostId}`, keys, signingAlgorithm: ALG });
  return csr.toString('pem');
}

/** The public key of a CSR whose signature checks out; OPS_ERR_ENROLL_CSR otherwise. */
export async function verifiedCsrKey(csrPem: string): Promise<string> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new OpsError('OPS_ERR_ENROLL_CSR', `csr_pem: not a PEM certificate request (${(err as Error).message})`);
  }
  if (!(await csr.verify())) throw new OpsError('OPS_ERR_ENROLL_CSR', 'csr_pem: its signature does not match its key');
  const spki = Buffer.from(csr.publicKey.rawData);
  const pem = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }).toString();
  if (createPublicKey(pem).asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new OpsError('OPS_ERR_ENROLL_CSR', 'csr_pem: the key must be ECDSA P-256');
  return pem;
}

function serial(): string {
  // Positive 128-bit serial (top bit clear), random so certificates never collide across restarts.
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = b[0]! & 0x7f;
  return Buffer.from(b).toString('hex');
}

export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

export async function createCa(commonName: string, lifetimeMs: number, now = Date.now()): Promise<CaMaterial> {
  const pair = await generateKeyPair();
  const keys = await importKeys(pair.privateKeyPem);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + lifetimeMs),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: pair.privateKeyPem };
}

export interface IssueRequest {
  ca: CaMaterial;
  publicKeyPem: string;
  commonName: string;
  uri: string;
  usage: 'server' | 'client';
  lifetimeMs: number;
  now?: number;
}

/** Signs a leaf certificate with the CA. notBefore is a minute early to absorb clock skew. */
export async function issueCertificate(r: IssueRequest): Promise<string> {
  const now = r.now ?? Date.now();
  const caCert = new x509.X509Certificate(r.ca.certPem);
  const caKeys = await importKeys(r.ca.keyPem);
  const spki = createPublicKey(r.publicKeyPem).export({ format: 'der', type: 'spki' });
  const publicKey = await webcrypto.subtle.importKey('spki', spki, ALG, true, ['verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${r.commonName}`,
    issuer: caCert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + r.lifetimeMs),
    publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([r.usage === 'server' ? EKU_SERVER : EKU_CLIENT]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: r.uri }]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return cert.toString('pem');
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
