import { errorLine } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { renew } from './enroll.js';
import type { IdentityMeta } from './identity-files.js';

/**
 * Renews the host certificate two thirds into its life (the controller says when: renew_after)
 * and retries a failed renewal with backoff, never later than the certificate's expiry allows.
 * After a success `onRenewed` hands the new files to the gRPC server and the NATS connection.
 */
export class IdentityRenewer {
  readonly name = 'identity';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  lastError: string | undefined;
  renewals = 0;
  private readonly log: Logger;

  constructor(
    private readonly d: { stateDir: string; meta: IdentityMeta; ca?: string | undefined; onRenewed: (meta: IdentityMeta) => void; logger: Logger },
  ) {
    this.log = d.logger.child({ component: 'identity' });
  }

  get meta(): IdentityMeta {
    return this.d.meta;
  }

  start(): void {
    this.schedule(Date.parse(this.d.meta.renew_after) - Date.now());
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    // At least a second apart; setTimeout cannot wait longer than ~24.8 days at once.
    const ms = Math.min(Math.max(1000, delayMs), 2_000_000_000);
    this.timer = setTimeout(() => void this.run(), ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    if (Date.now() < Date.parse(this.d.meta.renew_after)) return this.schedule(Date.parse(this.d.meta.renew_after) - Date.now());
    try {
      const meta = await renew(this.d.stateDir, { ca: this.d.ca });
      if (this.stopped) return;
      this.d.meta = meta;
      this.failures = 0;
      this.lastError = undefined;
      this.renewals++;
      this.log.info({ notAfter: meta.not_after, renewAfter: meta.renew_after }, 'certificate renewed');
      this.d.onRenewed(meta);
      this.schedule(Date.parse(meta.renew_after) - Date.now());
    } catch (err) {
      this.failures++;
      this.lastError = errorLine(err);
      const left = Date.parse(this.d.meta.not_after) - Date.now();
      const retry = Math.min(5 * 60_000, 5000 * 2 ** Math.min(this.failures - 1, 6), Math.max(1000, left / 10));
      this.log.error({ err, failures: this.failures, notAfter: this.d.meta.not_after, retryInMs: retry }, 'certificate renewal failed; retrying');
      this.schedule(retry);
    }
  }

  state(): { state: 'running' | 'degraded'; detail: string } {
    return this.lastError ? { state: 'degraded', detail: `renewal failing (${this.failures}x): ${this.lastError}; expires ${this.d.meta.not_after}` } : { state: 'running', detail: `expires ${this.d.meta.not_after}, renews after ${this.d.meta.renew_after}` };
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
