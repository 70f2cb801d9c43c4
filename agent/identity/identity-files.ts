import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { OpsError } from '../../shared/errors.js';
import { certInfo, generateKeyPair } from '../../shared/pki/x509.js';

/** What the controller answered to an enrollment or renewal. */
export interface IssuedIdentity {
  host_id: string;
  cert_pem: string;
  ca_pem: string;
  nats_jwt: string | null;
  renew_after: string;
  not_after: string;
  tags: Record<string, string>;
}

/** identity.json: what the agent needs besides the PEM files. */
export interface IdentityMeta {
  host_id: string;
  controller_url: string;
  enrolled_at: string;
  not_after: string;
  renew_after: string;
  /** Tags the enrollment token assigned; they override the config's on the same name. */
  tags: Record<string, string>;
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** The standard NATS .creds layout (user JWT + the user's nkey seed). */
export function credsText(jwt: string, seed: string): string {
  return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\nNKEYs are sensitive and should be treated as secrets.\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n\n*************************************************************\n`;
}

/**
 * `<state_dir>/identity/`: key.pem (0600, made here, never sent), cert.pem, ca.pem, nats.seed
 * (0600, the NATS user nkey), nats.creds (0600) and identity.json. The folder outlives
 * restarts and upgrades: it is the host's identity until `opsctl hosts remove`.
 */
export class IdentityFiles {
  readonly dir: string;
  readonly keyFile: string;
  readonly certFile: string;
  readonly caFile: string;
  readonly natsSeedFile: string;
  readonly credsFile: string;
  readonly metaFile: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'identity');
    this.keyFile = join(this.dir, 'key.pem');
    this.certFile = join(this.dir, 'cert.pem');
    this.caFile = join(this.dir, 'ca.pem');
    this.natsSeedFile = join(this.dir, 'nats.seed');
    this.credsFile = join(this.dir, 'nats.creds');
    this.metaFile = join(this.dir, 'identity.json');
  }

  private ensureDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** The host key, created on first use. */
  async ensureKey(): Promise<string> {
    if (existsSync(this.keyFile)) return readFileSync(this.keyFile, 'utf8');
    this.ensureDir();
    const pair = await generateKeyPair();
    writeAtomic(this.keyFile, pair.privateKeyPem, 0o600);
    return pair.privateKeyPem;
  }

  key(): string {
    return readFileSync(this.keyFile, 'utf8');
  }

  /** The NATS user public key, its seed created on first use. */
  natsPublicKey(): string {
    if (!existsSync(this.natsSeedFile)) {
      this.ensureDir();
      writeAtomic(this.natsSeedFile, `${new TextDecoder().decode(createUser().getSeed())}\n`, 0o600);
    }
    return fromSeed(new TextEncoder().encode(readFileSync(this.natsSeedFile, 'utf8').trim())).getPublicKey();
  }

  /** The stored identity, or undefined when this host has not enrolled (or its files are incomplete). */
  read(): IdentityMeta | undefined {
    if (!existsSync(this.metaFile) || !existsSync(this.certFile) || !existsSync(this.keyFile) || !existsSync(this.caFile)) return undefined;
    try {
      return JSON.parse(readFileSync(this.metaFile, 'utf8')) as IdentityMeta;
    } catch (err) {
      throw new OpsError('OPS_ERR_IDENTITY_MISSING', `${this.metaFile} is unreadable (${(err as Error).message}); enroll again (opsfleet-agent enroll)`, { cause: err });
    }
  }

  /** Stores what the controller issued; the certificate must be for this host's key. */
  write(issued: IssuedIdentity, controllerUrl: string, enrolledAt?: string): IdentityMeta {
    this.ensureDir();
    const info = certInfo(issued.cert_pem);
    if (info.hostId !== issued.host_id) throw new OpsError('OPS_ERR_ENROLL_FAILED', `the controller issued a certificate for "${info.hostId}", not "${issued.host_id}"`);
    writeAtomic(this.caFile, issued.ca_pem, 0o644);
    writeAtomic(this.certFile, issued.cert_pem, 0o644);
    if (issued.nats_jwt) writeAtomic(this.credsFile, credsText(issued.nats_jwt, readFileSync(this.natsSeedFile, 'utf8').trim()), 0o600);
    const meta: IdentityMeta = { host_id: issued.host_id, controller_url: controllerUrl, enrolled_at: enrolledAt ?? new Date().toISOString(), not_after: issued.not_after, renew_after: issued.renew_after, tags: issued.tags };
    writeAtomic(this.metaFile, `${JSON.stringify(meta, null, 2)}\n`, 0o644);
    return meta;
  }

  hasCreds(): boolean {
    return existsSync(this.credsFile);
  }
}
