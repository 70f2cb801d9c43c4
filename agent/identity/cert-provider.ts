import type { experimental } from '@grpc/grpc-js';

type Provider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdListener = experimental.IdentityCertificateUpdateListener;

/**
 * gRPC server credentials that can change while serving: a renewed certificate is handed to
 * the running server (new handshakes use it) without a restart or a dropped stream.
 */
export class SwappableCertificates implements Provider {
  private readonly caListeners = new Set<CaListener>();
  private readonly idListeners = new Set<IdListener>();

  constructor(private current: { ca: Buffer; cert: Buffer; key: Buffer }) {}

  update(next: { ca: Buffer; cert: Buffer; key: Buffer }): void {
    this.current = next;
    for (const l of this.caListeners) l({ caCertificate: next.ca });
    for (const l of this.idListeners) l({ certificate: next.cert, privateKey: next.key });
  }

  addCaCertificateListener(l: CaListener): void {
    this.caListeners.add(l);
    // Later, not now: grpc-js registers its watcher only after adding the listener, and an
    // update delivered before that is never applied (the server would refuse every handshake).
    setImmediate(() => this.caListeners.has(l) && l({ caCertificate: this.current.ca }));
  }

  removeCaCertificateListener(l: CaListener): void {
    this.caListeners.delete(l);
  }

  addIdentityCertificateListener(l: IdListener): void {
    this.idListeners.add(l);
    setImmediate(() => this.idListeners.has(l) && l({ certificate: this.current.cert, privateKey: this.current.key }));
  }

  removeIdentityCertificateListener(l: IdListener): void {
    this.idListeners.delete(l);
  }
}
