import type { Event } from '../gen/opsfleet/v1/events.js';
import { EVENT_KINDS, eventId } from '../nats/subjects.js';

/**
 * Agent timestamps outside this window are nonsense (a clock reset to 1970, a forged value far
 * in the future, a negative number) rather than skew: such events are rejected. Skew inside
 * the window is accepted and flagged by the host store, never used to order host updates.
 */
export const TS_MIN_MS = Date.UTC(2000, 0, 1);
export const TS_MAX_MS = Date.UTC(2100, 0, 1);

const KINDS: ReadonlySet<string> = new Set(EVENT_KINDS);
/** Kinds that carry a dedicated protobuf payload; every other known kind carries a JSON object. */
const PAYLOAD_OF: Readonly<Record<string, 'heartbeat' | 'alert' | 'json'>> = { hb: 'heartbeat', alert: 'alert' };
/** A JSON payload bigger than this is not something an agent writes (log batches stay far below). */
export const MAX_JSON_BYTES = 1 << 20;

/**
 * Why a decoded event cannot be stored, or undefined when it can. Checks what the controller
 * relies on downstream: a known kind, the payload that kind carries (a JSON object for the
 * JSON kinds), a plausible timestamp, and an id built from host, instance and seq (so one
 * event cannot claim another's id).
 */
export function eventProblem(e: Event): string | undefined {
  if (!KINDS.has(e.kind)) return `unknown event kind "${clip(e.kind)}" (known: ${EVENT_KINDS.join(', ')})`;
  if (e.id !== eventId(e.hostId, e.instanceId, e.seq)) return `event id "${clip(e.id)}" is not "<host_id>:<instance_id>:<seq>"`;
  if (!Number.isSafeInteger(e.tsMs) || e.tsMs < TS_MIN_MS || e.tsMs >= TS_MAX_MS) {
    return `ts_ms ${e.tsMs} is outside ${new Date(TS_MIN_MS).toISOString()}..${new Date(TS_MAX_MS).toISOString()}`;
  }
  const want = PAYLOAD_OF[e.kind] ?? 'json';
  const has = e.heartbeat !== undefined ? 'heartbeat' : e.alert !== undefined ? 'alert' : e.json !== undefined ? 'json' : 'none';
  if (has !== want) return `kind ${e.kind} carries a ${want} payload, got ${has}`;
  if (want === 'json') return jsonProblem(e.json!);
  return undefined;
}

function jsonProblem(text: string): string | undefined {
  if (text.length > MAX_JSON_BYTES) return `json payload of ${text.length} characters exceeds ${MAX_JSON_BYTES}`;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `json payload is not JSON: ${(err as Error).message}`;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return `json payload must be an object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`;
  return undefined;
}

/** Keeps an attacker-chosen string short in reasons and logs. */
function clip(s: string, max = 64): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
