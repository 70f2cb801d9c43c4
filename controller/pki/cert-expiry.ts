import type { Logger } from '../../shared/logger.js';
import type { AlertManager } from '../alerts/alert-manager.js';
import type { Enrollment } from './enrollment.js';

/** Less than this share of a certificate's life left means renewal has been failing for a while. */
export const EXPIRING_FRACTION = 0.2;

/**
 * Raises AgentCertExpiring for each enrolled host whose certificate has less than 20% of its
 * life left: agents renew at two thirds, so reaching this point means renewal kept failing.
 * The alert is re-asserted every check and resolves by itself once the host renewed.
 */
export class CertExpiryWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(private readonly d: { enrollment: Enrollment; alerts: Pick<AlertManager, 'push'> | undefined; intervalMs: number; logger: Logger }) {
    this.log = d.logger.child({ component: 'cert-expiry' });
  }

  start(): void {
    this.timer = setInterval(() => this.check(), this.d.intervalMs);
    this.timer.unref();
    this.check();
  }

  check(): number {
    try {
      const hosts = this.d.enrollment.expiring(EXPIRING_FRACTION);
      if (hosts.length === 0 || !this.d.alerts) return hosts.length;
      this.d.alerts.push(
        hosts.map((h) => ({
          labels: { alertname: 'AgentCertExpiring', host: h.hostId, severity: 'warning' },
          annotations: {
            summary: `the certificate of ${h.hostId} expires at ${new Date(h.notAfterMs).toISOString()} and was not renewed`,
            description: 'The agent renews two thirds into its certificate\'s life; this one has less than 20% left, so renewal keeps failing (controller unreachable from the host, clock skew, or the agent is down). Once it expires the controller can no longer call the agent.',
          },
          resolveTimeoutS: Math.max(60, Math.ceil((this.d.intervalMs * 3) / 1000)),
        })),
      );
      return hosts.length;
    } catch (err) {
      this.log.error({ err }, 'certificate expiry check failed');
      return 0;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
