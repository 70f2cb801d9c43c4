import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PermissionViolationError } from '@nats-io/transport-node';
import { pino } from 'pino';
import type { EventKind } from '../../shared/nats/subjects.js';
import type { EventPayload, EventSink } from '../events/sink.js';
import { NATS_PERMISSION_DENIED, NatsPermissionAlert } from './permission-alert.js';

function memorySink(): EventSink & { items: Array<{ kind: EventKind; payload: EventPayload }> } {
  const items: Array<{ kind: EventKind; payload: EventPayload }> = [];
  return {
    items,
    append(kind, payload) {
      items.push({ kind, payload });
      return items.length;
    },
    appendMany(list) {
      return list.map((i) => this.append(i.kind, i.payload, i.tsMs));
    },
    hasRoom: () => true,
  };
}

describe('NatsPermissionAlert (the agent reports what the server refused it)', () => {
  it('raises NatsPermissionDenied with the subject, counts every refusal and re-asserts at most once a minute', () => {
    const sink = memorySink();
    let now = 1_000_000;
    const a = new NatsPermissionAlert({ sink, hostId: 'web-01', logger: pino({ level: 'silent' }), now: () => now });
    const err = PermissionViolationError.parse('Permissions Violation for Publish to "opsfleet.ev.hb.web-02"')!;
    assert.ok(err instanceof PermissionViolationError);
    a.onError(err);
    a.onError(err);
    assert.equal(sink.items.length, 1);
    const alert = sink.items[0]!.payload.alert!;
    assert.equal(sink.items[0]!.kind, 'alert');
    assert.deepEqual(alert.labels, { alertname: NATS_PERMISSION_DENIED, severity: 'critical', operation: 'publish', subject: 'opsfleet.ev.hb.web-02' });
    assert.match(alert.annotations.summary!, /refused publish to "opsfleet\.ev\.hb\.web-02" by the agent on web-01 \(1 time/);
    now += 60_000;
    a.onError(err);
    assert.equal(sink.items.length, 2);
    assert.match(sink.items[1]!.payload.alert!.annotations.summary!, /\(3 time\(s\)/);
    assert.equal(a.counts.get('publish opsfleet.ev.hb.web-02'), 3);
  });

  it('ignores other async errors (a disconnect is not a violation)', () => {
    const sink = memorySink();
    const a = new NatsPermissionAlert({ sink, hostId: 'web-01', logger: pino({ level: 'silent' }) });
    a.onError(new Error('Stale Connection'));
    assert.equal(sink.items.length, 0);
  });
});
