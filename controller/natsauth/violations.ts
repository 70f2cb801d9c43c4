/**
 * What the controller learns about refused NATS clients. nats-server 2.9 emits no event for a
 * refused publish (the client gets `-ERR 'Permissions Violation…'` and the server logs it), so
 * two sources are counted:
 * - the server's advisories on the system account: `$SYS.SERVER.<id>.CLIENT.AUTH.ERR` (a
 *   connection refused: unknown, revoked or expired credentials) and
 *   `$SYS.ACCOUNT.<acc>.DISCONNECT` whose reason is a revocation or an expiry;
 * - the agents' own reports: an agent that receives a permission error raises the
 *   `NatsPermissionDenied` alert (agent/agent.ts). A host that forges on purpose will not
 *   report itself, but its forgery never reaches the stream either: the server refused it.
 */
export type ViolationKind = 'auth_error' | 'revoked' | 'expired';

export interface NatsViolation {
  kind: ViolationKind;
  /** The JWT's name claim: the host id for agent users. */
  user: string;
  /** The user's public nkey, when the server names it. */
  nkey: string;
  /** Client address. */
  host: string;
  reason: string;
}

interface ClientInfo {
  host?: string;
  name?: string;
  user?: string;
  name_tag?: string;
  nkey?: string;
  acc?: string;
}

/** Parses an advisory from the subjects above; undefined for what is not a violation. */
export function violationFromAdvisory(subject: string, data: Uint8Array): NatsViolation | undefined {
  let msg: { client?: ClientInfo; reason?: string };
  try {
    msg = JSON.parse(new TextDecoder().decode(data)) as typeof msg;
  } catch {
    return undefined;
  }
  const c = msg.client ?? {};
  const reason = msg.reason ?? '';
  const base = { user: c.name_tag ?? '', nkey: c.nkey ?? c.user ?? '', host: c.host ?? '', reason };
  if (subject.endsWith('.CLIENT.AUTH.ERR')) return { kind: 'auth_error', ...base };
  if (subject.endsWith('.DISCONNECT')) {
    if (/revoked/i.test(reason)) return { kind: 'revoked', ...base };
    if (/expired/i.test(reason)) return { kind: 'expired', ...base };
  }
  return undefined;
}
