import type { User } from '@nats-io/jwt';
import { agentInboxPrefix, eventSubject } from '../../shared/nats/subjects.js';

/**
 * What one agent's NATS user may do, and nothing more. The agent's only NATS traffic is
 * JetStream publishes of its outbox (agent/outbox/publisher.ts): a plain PUB on its own event
 * subjects with a reply subject under its inbox prefix, where the stream's ack comes back. A
 * publish needs no permission on its reply subject, so `pub` is only the event subjects and
 * `sub` only the inbox: no $JS.API, no other host's subjects or inbox, no consuming.
 */
export function agentPermissions(hostId: string): Partial<User> {
  return {
    pub: { allow: [eventSubject('*', hostId)] },
    sub: { allow: [`${agentInboxPrefix(hostId)}.>`] },
    // A bearer JWT alone (without the nkey signature) is refused; the agent speaks plain NATS only.
    bearer_token: false,
    allowed_connection_types: ['STANDARD'],
    subs: 16,
    data: -1,
    payload: -1,
  };
}
