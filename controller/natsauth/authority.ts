import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, encodeAccount, encodeOperator, encodeUser, type Account, type ClaimsData, type OperatorLimits, type User } from '@nats-io/jwt';
import { createAccount, createOperator, createUser, fromPublic, type KeyPair } from '@nats-io/nkeys';
import { Prefix } from '@nats-io/nkeys/lib/nkeys.js';
import { OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { formatCreds, writeCredsFile } from '../../shared/nats/creds.js';
import { FastKeyPair } from '../../shared/nats/fast-nkeys.js';
import { agentPermissions } from './permissions.js';
import { renderServerConfig, type ServerConfigOptions } from './server-config.js';

/** The one file the authority keeps (0600): seeds, JWTs, issued users and revocations. */
export const AUTHORITY_FILE = 'authority.json';
const STATE_VERSION = 1;

interface IssuedUser {
  hostId: string;
  /** Latest expiry (unix seconds) of a JWT issued to this key; 0 = never. */
  exp: number;
}

interface AuthorityState {
  version: number;
  operator: { seed: string; jwt: string };
  system: { seed: string; jwt: string; userSeed: string; userJwt: string };
  account: { seed: string; signerSeed: string; jwt: string; controllerSeed: string; controllerJwt: string };
  /** user public nkey → unix seconds: every JWT of that key issued at or before it is refused. */
  revocations: Record<string, number>;
  users: Record<string, IssuedUser>;
}

/** The account every opsfleet program connects in; JetStream on, no other limits of its own. */
const ACCOUNT_NAME = 'OPSFLEET';
const OPERATOR_NAME = 'opsfleet';
const UNLIMITED: OperatorLimits = { subs: -1, conn: -1, leaf: -1, imports: -1, exports: -1, data: -1, payload: -1, wildcards: true };
const JETSTREAM_UNLIMITED: OperatorLimits = { disk_storage: -1, mem_storage: -1, streams: -1, consumer: -1 };

/** Whether a revocation reached a server now (else it goes with the next push). */
export interface PushOutcome {
  pushed: boolean;
  error?: string;
}

/** Pushes an account JWT to the servers; see NatsAuthority.attachPusher. */
export type AccountPusher = (accountJwt: string) => Promise<void>;

const text = (u: Uint8Array): string => new TextDecoder().decode(u);
// node:crypto Ed25519 (FastKeyPair): tweetnacl re-derives the public key on every call, ~30 ms per signed JWT.
const seedKp = (seed: string): KeyPair => FastKeyPair.fromSeed(seed);

/**
 * The controller's NATS authority (decentralized JWT auth, nats-server 2.9): an operator, a
 * system account (for the server's own traffic and claim updates) and the OPSFLEET account,
 * whose signing key issues one user JWT per agent host, confined to that host's subjects
 * (permissions.ts). Revoking a user writes its key into the account JWT's revocation list,
 * which the `full` resolver takes live from `$SYS.REQ.CLAIMS.UPDATE` (the pusher): the server
 * drops the user's connections at once and refuses it from then on. See docs/identity.md.
 */
export class NatsAuthority {
  private pusher: AccountPusher | undefined;
  private readonly log: Logger | undefined;

  private constructor(
    readonly dir: string,
    private state: AuthorityState,
    logger?: Logger,
  ) {
    this.log = logger?.child({ component: 'natsauth' });
  }

  /** Loads the authority of `dir`, creating every key and JWT on the first call. */
  static async loadOrCreate(dir: string, logger?: Logger): Promise<NatsAuthority> {
    const file = join(dir, AUTHORITY_FILE);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (existsSync(file)) {
      const a = new NatsAuthority(dir, readState(file), logger);
      a.ensureOwnCreds();
      return a;
    }
    const state = await createState();
    try {
      // 'wx': two processes creating at once (controller and `nats-config`): the first one wins.
      writeFileSync(file, JSON.stringify(state, null, 2), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return NatsAuthority.loadOrCreate(dir, logger);
      throw new OpsError('OPS_ERR_NATS_AUTHORITY', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
    }
    const a = new NatsAuthority(dir, state, logger);
    a.writeOwnCreds();
    a.log?.info({ dir, account: a.accountPublicKey }, 'nats authority created');
    return a;
  }

  get operatorJwt(): string {
    return this.state.operator.jwt;
  }
  get systemAccountPublicKey(): string {
    return decode(this.state.system.jwt).sub;
  }
  get systemAccountJwt(): string {
    return this.state.system.jwt;
  }
  get accountPublicKey(): string {
    return decode(this.state.account.jwt).sub;
  }
  /** The OPSFLEET account JWT as it is now (with its revocation list). */
  get accountJwt(): string {
    return this.state.account.jwt;
  }

  /** The controller's own user in the OPSFLEET account: unrestricted (it manages the stream and consumes). */
  controllerCredsFile(): string {
    return join(this.dir, 'controller.creds');
  }

  /** A system-account user: pushes claim updates and listens to the server's advisories. */
  systemCredsFile(): string {
    return join(this.dir, 'system.creds');
  }

  /**
   * Signs a user JWT for one agent host. Only the public key comes in: the seed stays on the
   * host, which joins the two into its nats.creds. `ttlSeconds` 0 = no expiry (not for agents:
   * expiry bounds a credential whose revocation never reached a server).
   */
  async issueAgentUser(hostId: string, userPublicNkey: string, ttlSeconds: number): Promise<string> {
    if (!/^[A-Za-z0-9_-]+$/.test(hostId)) throw new OpsError('OPS_ERR_NATS_AUTHORITY', `host id "${hostId}" is not one subject token (letters, digits, _ and - only)`);
    let userKp: KeyPair;
    try {
      userKp = fromPublic(userPublicNkey);
    } catch (err) {
      throw new OpsError('OPS_ERR_NATS_AUTHORITY', `"${userPublicNkey}" is not a NATS user public key`, { cause: err });
    }
    if (!userPublicNkey.startsWith('U')) throw new OpsError('OPS_ERR_NATS_AUTHORITY', `"${userPublicNkey}" is not a NATS user public key (it must start with U)`);
    const exp = ttlSeconds > 0 ? Math.floor(Date.now() / 1000) + ttlSeconds : 0;
    this.reload();
    const jwt = await encodeUser(hostId, userKp, this.accountPublicKey, agentPermissions(hostId), { signer: seedKp(this.state.account.signerSeed), ...(exp ? { exp } : {}) });
    const prev = this.state.users[userPublicNkey];
    this.state.users[userPublicNkey] = { hostId, exp: prev && (prev.exp === 0 || exp === 0) ? 0 : Math.max(exp, prev?.exp ?? 0) };
    this.save();
    return jwt;
  }

  /**
   * .creds texts for many hosts at once (keys made here), one read and one write of the
   * authority file: what a fleet simulator of 10,000 hosts needs (one by one, each issue
   * rewrites the whole file of issued users). Same claims and permissions as issueAgentCreds.
   */
  async issueAgentCredsMany(hostIds: string[], ttlSeconds: number): Promise<Array<{ hostId: string; creds: string; publicKey: string }>> {
    for (const hostId of hostIds) {
      if (!/^[A-Za-z0-9_-]+$/.test(hostId)) throw new OpsError('OPS_ERR_NATS_AUTHORITY', `host id "${hostId}" is not one subject token (letters, digits, _ and - only)`);
    }
    const exp = ttlSeconds > 0 ? Math.floor(Date.now() / 1000) + ttlSeconds : 0;
    this.reload();
    const signer = seedKp(this.state.account.signerSeed);
    const account = this.accountPublicKey;
    const out: Array<{ hostId: string; creds: string; publicKey: string }> = [];
    for (const hostId of hostIds) {
      const kp = FastKeyPair.create(Prefix.User);
      const jwt = await encodeUser(hostId, kp.getPublicKey(), account, agentPermissions(hostId), { signer, ...(exp ? { exp } : {}) });
      this.state.users[kp.getPublicKey()] = { hostId, exp };
      out.push({ hostId, creds: formatCreds(jwt, kp), publicKey: kp.getPublicKey() });
    }
    this.save();
    return out;
  }

  /** A complete .creds text for a host (key made here): for tests, quickstart and `nats-creds`. */
  async issueAgentCreds(hostId: string, ttlSeconds: number): Promise<{ creds: string; publicKey: string }> {
    const kp = FastKeyPair.create(Prefix.User);
    const jwt = await this.issueAgentUser(hostId, kp.getPublicKey(), ttlSeconds);
    return { creds: formatCreds(jwt, kp), publicKey: kp.getPublicKey() };
  }

  /** The host ids of users issued so far, by public key. */
  issuedUsers(): Array<{ publicKey: string; hostId: string; exp: number; revoked: boolean }> {
    return Object.entries(this.state.users).map(([publicKey, u]) => ({ publicKey, hostId: u.hostId, exp: u.exp, revoked: publicKey in this.state.revocations }));
  }

  /** Sets how account updates reach the servers (NatsAccountPusher); without one they wait for the next push. */
  attachPusher(p: AccountPusher | undefined): void {
    this.pusher = p;
  }

  /**
   * Revokes a user key: every JWT issued to it so far is refused, and connected clients using
   * one are dropped, as soon as the server has the new account JWT. Resolves after the push
   * (or at once when no pusher is attached: the next connect of the pusher sends it). Never
   * throws for a failed push: the revocation is saved and `pushed` says whether a server has it.
   */
  async revokeUser(userPublicNkey: string): Promise<PushOutcome> {
    const now = Math.floor(Date.now() / 1000);
    this.reload();
    this.state.revocations[userPublicNkey] = now;
    this.pruneRevocations(now);
    await this.reissueAccount();
    this.log?.info({ user: userPublicNkey, hostId: this.state.users[userPublicNkey]?.hostId }, 'nats user revoked');
    return this.tryPush();
  }

  /** Revokes every key ever issued to `hostId` (opsctl hosts remove). */
  async revokeHost(hostId: string): Promise<PushOutcome & { users: number }> {
    this.reload();
    const keys = Object.entries(this.state.users).filter(([, u]) => u.hostId === hostId).map(([k]) => k);
    if (!keys.length) return { users: 0, pushed: false };
    const now = Math.floor(Date.now() / 1000);
    for (const k of keys) this.state.revocations[k] = now;
    this.pruneRevocations(now);
    await this.reissueAccount();
    this.log?.info({ hostId, users: keys.length }, 'nats users of host revoked');
    return { users: keys.length, ...(await this.tryPush()) };
  }

  private async tryPush(): Promise<PushOutcome> {
    if (!this.pusher) return { pushed: false, error: 'no NATS system connection: pushed when it connects' };
    try {
      await this.push();
      return { pushed: true };
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'revocation saved but not pushed yet; pushed at the next reconnect');
      return { pushed: false, error: (err as Error).message };
    }
  }

  /** Sends the current account JWT through the attached pusher (also after every reconnect). */
  async push(): Promise<void> {
    if (!this.pusher) return;
    await this.pusher(this.state.account.jwt);
  }

  /** The nats-server config text for this authority (see server-config.ts). */
  serverConfig(o: Omit<ServerConfigOptions, 'operatorJwt' | 'systemAccount' | 'preload'>): string {
    return renderServerConfig({
      ...o,
      operatorJwt: this.state.operator.jwt,
      systemAccount: this.systemAccountPublicKey,
      preload: { [this.systemAccountPublicKey]: this.state.system.jwt, [this.accountPublicKey]: this.state.account.jwt },
    });
  }

  /** Decoded account claims (tests, `opsctl`-side diagnostics). */
  accountClaims(): ClaimsData<Account> {
    return decode<Account>(this.state.account.jwt);
  }

  /**
   * A revocation is needed only while a JWT it covers can still be valid: entries whose key's
   * latest JWT has expired are dropped, so the account JWT does not grow with every removed host.
   */
  private pruneRevocations(now: number): void {
    for (const [key] of Object.entries(this.state.revocations)) {
      const u = this.state.users[key];
      if (u && u.exp !== 0 && u.exp < now) {
        delete this.state.revocations[key];
        delete this.state.users[key];
      }
    }
  }

  private async reissueAccount(): Promise<void> {
    const prev = decode<Account>(this.state.account.jwt);
    // The resolver keeps the newer of two account JWTs by issue time (whole seconds) and, on a
    // tie, the one stored last: a server restarted with a config whose preload was rendered in
    // the same second as this update would put the older JWT back (and undo a revocation). So
    // every account JWT is issued strictly after the previous one: wait for the next second.
    const sign = () => encodeAccount(ACCOUNT_NAME, seedKp(this.state.account.seed), accountClaims(this.state), { signer: seedKp(this.state.operator.seed) });
    let jwt = await sign();
    if (decode(jwt).iat < prev.iat) throw new OpsError('OPS_ERR_NATS_AUTHORITY', 'the clock went backwards: the new account JWT would be older than the one the servers have');
    while (decode(jwt).iat === prev.iat) {
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
      jwt = await sign();
    }
    this.state.account.jwt = jwt;
    this.save();
  }

  /**
   * Re-reads the file before a change: another process (the `nats-creds` command beside a
   * running controller, a test harness) may have issued users or revoked since this one loaded.
   */
  private reload(): void {
    const file = join(this.dir, AUTHORITY_FILE);
    if (existsSync(file)) this.state = readState(file);
  }

  private save(): void {
    const file = join(this.dir, AUTHORITY_FILE);
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(this.state, null, 2), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  }

  private writeOwnCreds(): void {
    writeCredsFile(this.controllerCredsFile(), formatCreds(this.state.account.controllerJwt, this.state.account.controllerSeed));
    writeCredsFile(this.systemCredsFile(), formatCreds(this.state.system.userJwt, this.state.system.userSeed));
  }

  /** Rewrites the controller's and system user's .creds files from the state (they are derived). */
  ensureOwnCreds(): void {
    if (!existsSync(this.controllerCredsFile()) || !existsSync(this.systemCredsFile())) this.writeOwnCreds();
  }
}

function accountClaims(state: Pick<AuthorityState, 'revocations' | 'account'>): Partial<Account> {
  const signer = seedKp(state.account.signerSeed).getPublicKey();
  return {
    signing_keys: [signer],
    limits: { ...UNLIMITED, ...JETSTREAM_UNLIMITED },
    ...(Object.keys(state.revocations).length ? { revocations: { ...state.revocations } } : {}),
  };
}

async function createState(): Promise<AuthorityState> {
  const op = createOperator();
  const sys = createAccount();
  const acc = createAccount();
  const signer = createAccount();
  const sysUser = createUser();
  const ctlUser = createUser();
  const sysJwt = await encodeAccount('SYS', sys, { limits: UNLIMITED }, { signer: op });
  const operatorJwt = await encodeOperator(OPERATOR_NAME, op, { system_account: sys.getPublicKey() });
  const partial = { account: { seed: text(acc.getSeed()), signerSeed: text(signer.getSeed()) }, revocations: {} } as Pick<AuthorityState, 'revocations' | 'account'>;
  const accJwt = await encodeAccount(ACCOUNT_NAME, acc, accountClaims(partial), { signer: op });
  const sysUserJwt = await encodeUser('opsfleet-system', sysUser, sys, {});
  // The controller's user: unrestricted inside the account (stream management, the consumer).
  const ctlJwt = await encodeUser('opsfleet-controller', ctlUser, acc.getPublicKey(), {} as Partial<User>, { signer });
  return {
    version: STATE_VERSION,
    operator: { seed: text(op.getSeed()), jwt: operatorJwt },
    system: { seed: text(sys.getSeed()), jwt: sysJwt, userSeed: text(sysUser.getSeed()), userJwt: sysUserJwt },
    account: { seed: partial.account.seed, signerSeed: partial.account.signerSeed, jwt: accJwt, controllerSeed: text(ctlUser.getSeed()), controllerJwt: ctlJwt },
    revocations: {},
    users: {},
  };
}

function readState(file: string): AuthorityState {
  let s: AuthorityState;
  try {
    s = JSON.parse(readFileSync(file, 'utf8')) as AuthorityState;
  } catch (err) {
    throw new OpsError('OPS_ERR_NATS_AUTHORITY', `cannot read the NATS authority ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (s?.version !== STATE_VERSION || !s.operator?.seed || !s.account?.signerSeed || !s.system?.userSeed) {
    throw new OpsError('OPS_ERR_NATS_AUTHORITY', `${file} is not an opsfleet NATS authority (version ${String(s?.version)}); move it aside to create a new one (every agent then needs new credentials)`);
  }
  s.revocations ??= {};
  s.users ??= {};
  return s;
}
