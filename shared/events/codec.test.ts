import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { OpsError } from '../errors.js';
import { Alert_State, Event, EventBatch } from '../gen/opsfleet/v1/events.js';
import { EVENT_KINDS, eventId } from '../nats/subjects.js';
import { decodeAndValidateBatch } from './codec.js';
import { TS_MAX_MS, TS_MIN_MS } from './validate.js';

const NOW = Date.UTC(2026, 0, 1);

function ev(over: Partial<Event> = {}): Event {
  const base = { hostId: 'h1', instanceId: 'i1', seq: 1, tsMs: NOW, kind: 'metric', json: '{"cpu":1}' };
  const e = { ...base, ...over } as Event;
  return { ...e, id: over.id ?? eventId(e.hostId, e.instanceId, e.seq) };
}

function run(events: Event[]) {
  return decodeAndValidateBatch(EventBatch.encode({ events }).finish());
}

/** The only way decoding may fail: a typed OPS_ERR_EVENT_MALFORMED with a reason. */
function decodeOrReason(bytes: Uint8Array): { events: Event[]; rejected: Array<{ reason: string }> } | string {
  try {
    return decodeAndValidateBatch(bytes);
  } catch (err) {
    assert.ok(err instanceof OpsError, `non-OpsError thrown: ${String(err)}`);
    assert.equal(err.code, 'OPS_ERR_EVENT_MALFORMED');
    assert.ok(err.message.length > 0);
    return err.message;
  }
}

describe('event decoder: nonsense is rejected with a reason', () => {
  it('accepts what agents send', () => {
    const hb = ev({ kind: 'hb', json: undefined, heartbeat: { inventory: undefined, agentUptimeS: 1, outboxDepth: 0, outboxEvicted: 0, intervalMs: 500 } });
    const alert = ev({ seq: 2, kind: 'alert', json: undefined, alert: { state: Alert_State.STATE_FIRING, labels: { alertname: 'X' }, annotations: {}, startsAtMs: NOW, endsAtMs: 0, resolveTimeoutS: 0 } });
    const r = run([hb, alert, ev({ seq: 3, kind: 'log', json: '{"type":"stats"}' })]);
    assert.equal(r.events.length, 3);
    assert.deepEqual(r.rejected, []);
  });

  it('rejects unknown kinds, non-JSON and non-object payloads, absurd ts_ms, forged ids, payload of the wrong kind — one event at a time', () => {
    const r = run([
      ev({ seq: 1, kind: 'bogus' }),
      ev({ seq: 2, json: 'not json {' }),
      ev({ seq: 3, json: '42' }),
      ev({ seq: 4, tsMs: -1e15 }),
      ev({ seq: 5, tsMs: 1e15 }),
      ev({ seq: 6, id: 'h2:i1:6' }),
      ev({ seq: 7, kind: 'hb' }),
      ev({ seq: 8, json: undefined }),
      ev({ seq: 9 }),
    ]);
    assert.deepEqual(r.events.map((e) => e.seq), [9]);
    const reasons = r.rejected.map((x) => `${x.index}: ${x.reason}`);
    assert.match(reasons[0]!, /^0: unknown event kind "bogus"/);
    assert.match(reasons[1]!, /^1: json payload is not JSON/);
    assert.match(reasons[2]!, /^2: json payload must be an object, got number/);
    assert.match(reasons[3]!, /^3: ts_ms -1000000000000000 is outside 2000-01-01/);
    assert.match(reasons[4]!, /^4: ts_ms 1000000000000000 is outside/);
    assert.match(reasons[5]!, /^5: event id "h2:i1:6" is not/);
    assert.match(reasons[6]!, /^6: kind hb carries a heartbeat payload, got json/);
    assert.match(reasons[7]!, /^7: kind metric carries a json payload, got none/);
  });

  it('fuzz: arbitrary bytes never crash or throw anything but OPS_ERR_EVENT_MALFORMED', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        decodeOrReason(bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it('fuzz: every event of a structured batch is either stored or rejected with a reason, and valid ones are stored', () => {
    const kind = fc.oneof(fc.constantFrom(...EVENT_KINDS), fc.string({ maxLength: 12 }));
    const json = fc.oneof(fc.json(), fc.string({ maxLength: 40 }), fc.constant('{"a":1}'));
    const event = fc.record({
      hostId: fc.oneof(fc.constant('h1'), fc.string({ minLength: 0, maxLength: 8 })),
      instanceId: fc.oneof(fc.constant('i1'), fc.string({ maxLength: 8 })),
      seq: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
      tsMs: fc.oneof(fc.integer({ min: TS_MIN_MS, max: TS_MAX_MS - 1 }), fc.integer({ min: -1e15, max: 1e15 })),
      kind,
      json,
      forgeId: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 20 }), (specs) => {
        const events = specs.map((s) => Event.fromPartial({ ...s, id: s.forgeId ? 'forged' : eventId(s.hostId, s.instanceId, s.seq), forgeId: undefined } as Partial<Event>));
        const r = decodeOrReason(EventBatch.encode({ events }).finish());
        if (typeof r === 'string') return; // the batch as a whole lacks identity: one reason for all
        assert.equal(r.events.length + r.rejected.length, events.length);
        for (const x of r.rejected) assert.ok(x.reason.length > 0);
        // Well-formed by construction (a JSON kind with a JSON object, a sane time, its own id) is always stored.
        const isObj = (t: string) => { try { const v: unknown = JSON.parse(t); return typeof v === 'object' && v !== null && !Array.isArray(v); } catch { return false; } };
        const wellFormed = specs.filter((s) => !s.forgeId && s.hostId && s.instanceId && s.seq > 0 && ['metric', 'check', 'log', 'backup', 'action', 'facts'].includes(s.kind) && s.tsMs >= TS_MIN_MS && s.tsMs < TS_MAX_MS && isObj(s.json));
        for (const s of wellFormed) assert.ok(r.events.some((e) => e.id === eventId(s.hostId, s.instanceId, s.seq)), `well-formed event ${s.hostId}:${s.seq} not stored`);
        for (const e of r.events) {
          assert.ok((EVENT_KINDS as readonly string[]).includes(e.kind));
          assert.ok(e.tsMs >= TS_MIN_MS && e.tsMs < TS_MAX_MS);
          if (e.kind !== 'hb' && e.kind !== 'alert') {
            const v: unknown = JSON.parse(e.json!);
            assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v));
          }
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('fuzz: bit flips of a valid batch never crash the decoder', () => {
    const valid = EventBatch.encode({ events: [ev(), ev({ seq: 2, kind: 'hb', json: undefined, heartbeat: { inventory: { hostId: 'h1', hostname: 'web', os: 'linux', distro: '', kernel: '', arch: '', cpuModel: '', cpuCores: 1, memoryTotalBytes: 1, ipAddresses: [], tags: { a: 'b' }, agentVersion: '1', bootId: '', uptimeS: 1, rpcEndpoint: '127.0.0.1:1', rpcTls: false }, agentUptimeS: 1, outboxDepth: 0, outboxEvicted: 0, intervalMs: 500 } })] }).finish();
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (flips) => {
        const b = Uint8Array.from(valid);
        for (const [i, v] of flips) b[i] = v;
        decodeOrReason(b);
      }),
      { numRuns: 3000 },
    );
  });
});
