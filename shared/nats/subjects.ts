/** Kinds of events agents publish; each is a subject token. */
export const EVENT_KINDS = ['hb', 'metric', 'check', 'log', 'alert', 'backup', 'action', 'facts'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export const EVENT_SUBJECT_PREFIX = 'opsfleet.ev';
/** Everything the event stream captures. */
export const EVENT_SUBJECTS = `${EVENT_SUBJECT_PREFIX}.>`;

export function eventSubject(kind: string, hostId: string): string {
  return `${EVENT_SUBJECT_PREFIX}.${kind}.${hostId}`;
}

/** Parses `opsfleet.ev.<kind>.<hostId>`; undefined when the subject is not of that form. */
export function parseEventSubject(subject: string): { kind: string; hostId: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 4 || `${parts[0]}.${parts[1]}` !== EVENT_SUBJECT_PREFIX) return undefined;
  return { kind: parts[2]!, hostId: parts[3]! };
}

/** Event id `<hostId>:<instanceId>:<seq>`, unique forever across agent restarts and wiped state dirs. */
export function eventId(hostId: string, instanceId: string, seq: number): string {
  return `${hostId}:${instanceId}:${seq}`;
}

/** Nats-Msg-Id of a batch of consecutive events: `<hostId>:<instanceId>:<firstSeq>-<lastSeq>`. */
export function batchMsgId(hostId: string, instanceId: string, firstSeq: number, lastSeq: number): string {
  return `${hostId}:${instanceId}:${firstSeq}-${lastSeq}`;
}

/**
 * Reply-inbox prefix of one agent's connection. JetStream publish acks come back on it, so the
 * agent's NATS user may subscribe here and nowhere else: another host cannot read its acks.
 */
export function agentInboxPrefix(hostId: string): string {
  return `_INBOX_${hostId}`;
}
