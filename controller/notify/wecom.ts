import type { WecomConfig } from '../../shared/config/alerting.js';
import { parseErrcode, postBody } from './http.js';
import { render, type TemplateOverrides } from './template.js';
import type { TemplateStore } from './templates.js';
import { NotifyError, type OutgoingMessage, type Receiver, type SendResult } from './types.js';

/** WeCom's "API freq out of limit" answer. */
export const WECOM_ERR_RATE_LIMITED = 45009;
/** WeCom's content limits per message type, in UTF-8 bytes. */
export const WECOM_MAX_BYTES = { markdown: 4096, text: 2048 } as const;

/** WeCom (企业微信) group robot: markdown or text, mentioned_mobile_list; success only on errcode 0. */
export class WecomReceiver implements Receiver {
  readonly type = 'wecom' as const;
  readonly name: string;

  constructor(
    readonly config: WecomConfig,
    private readonly now: () => number = Date.now,
    private readonly templates?: TemplateStore,
  ) {
    this.name = config.name;
  }

  body(msg: OutgoingMessage): { body: Record<string, unknown>; truncated: number } {
    const c = this.config;
    const limit = Math.min(c.max_bytes, WECOM_MAX_BYTES[c.msgtype]);
    const m = msg.mentions;
    if (c.msgtype === 'text') {
      // Text messages mention by mobile (mentioned_mobile_list) and by user id (mentioned_list); "@all" in either mentions everyone.
      const mobiles = [...new Set([...c.mentioned_mobile_list, ...(m?.mobiles ?? [])])];
      const users = [...new Set([...(m?.user_ids ?? []), ...(m?.all ? ['@all'] : [])])];
      const r = render(msg, 'text', limit, { now: this.now(), template: this.tpl('text') });
      return { body: { msgtype: 'text', text: { content: r.text, mentioned_mobile_list: mobiles, ...(users.length ? { mentioned_list: users } : {}) } }, truncated: r.truncated };
    }
    // Markdown messages cannot carry mention lists; WeCom mentions a user id written as <@userid> in the content (not a mobile).
    const suffix = m?.user_ids.length ? `\n${m.user_ids.map((u) => `<@${u}>`).join(' ')}` : '';
    const r = render(msg, 'markdown', limit, { now: this.now(), template: this.tpl('markdown'), suffix });
    return { body: { msgtype: 'markdown', markdown: { content: r.text } }, truncated: r.truncated };
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
    const ans = await postBody(this.config.webhook, text, { 'content-type': 'application/json; charset=utf-8' }, this.config.timeout, signal);
    const { errcode, errmsg } = parseErrcode(ans.text, 'WeCom');
    if (errcode === WECOM_ERR_RATE_LIMITED) {
      throw new NotifyError('OPS_ERR_NOTIFY_RATE_LIMITED', `WeCom robot ${this.name} is rate limited (errcode ${errcode}: ${errmsg}); pausing it`, { retryable: true, pauseMs: this.config.ban_pause });
    }
    if (errcode !== 0) throw new NotifyError('OPS_ERR_NOTIFY_REJECTED', `WeCom rejected the message: errcode ${errcode}: ${errmsg}`);
    return { detail: `errcode 0: ${errmsg || 'ok'}`, bytes: Buffer.byteLength(text), truncated };
  }
}
