import { parseDuration } from '../../shared/duration.js';
import { LEVELS } from '../../shared/logs/levels.js';
import type { LogIndexer } from '../logs/log-indexer.js';
import { HttpError, type HttpServer } from './http-server.js';

function sinceParam(q: URLSearchParams, dflt: string): number {
  const v = q.get('since') ?? dflt;
  const ms = parseDuration(v);
  if (ms === undefined) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `since must be a duration like "15m" or "1h", got "${v}"`);
  return Date.now() - ms;
}

/** GET /api/v1/logs/stats (level counts per host/source[/minute]) and /api/v1/logs/lines (shipped lines). */
export function registerLogRoutes(http: HttpServer, logs: LogIndexer): void {
  http.route('GET', '/api/v1/logs/stats', ({ query }) => {
    const sinceMs = sinceParam(query, '1h');
    const by = query.get('by');
    if (by !== null && by !== 'minute') throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `by must be "minute", got "${by}"`);
    const rows = logs.store.stats({ sinceMs, host: query.get('host') ?? undefined, source: query.get('source') ?? undefined, byMinute: by === 'minute' });
    return { since: new Date(sinceMs).toISOString(), rows };
  });

  http.route('GET', '/api/v1/logs/lines', ({ query }) => {
    const level = query.get('level')?.toUpperCase();
    if (level && !(LEVELS as readonly string[]).includes(level)) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `level must be one of ${LEVELS.join(', ')}`);
    const limitText = query.get('limit') ?? '100';
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `limit must be a positive integer, got "${limitText}"`);
    return logs.store.lines({
      host: query.get('host') ?? undefined,
      source: query.get('source') ?? undefined,
      level,
      sinceMs: query.has('since') ? sinceParam(query, '1h') : undefined,
      limit: Math.min(limit, 100_000),
    });
  });
}
