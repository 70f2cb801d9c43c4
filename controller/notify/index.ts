import type { ReceiverConfig } from '../../shared/config/alerting.js';
import { DingtalkReceiver } from './dingtalk.js';
import { EmailReceiver } from './email.js';
import { FeishuReceiver } from './feishu.js';
import type { TemplateStore } from './templates.js';
import type { Receiver } from './types.js';
import { WebhookReceiver } from './webhook.js';
import { WecomReceiver } from './wecom.js';

/** What every receiver may need besides its own config. */
export interface ReceiverContext {
  now: () => number;
  /** `alerting.external_url`: where truncated messages point for the rest. */
  externalUrl?: string | undefined;
  /** Per-receiver Liquid templates and language defaults. */
  templates?: TemplateStore | undefined;
}

type Factory<T extends ReceiverConfig['type']> = (cfg: Extract<ReceiverConfig, { type: T }>, ctx: ReceiverContext) => Receiver;

/** One entry per channel type; adding a channel is one file and one line here. */
const RECEIVER_TYPES: { [T in ReceiverConfig['type']]: Factory<T> } = {
  dingtalk: (c, x) => new DingtalkReceiver(c, x.now, x.templates),
  wecom: (c, x) => new WecomReceiver(c, x.now, x.templates),
  feishu: (c, x) => new FeishuReceiver(c, x.now, x.templates),
  email: (c, x) => new EmailReceiver(c, x.now, x.templates),
  webhook: (c, x) => new WebhookReceiver(c, x.now, x.externalUrl),
};

export function createReceiver(cfg: ReceiverConfig, ctx: ReceiverContext = { now: Date.now }): Receiver {
  const factory = RECEIVER_TYPES[cfg.type] as Factory<typeof cfg.type>;
  return factory(cfg as never, ctx);
}

export type { Receiver } from './types.js';
