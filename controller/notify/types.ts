import type { ReceiverConfig } from '../../shared/config/alerting.js';
import { OpsError } from '../../shared/errors.js';

/** One alert as receivers (and the webhook schema) see it. */
export interface AlertView {
  fingerprint: string;
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  /** ISO time, or null while firing. */
  endsAt: string | null;
  /** How many times the alert was asserted (deduplicated events). */
  count: number;
}

/** What one aggregation group tells one receiver. */
export interface NotificationGroup {
  groupKey: string;
  groupLabels: Record<string, string>;
  status: 'firing' | 'resolved';
  firing: AlertView[];
  resolved: AlertView[];
}

/** Who a robot message @mentions (route and severity config), rendered in each robot's format. */
export interface Mentions {
  mobiles: string[];
  user_ids: string[];
  all: boolean;
}

/** A message a receiver renders and sends: one group, or a digest of several merged groups. */
export interface OutgoingMessage {
  /** @mentions for robots (union of the merged notifications'); absent = none. */
  mentions?: Mentions | undefined;
  kind: 'notify' | 'digest' | 'fallback' | 'test';
  groups: NotificationGroup[];
  /** Notifications merged into this message (1 unless a digest). */
  merged: number;
  /** For fallback messages: the receiver that could not deliver. */
  failedReceiver?: string;
}

/** The channel's answer, for the notification log and `opsctl notify test`. */
export interface SendResult {
  detail: string;
  bytes: number;
  /** Alerts left out to fit the channel's byte limit. */
  truncated: number;
}

/** One notification channel (one file each in controller/notify/, registered in index.ts). */
export interface Receiver {
  readonly name: string;
  readonly type: ReceiverConfig['type'];
  readonly config: ReceiverConfig;
  send(msg: OutgoingMessage, signal: AbortSignal): Promise<SendResult>;
  /** What `send` would post, without sending (`opsctl notify preview`). */
  preview(msg: OutgoingMessage): unknown;
  close?(): void;
}

/**
 * A failed send, typed where the foreign answer enters our code. `retryable` covers network
 * errors, 5xx and rate-limit answers; `pauseMs` is set when the platform banned us for a while
 * (DingTalk errcode 130101) and the receiver must stay quiet.
 */
export class NotifyError extends OpsError {
  readonly pauseMs: number;
  /** The channel's Retry-After (429/503), already bounded: the receiver waits at least this long. */
  readonly retryAfterMs: number | undefined;
  constructor(code: string, message: string, opts: { cause?: unknown; retryable?: boolean; pauseMs?: number; retryAfterMs?: number } = {}) {
    super(code, message, opts);
    this.name = 'NotifyError';
    this.pauseMs = opts.pauseMs ?? 0;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

export function isoOrNull(ms: number): string | null {
  return ms > 0 ? new Date(ms).toISOString() : null;
}
