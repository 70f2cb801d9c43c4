import { createHmac } from 'node:crypto';
import type { FeishuConfig } from '../../shared/config/alerting.js';
import { postBody } from './http.js';
import { render, type TemplateOverrides } from './template.js';
import type { TemplateStore } from './templates.js';
import { NotifyError, type Mentions, type OutgoingMessage, type Receiver, type SendResult } from './types.js';

/** Feishu/Lark custom bot: "request frequency limited" (100/min, 5/s per bot). */
export const FEISHU_ERR_RATE_LIMITED = 11232;
/** Feishu's limit for a custom bot's request body. */
export const FEISHU_MAX_BYTES = 20_000;

/**
 * `sign` as Feishu documents it for custom bots: base64(HMAC-SHA256(key = timestamp + "\n" +
 * secret, message = "")), timestamp in seconds; it must be within an hour of Feishu's clock.
 */
export function feishuSign(secret: string, timestampS: number): string {
  return createHmac('sha256', `${timestampS}\n${secret}`).update('').digest('base64');
}

const HEADER_COLOR: Record<string, string> = { critical: 'red', error: 'red', warning: 'orange', warn: 'orange', info: 'blue' };

/** A card's @mentions in lark_md: `<at id=all></at>` and `<at id=ou_…></at>` (open ids); Feishu bots cannot @ by phone number. */
export function feishuMentions(m: Mentions | undefined): string {
  if (!m) return '';
  const parts = m.all ? ['<at id=all></at>'] : m.user_ids.map((id) => `<at id=${id}></at>`);
  return parts.length ? `\n${parts.join(' ')}` : '';
}

/** Feishu/Lark custom bot: signed interactive card messages; success only on code 0. */
export class FeishuReceiver implements Receiver {
  readonly type = 'feishu' as const;
  readonly name: string;

  constructor(
    readonly config: FeishuConfig,
    private readonly now: () => number = Date.now,
    private readonly templates?: TemplateStore,
  ) {
    this.name = config.name;
  }

  /** The exact JSON body Feishu receives (card rendered in lark_md, cut to fit the body limit). */
  body(msg: OutgoingMessage): { body: Record<string, unknown>; truncated: number } {
    const c = this.config;
    const max = Math.min(c.max_bytes, FEISHU_MAX_BYTES);
    const mention = feishuMentions(msg.mentions);
    const firing = msg.groups.some((g) => g.firing.length > 0);
    const severity = msg.groups.flatMap((g) => g.firing).map((a) => a.labels.severity ?? '').find((s) => HEADER_COLOR[s]) ?? '';
    const sign = c.secret ? (() => {
      const ts = Math.floor(this.now() / 1000);
      return { timestamp: String(ts), sign: feishuSign(c.secret!, ts) };
    })() : {};
    // The JSON wrapping escapes newlines and quotes: measure the whole body once, and if it is
    // over, render again with the overshoot taken off (at most a few passes, each linear).
    let limit = max - 512;
    for (let pass = 0; ; pass++) {
      const r = render(msg, 'markdown', Math.max(256, limit), { now: this.now(), template: this.tpl('markdown'), suffix: mention });
      // lark_md has bold, links and @, but no headings.
      const content = r.text.replace(/^#{1,6} (.*)$/gm, '**$1**');
      const body = {
        ...sign,
        msg_type: 'interactive',
        card: {
          config: { wide_screen_mode: true },
          header: { title: { tag: 'plain_text', content: [...r.title].slice(0, 100).join('') }, template: firing ? (HEADER_COLOR[severity] ?? 'red') : 'green' },
          elements: [{ tag: 'div', text: { tag: 'lark_md', content } }],
        },
      };
      const over = Buffer.byteLength(JSON.stringify(body)) - max;
      if (over <= 0 || limit <= 256 || pass > 8) return { body, truncated: r.truncated };
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
    const ans = await postBody(this.config.webhook, text, { 'content-type': 'application/json; charset=utf-8' }, this.config.timeout, signal);
    const { code, msg: m } = parseFeishu(ans.text);
    if (code === FEISHU_ERR_RATE_LIMITED) {
      throw new NotifyError('OPS_ERR_NOTIFY_RATE_LIMITED', `Feishu bot ${this.name} is rate limited (code ${code}: ${m}); pausing it`, { retryable: true, pauseMs: this.config.ban_pause });
    }
    // 19021 bad sign or clock, 19024 keyword missing, 19022 IP not allowed, 9499 bad request: none fix themselves.
    if (code !== 0) throw new NotifyError('OPS_ERR_NOTIFY_REJECTED', `Feishu rejected the message: code ${code}: ${m}`);
    return { detail: `code 0: ${m || 'success'}`, bytes: Buffer.byteLength(text), truncated };
  }
}

/** Feishu answers `{code, msg, data}` (older bots `{StatusCode, StatusMessage}`); anything else is a permanent error. */
export function parseFeishu(text: string): { code: number; msg: string } {
  try {
    const j = JSON.parse(text) as { code?: unknown; msg?: unknown; StatusCode?: unknown; StatusMessage?: unknown };
    if (typeof j.code === 'number') return { code: j.code, msg: typeof j.msg === 'string' ? j.msg : '' };
    if (typeof j.StatusCode === 'number') return { code: j.StatusCode, msg: typeof j.StatusMessage === 'string' ? j.StatusMessage : '' };
  } catch {
    /* fall through */
  }
  throw new NotifyError('OPS_ERR_NOTIFY_RESPONSE', `Feishu answered without a code: ${text.slice(0, 200)}`);
}
