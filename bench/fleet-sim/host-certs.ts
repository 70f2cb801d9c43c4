/**
 * Fleet-CA certificates for thousands of simulated hosts, fast.
 *
 * Each certificate is exactly what enrollment issues (controller/pki/fleet-ca.ts `issueHost` →
 * shared/pki/x509.ts `issueCertificate`: CN and URI SAN `opsfleet://host/<id>`, serverAuth
 * only, the CA's key id, the fleet CA's signature), but @peculiar/x509 on webcrypto costs
 * several ms per certificate (importing the CA key and the CA certificate every call, ASN.1 in
 * JavaScript). Like shared/nats/fast-nkeys.ts for JWTs, the maths moves to node:crypto: the real
 * issuer signs ONE template per host-id length with a placeholder id; each host's certificate is
 * that template's TBSCertificate with the placeholder bytes replaced by the host id (same
 * length, so no DER length changes) and a fresh serial, signed with the CA key by
 * `crypto.sign` (OpenSSL ECDSA P-256). About 0.1 ms per host instead of ~10 ms.
 *
 * All simulated hosts share ONE key pair: the binding the controller checks is the host id in
 * the certificate, which is per host; a shared key is a simulator shortcut (real hosts each
 * generate their own key at enrollment), and the key is not what the controller's id check or
 * the agent's client-cert check look at.
 */
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { HOST_URI_PREFIX } from '../../shared/pki/identity.js';
import type { CaMaterial } from '../../shared/pki/x509.js';

interface Tlv {
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  body: number;
  /** Offset just past the content. */
  end: number;
}

function readTlv(der: Buffer, at: number): Tlv {
  let len = der[at + 1]!;
  let body = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[body + i]!;
    body += n;
  }
  return { start: at, body, end: body + len };
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}

function pemOf(der: Buffer): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

function indexesOf(buf: Buffer, needle: Buffer): number[] {
  const out: number[] = [];
  for (let i = buf.indexOf(needle); i >= 0; i = buf.indexOf(needle, i + 1)) out.push(i);
  return out;
}

/** A template: the real issuer's TBSCertificate for a placeholder id of one length. */
interface Template {
  tbs: Buffer;
  sigAlg: Buffer;
  serial: { at: number; len: number };
  idAt: number[];
}

export type IssueOne = (r: { ca: CaMaterial; publicKeyPem: string; commonName: string; uri: string; usage: 'server'; lifetimeMs: number; now: number }) => Promise<string>;

export class FastHostCerts {
  private readonly caKey: KeyObject;
  private readonly templates = new Map<number, Template>();

  /**
   * `issue`: the real issuer (shared/pki/x509.ts `issueCertificate`), called once per distinct
   * host-id length; `publicKeyPem`: the key every simulated host presents.
   */
  constructor(
    private readonly ca: CaMaterial,
    private readonly publicKeyPem: string,
    private readonly lifetimeMs: number,
    private readonly issue: IssueOne,
    private readonly now = Date.now(),
  ) {
    this.caKey = createPrivateKey(ca.keyPem);
  }

  private async template(len: number): Promise<Template> {
    let t = this.templates.get(len);
    if (t) return t;
    for (let attempt = 0; attempt < 8 && !t; attempt++) {
      // A random placeholder of the id's length; it must occur exactly twice (CN and URI SAN).
      const ph = Array.from(randomBytes(len), (b) => 'abcdefghijklmnopqrstuvwxyz'[b % 26]).join('');
      const der = derOf(await this.issue({ ca: this.ca, publicKeyPem: this.publicKeyPem, commonName: ph, uri: `${HOST_URI_PREFIX}${ph}`, usage: 'server', lifetimeMs: this.lifetimeMs, now: this.now }));
      const outer = readTlv(der, 0);
      const tbsTlv = readTlv(der, outer.body);
      const algTlv = readTlv(der, tbsTlv.end);
      const tbs = Buffer.from(der.subarray(tbsTlv.start, tbsTlv.end));
      const version = readTlv(tbs, readTlv(tbs, 0).body);
      if (tbs[version.start] !== 0xa0 || tbs[version.end] !== 0x02) throw new Error('host certificate template: unexpected TBSCertificate layout');
      const serialTlv = readTlv(tbs, version.end);
      const idAt = indexesOf(tbs, Buffer.from(ph));
      if (idAt.length !== 2) continue;
      t = { tbs, sigAlg: Buffer.from(der.subarray(algTlv.start, algTlv.end)), serial: { at: serialTlv.body, len: serialTlv.end - serialTlv.body }, idAt };
    }
    if (!t) throw new Error(`host certificate template: no placeholder of ${len} characters occurred exactly twice`);
    this.templates.set(len, t);
    return t;
  }

  /** The certificate PEM for `hostId` (what `issueHost(hostId, publicKeyPem, lifetimeMs)` would return). */
  async issueHost(hostId: string): Promise<{ pem: string; serial: string }> {
    const id = Buffer.from(hostId);
    const t = await this.template(id.length);
    const tbs = Buffer.from(t.tbs);
    // A positive serial of the template's length, minimal DER (first byte 0x01–0x7f).
    const serial = randomBytes(t.serial.len);
    serial[0] = (serial[0]! & 0x7f) | 0x01;
    serial.copy(tbs, t.serial.at);
    for (const at of t.idAt) id.copy(tbs, at);
    const sig = sign('sha256', tbs, { key: this.caKey, dsaEncoding: 'der' });
    const bits = Buffer.concat([Buffer.from([0x03]), derLength(sig.length + 1), Buffer.from([0]), sig]);
    const body = Buffer.concat([tbs, t.sigAlg, bits]);
    return { pem: pemOf(Buffer.concat([Buffer.from([0x30]), derLength(body.length), body])), serial: serial.toString('hex') };
  }
}
