import { createPrivateKey, createPublicKey, randomBytes, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import type { KeyPair } from '@nats-io/nkeys';
// The nkeys codec (base32 + CRC16 with the role prefix). Not in the package's index, but the package has no
// "exports" map, so its lib/ files are the stable paths nats.js itself uses.
import { Codec } from '@nats-io/nkeys/lib/codec.js';
import { Prefix } from '@nats-io/nkeys/lib/nkeys.js';

/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows it. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

const te = new TextEncoder();
const td = new TextDecoder();

/**
 * An nkey pair whose Ed25519 maths runs in node:crypto (OpenSSL) instead of tweetnacl.
 * @nats-io/nkeys derives the public key from the seed in pure JS on every getPublicKey(),
 * getPrivateKey() and sign(): about 30 ms per user JWT on this machine, so signing 10,000
 * hosts' credentials took minutes. The same seed and the same signatures (Ed25519 is
 * deterministic), in about 0.1 ms. Drop-in for the KeyPair that @nats-io/jwt's encoders and
 * fmtCreds take.
 */
export class FastKeyPair implements KeyPair {
  private readonly priv: KeyObject;
  private readonly pub: KeyObject;
  private readonly publicKey: string;

  constructor(private readonly seed: Uint8Array) {
    const { prefix, buf } = Codec.decodeSeed(seed);
    this.priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, Buffer.from(buf)]), format: 'der', type: 'pkcs8' });
    this.pub = createPublicKey(this.priv);
    const spki = this.pub.export({ format: 'der', type: 'spki' });
    this.publicKey = td.decode(Codec.encode(prefix, new Uint8Array(spki.subarray(spki.length - 32))));
  }

  /** A new random key of the given role (Prefix.User, Prefix.Account, …). */
  static create(role: Prefix): FastKeyPair {
    return new FastKeyPair(Codec.encodeSeed(role, new Uint8Array(randomBytes(32))));
  }

  static fromSeed(seed: string | Uint8Array): FastKeyPair {
    return new FastKeyPair(typeof seed === 'string' ? te.encode(seed) : seed);
  }

  getPublicKey(): string {
    return this.publicKey;
  }
  getPrivateKey(): Uint8Array {
    // The 64-byte nacl secret key: seed then public key (what nkeys returns).
    const { prefix, buf } = Codec.decodeSeed(this.seed);
    const pub = Codec.decode(prefix, te.encode(this.publicKey));
    return Codec.encode(Prefix.Private, new Uint8Array([...buf, ...pub]));
  }
  getSeed(): Uint8Array {
    return this.seed;
  }
  sign(input: Uint8Array): Uint8Array {
    return new Uint8Array(edSign(null, input, this.priv));
  }
  verify(input: Uint8Array, sig: Uint8Array): boolean {
    return edVerify(null, input, this.pub, sig);
  }
  clear(): void {
    /* node KeyObjects are not clearable; nothing cached beyond them */
  }
  getRawSeed(): Uint8Array {
    return Codec.decodeSeed(this.seed).buf;
  }
  seal(): Uint8Array {
    throw new Error('FastKeyPair: curve (xkey) operations are not supported');
  }
  open(): Uint8Array | null {
    throw new Error('FastKeyPair: curve (xkey) operations are not supported');
  }
}

/**
 * A nats.js authenticator for a .creds text that signs the server's nonce with FastKeyPair:
 * what credsAuthenticator does, without ~20 ms of pure-JS key derivation per connect (the fleet
 * simulator connects thousands of agents; a reconnect storm would be CPU-bound on it).
 */
export function fastCredsAuthenticator(creds: string | Uint8Array): (nonce?: string) => { jwt: string; nkey: string; sig: string } {
  const text = typeof creds === 'string' ? creds : td.decode(creds);
  const blocks = [...text.matchAll(/-{3,}[^\n]*-{3,}\n\s*(\S+)\s*\n\s*-{3,}[^\n]*-{3,}/g)].map((m) => m[1]!);
  if (blocks.length < 2) throw new Error('unable to parse credentials: expected a user JWT and an nkey seed block');
  const [jwt, seed] = blocks as [string, string];
  const kp = FastKeyPair.fromSeed(seed);
  const nkey = kp.getPublicKey();
  return (nonce?: string) => ({ jwt, nkey, sig: nonce ? Buffer.from(kp.sign(te.encode(nonce))).toString('base64') : '' });
}
