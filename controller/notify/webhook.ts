import { createHmac } from 'node:crypto';
import type { WebhookConfig } from '../../shared/config/alerting.js';
import { postBody } from './http.js';
import { titleOf } from './template.js';
import type { AlertView, OutgoingMessage, Receiver, SendResult } from './types.js';

/** Version of the webhook body; bumped on any incompatible change (docs/alerting.md). */
export const WEBHOOK_SCHEMA_VERSION = 'opsfleet.alerts/v1';

/** The versioned webhook body (documented in docs/alerting.md). */
export interface WebhookBody {
  version: typeof WEBHOOK_SCHEMA_VERSION;
  receiver: string;
  kind: OutgoingMessage['kind'];
  status: 'firing' | 'resolved';
  title: string;
  /** The group key for a single-group message, `digest` for a merged one. */
  groupKey: string;
  groupLabels: Record<string, string>;
  /** Notifications merged into this body (1 unless a digest). */
  merged: number;
  /** Alerts left out to stay under max_bytes. */
  truncatedAlerts: number;
  groups: Array<{ groupKey: string; groupLabels: Record<string, string>; status: 'firing' | 'resolved'; alerts: AlertView[] }>;
  sentAt: string;
}

/** `sha256=` + hex HMAC-SHA256(secret, timestamp + "." + body): the timestamp is signed so a captured request cannot be replayed later. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}

/** Generic webhook: a versioned JSON body, signed when hmac_secret is set. */
export class WebhookReceiver implements Receiver {
  readonly type = 'webhook' as const;
  readonly name: string;

  constructor(
    readonly config: WebhookConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.name = config.name;
  }

  body(msg: OutgoingMessage): WebhookBody {
    const groups = msg.groups.map((g) => ({ groupKey: g.groupKey, groupLabels: g.groupLabels, status: g.status, alerts: [...g.firing, ...g.resolved] }));
    const single = msg.groups.length === 1 && msg.kind !== 'digest';
    const body: WebhookBody = {
      version: WEBHOOK_SCHEMA_VERSION,
      receiver: this.name,
      kind: msg.kind,
      status: msg.groups.some((g) => g.firing.length > 0) ? 'firing' : 'resolved',
      title: titleOf(msg),
      groupKey: single ? msg.groups[0]!.groupKey : 'digest',
      groupLabels: single ? msg.groups[0]!.groupLabels : {},
      merged: msg.merged,
      truncatedAlerts: 0,
      groups,
      sentAt: new Date(this.now()).toISOString(),
    };
    // Drop alerts from the end until the body fits; counted in truncatedAlerts.
    let text = JSON.stringify(body);
    while (Buffer.byteLength(text) > this.config.max_bytes) {
      const g = [...body.groups].reverse().find((x) => x.alerts.length > 0);
      if (!g) break;
      const drop = Math.max(1, Math.ceil(g.alerts.length / 4));
      g.alerts.splice(g.alerts.length - drop, drop);
      body.truncatedAlerts += drop;
      text = JSON.stringify(body);
    }
    return body;
  }

  async send(msg: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const body = this.body(msg);
    const text = JSON.stringify(body);
    const headers: Record<string, string> = { ...this.config.headers, 'content-type': 'application/json; charset=utf-8', 'user-agent': 'opsfleet-controller' };
    if (this.config.hmac_secret) {
      const ts = String(Math.floor(this.now() / 1000));
      headers['x-opsfleet-timestamp'] = ts;
      headers['x-opsfleet-signature'] = webhookSignature(this.config.hmac_secret, ts, text);
    }
    const ans = await postBody(this.config.url, text, headers, this.config.timeout, signal);
    return { detail: `HTTP ${ans.status}: ${ans.text.slice(0, 200)}`, bytes: Buffer.byteLength(text), truncated: body.truncatedAlerts };
  }
}
