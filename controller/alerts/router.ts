import type { AlertingConfig } from '../../shared/config/alerting.js';
import { matchAll, matchersFromConfig, type CompiledMatcher, type Labels } from '../../shared/alerts/matchers.js';

/** A route compiled once from config, with the group timings it inherits filled in. */
export interface CompiledRoute {
  index: number;
  matchers: CompiledMatcher[];
  receivers: string[];
  continue: boolean;
  groupBy: string[];
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
}

/** Routes in order: first match wins unless it says `continue`; a route without matchers catches all. */
export class Router {
  readonly routes: CompiledRoute[];

  constructor(cfg: AlertingConfig) {
    this.routes = cfg.routes.map((r, index) => ({
      index,
      matchers: matchersFromConfig(r.match, r.match_re),
      receivers: [...r.receivers],
      continue: r.continue,
      groupBy: [...(r.group_by ?? cfg.group_by)],
      groupWaitMs: r.group_wait ?? cfg.group_wait,
      groupIntervalMs: r.group_interval ?? cfg.group_interval,
      repeatIntervalMs: r.repeat_interval ?? cfg.repeat_interval,
    }));
  }

  match(labels: Labels): CompiledRoute[] {
    const out: CompiledRoute[] = [];
    for (const r of this.routes) {
      if (!matchAll(r.matchers, labels)) continue;
      out.push(r);
      if (!r.continue) break;
    }
    return out;
  }
}

/** The group's labels (the route's group_by values) and its stable key `route<i>:{...}`. */
export function groupOf(route: CompiledRoute, labels: Labels): { key: string; labels: Record<string, string> } {
  const g: Record<string, string> = {};
  for (const n of route.groupBy) if (labels[n] !== undefined) g[n] = labels[n];
  return { key: `route${route.index}:${JSON.stringify(g)}`, labels: g };
}
