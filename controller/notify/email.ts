import nodemailer, { type Transporter } from 'nodemailer';
import type { EmailConfig } from '../../shared/config/alerting.js';
import { render, type TemplateOverrides } from './template.js';
import type { TemplateStore } from './templates.js';
import { NotifyError, type OutgoingMessage, type Receiver, type SendResult } from './types.js';

/** nodemailer codes that mean "the server or the path to it is unwell, try again". */
const TRANSIENT_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EPROTOCOL']);

/** Email over SMTP (nodemailer): plain-text and HTML bodies of the same message. */
export class EmailReceiver implements Receiver {
  readonly type = 'email' as const;
  readonly name: string;
  private readonly transport: Transporter;

  constructor(
    readonly config: EmailConfig,
    private readonly now: () => number = Date.now,
    private readonly templates?: TemplateStore,
  ) {
    this.name = config.name;
    const s = config.smtp;
    this.transport = nodemailer.createTransport({
      host: s.host,
      port: s.port,
      secure: s.secure,
      auth: s.user !== undefined ? { user: s.user, pass: s.pass ?? '' } : undefined,
      tls: { rejectUnauthorized: s.tls_reject_unauthorized },
      connectionTimeout: config.timeout,
      greetingTimeout: config.timeout,
      socketTimeout: config.timeout,
    });
  }

  preview(msg: OutgoingMessage): unknown {
    const c = this.config;
    const text = render(msg, 'text', c.max_bytes, { now: this.now(), template: this.tpl('text') });
    const html = render(msg, 'html', c.max_bytes, { now: this.now(), template: this.tpl('html') });
    return { from: c.from, to: c.to, subject: text.title, text: text.text, html: html.text };
  }

  private tpl(style: 'markdown' | 'text' | 'html'): TemplateOverrides | undefined {
    return this.templates?.for(this.config, style) ?? this.config.template;
  }

  async send(msg: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const c = this.config;
    const text = render(msg, 'text', c.max_bytes, { now: this.now(), template: this.tpl('text') });
    const html = render(msg, 'html', c.max_bytes, { now: this.now(), template: this.tpl('html') });
    if (signal.aborted) throw new NotifyError('OPS_ERR_NOTIFY_ABORTED', 'send aborted');
    try {
      const info = (await this.transport.sendMail({
        from: c.from,
        to: c.to,
        subject: text.title,
        text: text.text,
        html: `<!doctype html><html><body>${html.text}</body></html>`,
        headers: { 'X-Opsfleet-Kind': msg.kind },
      })) as { response?: string; messageId?: string };
      return { detail: `${info.response ?? 'sent'} (${info.messageId ?? ''})`, bytes: Buffer.byteLength(text.text) + Buffer.byteLength(html.text), truncated: text.truncated };
    } catch (err) {
      const e = err as { code?: string; responseCode?: number; message: string };
      const transient = (e.code !== undefined && TRANSIENT_CODES.has(e.code)) || (e.responseCode !== undefined && e.responseCode >= 400 && e.responseCode < 500);
      throw new NotifyError(transient ? 'OPS_ERR_NOTIFY_SMTP_TRANSIENT' : 'OPS_ERR_NOTIFY_SMTP', `SMTP ${c.smtp.host}:${c.smtp.port} failed: ${e.code ?? ''}${e.responseCode ? ` ${e.responseCode}` : ''} ${e.message}`.trim(), { cause: err, retryable: transient });
    }
  }

  close(): void {
    this.transport.close();
  }
}
