import type { ReceiverConfig } from '../../shared/config/alerting.js';
import { DingtalkReceiver } from './dingtalk.js';
import { EmailReceiver } from './email.js';
import type { Receiver } from './types.js';
import { WebhookReceiver } from './webhook.js';
import { WecomReceiver } from './wecom.js';

type Factory<T extends ReceiverConfig['type']> = (cfg: Extract<ReceiverConfig, { type: T }>, now: () => number) => Receiver;

/** One entry per channel type; adding a channel is one file and one line here. */
const RECEIVER_TYPES: { [T in ReceiverConfig['type']]: Factory<T> } = {
  dingtalk: (c, now) => new DingtalkReceiver(c, now),
  wecom: (c, now) => new WecomReceiver(c, now),
  email: (c, now) => new EmailReceiver(c, now),
  webhook: (c, now) => new WebhookReceiver(c, now),
};

export function createReceiver(cfg: ReceiverConfig, now: () => number = Date.now): Receiver {
  const factory = RECEIVER_TYPES[cfg.type] as Factory<typeof cfg.type>;
  return factory(cfg as never, now);
}

export type { Receiver } from './types.js';
