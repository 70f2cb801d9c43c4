import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fmtCreds } from '@nats-io/jwt';
import { createUser, fromSeed, type KeyPair } from '@nats-io/nkeys';

/**
 * A NATS user key made where it is used (the agent's host): only its public half ever leaves,
 * the controller signs a user JWT for it, and `formatCreds` joins the two into a .creds file.
 */
export function newUserKey(): { publicKey: string; seed: string } {
  const kp = createUser();
  return { publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
}

/** The standard .creds text (JWT + nkey seed) that nats clients and the nats CLI read. */
export function formatCreds(jwt: string, seed: string | KeyPair): string {
  const kp = typeof seed === 'string' ? fromSeed(new TextEncoder().encode(seed)) : seed;
  return new TextDecoder().decode(fmtCreds(jwt, kp));
}

/** Writes a .creds file with mode 0600 (a temp file renamed over the old one, so a reader never sees half). */
export function writeCredsFile(path: string, creds: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, creds, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
