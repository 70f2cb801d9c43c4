/**
 * Reading back what ingest stored. Ingest keeps each event minus its ids (`storedPayload` in
 * ingest.ts), so the body of a JSON-bodied kind (check, metric, facts, logstats...) sits as
 * text in the `json` field: `{"json":"{\"check\":\"web\",...}"}`. Readers that parse `payload`
 * as the body itself see an object without their fields (the dashboard's 1 h charts were all
 * zeros that way); they go through here instead.
 */
export function storedEventBody(payload: string): Record<string, unknown> | undefined {
  let outer: unknown;
  try {
    outer = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (outer === null || typeof outer !== 'object') return undefined;
  const json = (outer as { json?: unknown }).json;
  if (typeof json !== 'string') return outer as Record<string, unknown>;
  try {
    const body = JSON.parse(json) as unknown;
    return body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** SQL for a field of a stored JSON body, e.g. `storedBodyField('event')` (same layout as above). */
export const storedBodyField = (field: string): string => `json_extract(json_extract(payload, '$.json'), '$.${field}')`;

/** The stored form of a JSON body, as ingest writes it (tests insert rows through this). */
export const storedJsonPayload = (body: string): string => JSON.stringify({ json: body });
