import { createHmac } from 'node:crypto';
import type { DingtalkConfig } from '../../shared/config/alerting.js';
import { parseErrcode, postBody } from './http.js';
import { render, type TemplateOverrides } from './template.js';
import type { TemplateStore } from './templates.js';
import { NotifyError, type OutgoingMessage, type Receiver, type SendResult } from './types.js';

/** DingTalk answers this when a robot sent more than 20 messages in a minute; it is then banned for 10 minutes. */
export const DINGTALK_ERR_RATE_LIMITED = 130101;

/**
 * `sign` as DingTalk documents it: urlencode(base64(HMAC-SHA256(key=secret, msg=timestamp+"\n"+secret))).
 * Returned already URL-encoded.
 */
export function dingtalkSign(secret: string, timestampMs: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampMs}\n${secret}`, 'utf8').digest('base64');
  return encodeURIComponent(mac);
}

/** The webhook URL with `timestamp` and `sign` appended (when the robot has a secret). */
export function dingtalkUrl(webhook: string, secret: string | undefined, timestampMs: number): string {
  if (!secret) return webhook;
  const sep = webhook.includes('?') ? '&' : '?';
  return `${webhook}${sep}timestamp=${timestampMs}&sign=${dingtalkSign(secret, timestampMs)}`;
}

/** DingTalk custom robot: signed markdown messages with @mobiles; success only on errcode 0. */
export class DingtalkReceiver implements Receiver {
  readonly type = 'dingtalk' as const;
  readonly name: string;

  constructor(
    readonly config: DingtalkConfig,
    private readonly now: () => number = Date.now,
    private readonly templates?: TemplateStore,
  ) {
    this.name = config.name;
  }

  /** The exact JSON body DingTalk receives. */
  body(msg: OutgoingMessage): { body: Record<string, unknown>; truncated: number } {
    const c = this.config;
    // The route's @mentions join the receiver's own. DingTalk only notifies a mobile or user id
    // that also appears in the text as @…, so both go into the text too.
    const m = msg.mentions;
    const mobiles = [...new Set([...c.at_mobiles, ...(m?.mobiles ?? [])])];
    const userIds = [...new Set(m?.user_ids ?? [])];
    const isAtAll = c.at_all || (m?.all ?? false);
    const ats = [...mobiles, ...userIds];
    const mentions = ats.length ? `\n${ats.map((x) => `@${x}`).join(' ')}\n` : '';
    const at = { atMobiles: mobiles, ...(userIds.length ? { atUserIds: userIds } : {}), isAtAll };
    // The JSON wrapping (and its escaping of newlines and quotes) costs bytes too: render, measure
    // the whole body, and render again smaller until it fits the 20,000-byte limit.
    let limit = c.max_bytes - 256 - Buffer.byteLength(mentions);
    for (;;) {
      const r = render(msg, 'markdown', Math.max(64, limit), { now: this.now(), template: this.tpl('markdown'), suffix: mentions });
      const body = { msgtype: 'markdown', markdown: { title: [...r.title].slice(0, 64).join(''), text: r.text }, at };
      const over = Buffer.byteLength(JSON.stringify(body)) - c.max_bytes;
      if (over <= 0 || limit <= 64) return { body, truncated: r.truncated };
      limit -= over + 64;
    }
  }

  preview(msg: OutgoingMessage): unknown {
    return this.body(msg).body;
  }

  private tpl(style: 'markdown' | 'text' | 'html'): TemplateOverrides | undefined {
    return this.templates?.for(this.config, style) ?? this.config.template;
  }

  async send(msg: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const { body, truncated } = this.body(msg);
    const text = JSON.stringify(body);
    const url = dingtalkUrl(this.config.webhook, this.config.secret, this.now());
    const ans = await postBody(url, text, { 'content-type': 'application/json; charset=utf-8' }, this.config.timeout, signal);
    const { errcode, errmsg } = parseErrcode(ans.text, 'DingTalk');
    if (errcode === DINGTALK_ERR_RATE_LIMITED) {
      throw new NotifyError('OPS_ERR_NOTIFY_RATE_LIMITED', `DingTalk robot ${this.name} is rate limited (errcode ${errcode}: ${errmsg}); pausing it`, { retryable: true, pauseMs: this.config.ban_pause });
    }
    if (errcode !== 0) {
      // Other errcodes (bad sign 310000, keyword mismatch, bad token) will not fix themselves.
      throw new NotifyError('OPS_ERR_NOTIFY_REJECTED', `DingTalk rejected the message: errcode ${errcode}: ${errmsg}`);
    }
    return { detail: `errcode 0: ${errmsg || 'ok'}`, bytes: Buffer.byteLength(text), truncated };
  }
}
