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
  /** All groups and alerts of the message, also those left out to stay under max_bytes. */
  totals: { groups: number; firing: number; resolved: number };
  /** Alerts left out to stay under max_bytes (the first ones are kept, in order). */
  truncatedAlerts: number;
  /** Groups left out entirely (a group is never sent with no alerts). */
  truncatedGroups: number;
  /** Where the rest can be read (the controller's alert list), when truncated and `alerting.external_url` is set. */
  moreUrl?: string;
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
    private readonly externalUrl?: string,
  ) {
    this.name = config.name;
  }

  body(msg: OutgoingMessage): WebhookBody {
    const single = msg.groups.length === 1 && msg.kind !== 'digest';
    const totals = {
      groups: msg.groups.length,
      firing: msg.groups.reduce((n, g) => n + g.firing.length, 0),
      resolved: msg.groups.reduce((n, g) => n + g.resolved.length, 0),
    };
    const body: WebhookBody = {
      version: WEBHOOK_SCHEMA_VERSION,
      receiver: this.name,
      kind: msg.kind,
      status: totals.firing > 0 ? 'firing' : 'resolved',
      title: titleOf(msg),
      groupKey: single ? msg.groups[0]!.groupKey : 'digest',
      groupLabels: single ? msg.groups[0]!.groupLabels : {},
      merged: msg.merged,
      totals,
      truncatedAlerts: 0,
      truncatedGroups: 0,
      groups: [],
      sentAt: new Date(this.now()).toISOString(),
    };
    return fitBody(body, msg, this.config.max_bytes, this.externalUrl);
  }

  preview(msg: OutgoingMessage): unknown {
    return this.body(msg);
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

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/**
 * Puts the message's alerts into `body` up to `maxBytes`, in one linear pass: every alert is
 * serialized once for its size, the first alerts are kept in order while the running size fits
 * the budget, and the body is serialized once at the end. (The old loop re-serialized ~2 MB per
 * dropped alert: minutes of CPU for a 10,000-alert digest, issue 20 item 1.) A group is sent
 * only with at least one alert; what is left out is counted, with a link to the rest.
 */
export function fitBody(body: WebhookBody, msg: OutgoingMessage, maxBytes: number, externalUrl?: string): WebhookBody {
  const all = msg.groups.map((g) => ({ head: { groupKey: g.groupKey, groupLabels: g.groupLabels, status: g.status }, alerts: [...g.firing, ...g.resolved] }));
  const totalAlerts = all.reduce((n, g) => n + g.alerts.length, 0);
  // The fixed part, with the counters at their widest values and the link, so the real ones never make it larger.
  if (externalUrl) body.moreUrl = `${externalUrl.replace(/\/+$/, '')}/api/v1/alerts?state=all`;
  body.truncatedAlerts = totalAlerts;
  body.truncatedGroups = all.length;
  let fixed = bytes(JSON.stringify(body));
  if (fixed > maxBytes) {
    // Only a giant title or group labels, or a tiny limit, can do this: shorten them rather
    // than break the limit (the title's JSON escaping is at most 6 bytes per byte cut).
    body.groupLabels = {};
    fixed = bytes(JSON.stringify(body));
    if (fixed > maxBytes) body.title = cutUtf8(body.title, Math.max(0, bytes(body.title) - (fixed - maxBytes)));
    fixed = bytes(JSON.stringify(body));
    if (fixed > maxBytes) body.title = '';
    fixed = bytes(JSON.stringify(body));
  }
  const budget = maxBytes - fixed;
  // Sizes once: a group costs its head, brackets and commas; each alert its JSON and a comma.
  const kept: WebhookBody['groups'] = [];
  let used = 0;
  let keptAlerts = 0;
  let stop = false;
  for (const g of all) {
    if (stop) break;
    const headBytes = bytes(JSON.stringify({ ...g.head, alerts: [] })) + (kept.length > 0 ? 1 : 0);
    let out: WebhookBody['groups'][number] | undefined;
    for (const a of g.alerts) {
      const cost = bytes(JSON.stringify(a)) + (out && out.alerts.length > 0 ? 1 : 0) + (out ? 0 : headBytes);
      if (used + cost > budget) {
        stop = true;
        break;
      }
      used += cost;
      if (!out) {
        out = { ...g.head, alerts: [] };
        kept.push(out);
      }
      out.alerts.push(a);
      keptAlerts++;
    }
  }
  body.groups = kept;
  body.truncatedAlerts = totalAlerts - keptAlerts;
  body.truncatedGroups = all.length - kept.length;
  if (body.truncatedAlerts === 0) delete body.moreUrl;
  return body;
}

function cutUtf8(s: string, max: number): string {
  return bytes(s) <= max ? s : Buffer.from(s, 'utf8').subarray(0, max).toString('utf8').replace(/\uFFFD+$/, '');
}
