import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate, createHmac, createPrivateKey, createPublicKey } from 'node:crypto';
import { OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { CONTROLLER_URI, HOST_URI_PREFIX, certInfo, generateKeyPair } from '../../shared/pki/identity.js';
import type { CaMaterial } from '../../shared/pki/x509.js';

/** The X.509 library, loaded on first use: a start with a CA and a valid controller certificate never needs it. */
const x509 = () => import('../../shared/pki/x509.js');

const CA_LIFETIME_MS = 10 * 365 * 86_400_000;
const CONTROLLER_CERT_LIFETIME_MS = 90 * 86_400_000;

export interface FleetCaOptions {
  dataDir: string;
  /** Operator-supplied CA (both or neither); otherwise one is created in <data_dir>/pki. */
  caCert?: string | undefined;
  caKey?: string | undefined;
  logger: Logger;
  now?: () => number;
}

/** Writes a file through tmp + rename so a crash never leaves half a key, with the mode set before the rename. */
export function writeFileAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

function readOrFail(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new OpsError('OPS_ERR_PKI_CA', `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/**
 * The fleet CA (ECDSA P-256) and the controller's gRPC client certificate. The CA signs each
 * enrolled host's short-lived certificate; agents trust only it. The controller certificate is
 * re-issued at start when less than half of its life is left.
 */
export class FleetCa {
  readonly dir: string;
  readonly caCertFile: string;
  readonly controllerCertFile: string;
  readonly controllerKeyFile: string;

  /** Settles when the CA exists and the controller certificate is current (creating them needs the X.509 library). */
  ready: Promise<void> = Promise.resolve();

  private constructor(
    private ca: CaMaterial | undefined,
    dir: string,
  ) {
    this.dir = dir;
    this.caCertFile = join(dir, 'ca.crt');
    this.controllerCertFile = join(dir, 'controller.crt');
    this.controllerKeyFile = join(dir, 'controller.key');
  }

  get caPem(): string {
    if (!this.ca) throw new OpsError('OPS_ERR_PKI_CA', 'the fleet CA is still being created');
    return this.ca.certPem;
  }

  /**
   * A secret every controller with this CA can derive (HA: two controllers share the CA), for
   * `purpose`; e.g. signing the caller forwarded from a standby to the leader.
   */
  derivedSecret(purpose: string): Buffer {
    if (!this.ca) throw new OpsError('OPS_ERR_PKI_CA', 'the fleet CA is still being created');
    return createHmac('sha256', this.ca.keyPem).update(`opsfleet:${purpose}`).digest();
  }

  static async loadOrCreate(o: FleetCaOptions): Promise<FleetCa> {
    const f = FleetCa.open(o);
    await f.ready;
    return f;
  }

  /**
   * Reads and checks an existing or operator-supplied CA at once (a bad one fails the start);
   * creating a missing CA and the controller certificate runs behind `ready`, so a fresh
   * controller's API is up without waiting for the X.509 library to load.
   */
  static open(o: FleetCaOptions): FleetCa {
    const now = (o.now ?? Date.now)();
    const log = o.logger.child({ component: 'pki' });
    const dir = join(o.dataDir, 'pki');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let ca: CaMaterial | undefined;
    if (o.caCert || o.caKey) {
      if (!o.caCert || !o.caKey) throw new OpsError('OPS_ERR_PKI_CA', 'pki.ca_cert and pki.ca_key go together');
      ca = { certPem: readOrFail(o.caCert, 'pki.ca_cert'), keyPem: readOrFail(o.caKey, 'pki.ca_key') };
      checkPair(ca, o.caCert);
      // Agents get the CA from <data_dir>/pki/ca.crt whichever way it came.
      writeFileAtomic(join(dir, 'ca.crt'), ca.certPem, 0o644);
    } else if (existsSync(join(dir, 'ca.key'))) {
      ca = { certPem: readOrFail(join(dir, 'ca.crt'), 'the fleet CA'), keyPem: readOrFail(join(dir, 'ca.key'), 'the fleet CA key') };
      checkPair(ca, join(dir, 'ca.crt'));
    }
    const f = new FleetCa(ca, dir);
    f.ready = f.init(now, log);
    return f;
  }

  private async init(now: number, log: Logger): Promise<void> {
    if (!this.ca) {
      const ca = await (await x509()).createCa('opsfleet fleet CA', CA_LIFETIME_MS, now);
      writeFileAtomic(join(this.dir, 'ca.key'), ca.keyPem, 0o600);
      writeFileAtomic(join(this.dir, 'ca.crt'), ca.certPem, 0o644);
      this.ca = ca;
      log.warn({ file: join(this.dir, 'ca.crt') }, 'created the fleet CA (back up <data_dir>/pki: losing ca.key means re-enrolling every host)');
    }
    await this.ensureControllerCert(now, log);
  }

  private async ensureControllerCert(now: number, log: Logger): Promise<void> {
    if (existsSync(this.controllerCertFile) && existsSync(this.controllerKeyFile)) {
      try {
        const pem = readFileSync(this.controllerCertFile, 'utf8');
        const info = certInfo(pem);
        const issuedByUs = new X509Certificate(pem).verify(new X509Certificate(this.ca!.certPem).publicKey);
        if (issuedByUs && info.notAfterMs - now > (info.notAfterMs - info.notBeforeMs) / 2) return;
      } catch {
        // unreadable: issue a new one below
      }
    }
    const pair = await generateKeyPair();
    const cert = await (await x509()).issueCertificate({ ca: this.ca!, publicKeyPem: pair.publicKeyPem, commonName: 'opsfleet-controller', uri: CONTROLLER_URI, usage: 'client', lifetimeMs: CONTROLLER_CERT_LIFETIME_MS, now });
    writeFileAtomic(this.controllerKeyFile, pair.privateKeyPem, 0o600);
    writeFileAtomic(this.controllerCertFile, cert, 0o644);
    log.info({ file: this.controllerCertFile }, 'issued the controller gRPC client certificate');
  }

  /** A host's server certificate for its own key, binding `opsfleet://host/<hostId>`. */
  async issueHost(hostId: string, publicKeyPem: string, lifetimeMs: number, now = Date.now()): Promise<string> {
    await this.ready;
    return (await x509()).issueCertificate({ ca: this.ca!, publicKeyPem, commonName: hostId, uri: `${HOST_URI_PREFIX}${hostId}`, usage: 'server', lifetimeMs, now });
  }
}

function checkPair(ca: CaMaterial, file: string): void {
  try {
    const cert = new X509Certificate(ca.certPem);
    const pub = createPublicKey(createPrivateKey(ca.keyPem)).export({ format: 'der', type: 'spki' });
    if (!cert.publicKey.export({ format: 'der', type: 'spki' }).equals(pub)) throw new Error('the key does not belong to the certificate');
    if (!cert.ca) throw new Error('the certificate is not a CA (basicConstraints CA:FALSE)');
  } catch (err) {
    throw new OpsError('OPS_ERR_PKI_CA', `fleet CA ${file}: ${(err as Error).message}`, { cause: err });
  }
}
