import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decode, encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createUser, fromPublic, fromSeed } from '@nats-io/nkeys';
import { Prefix } from '@nats-io/nkeys/lib/nkeys.js';
import { fastCredsAuthenticator, FastKeyPair } from './fast-nkeys.js';

const te = new TextEncoder();

describe('FastKeyPair: nkeys on node:crypto', () => {
  it('derives the same public key, private key and signatures as @nats-io/nkeys from the same seed', () => {
    for (const slow of [createUser(), createAccount()]) {
      const fast = FastKeyPair.fromSeed(slow.getSeed());
      assert.equal(fast.getPublicKey(), slow.getPublicKey());
      assert.deepEqual(Buffer.from(fast.getPrivateKey()), Buffer.from(slow.getPrivateKey()));
      const msg = te.encode('nonce-123');
      // Ed25519 is deterministic: byte-equal signatures, and each side verifies the other's.
      assert.deepEqual(Buffer.from(fast.sign(msg)), Buffer.from(slow.sign(msg)));
      assert.ok(fromPublic(fast.getPublicKey()).verify(msg, fast.sign(msg)));
      assert.ok(fast.verify(msg, slow.sign(msg)));
      assert.equal(fast.verify(te.encode('other'), slow.sign(msg)), false);
    }
  });

  it('creates keys of the requested role that nkeys reads back', () => {
    const u = FastKeyPair.create(Prefix.User);
    assert.match(u.getPublicKey(), /^U[A-Z2-7]{55}$/);
    assert.match(new TextDecoder().decode(u.getSeed()), /^SU/);
    assert.equal(fromSeed(u.getSeed()).getPublicKey(), u.getPublicKey());
  });

  it('signs user JWTs that decode with the signer as issuer, and an authenticator that proves the user key', async () => {
    const account = createAccount();
    const signer = FastKeyPair.fromSeed(createAccount().getSeed());
    const user = FastKeyPair.create(Prefix.User);
    const jwt = await encodeUser('web-01', user.getPublicKey(), account.getPublicKey(), { pub: { allow: ['a.>'] } }, { signer });
    const claims = decode<{ issuer_account: string }>(jwt);
    assert.equal(claims.iss, signer.getPublicKey());
    assert.equal(claims.sub, user.getPublicKey());
    assert.equal(claims.nats.issuer_account, account.getPublicKey());
    const auth = fastCredsAuthenticator(new TextDecoder().decode(fmtCreds(jwt, user)))('abc');
    assert.equal(auth.jwt, jwt);
    assert.equal(auth.nkey, user.getPublicKey());
    assert.ok(fromPublic(auth.nkey).verify(te.encode('abc'), Buffer.from(auth.sig, 'base64')));
    assert.throws(() => fastCredsAuthenticator('not creds'), /unable to parse credentials/);
  });
});
