import type { AlertingConfig, AtConfig, RouteConfig } from '../../shared/config/alerting.js';
import { compileMatcher, matchAll, matchersFromConfig, parseMatcher, type CompiledMatcher, type Labels } from '../../shared/alerts/matchers.js';
import { mergeMentions } from '../notify/mentions.js';
import type { Mentions } from '../notify/types.js';
import { TimeIntervals } from './time-intervals.js';

/** A route compiled once from config, with what it inherits from its parents filled in. */
export interface CompiledRoute {
  /** Stable id in the tree: `route2` for the third top-level route, `route2.0` for its first child. Part of group keys. */
  id: string;
  /** Index among its siblings. */
  index: number;
  matchers: CompiledMatcher[];
  receivers: string[];
  continue: boolean;
  groupBy: string[];
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
  muteTimeIntervals: string[];
  activeTimeIntervals: string[];
  at: AtConfig | undefined;
  atBySeverity: Record<string, AtConfig>;
  children: CompiledRoute[];
}

interface Inherited {
  receivers: string[];
  groupBy: string[];
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
}

/**
 * The routing tree, as Alertmanager walks it: an alert enters a route when the route's matchers
 * match; it then tries the children in order, and the first matching child takes it unless that
 * child has `continue`; a route none of whose children match takes the alert itself. The
 * top-level list is the children of an implicit root that takes nothing, so today's flat
 * configs (first match wins unless `continue`) mean what they meant.
 */
export class Router {
  readonly routes: CompiledRoute[];
  readonly intervals: TimeIntervals;

  constructor(cfg: AlertingConfig) {
    this.intervals = new TimeIntervals(cfg.time_intervals ?? []);
    const root: Inherited = { receivers: [], groupBy: [...cfg.group_by], groupWaitMs: cfg.group_wait, groupIntervalMs: cfg.group_interval, repeatIntervalMs: cfg.repeat_interval };
    this.routes = (cfg.routes as RouteConfig[]).map((r, i) => compile(r, i, 'route', root));
  }

  /** The routes that take an alert with these labels (empty: unrouted). */
  match(labels: Labels): CompiledRoute[] {
    const out: CompiledRoute[] = [];
    for (const r of this.routes) {
      const m = matchNode(r, labels);
      out.push(...m);
      if (m.length > 0 && !r.continue) break;
    }
    return out;
  }

  /** Whether the route's notifications are held back at `ms` by its mute or active time intervals. */
  muted(route: CompiledRoute, ms: number): boolean {
    if (route.muteTimeIntervals.some((n) => this.intervals.active(n, ms))) return true;
    if (route.activeTimeIntervals.length > 0 && !route.activeTimeIntervals.some((n) => this.intervals.active(n, ms))) return true;
    return false;
  }

  /** Every route, depth first (for listings and `routes test`). */
  all(): CompiledRoute[] {
    const out: CompiledRoute[] = [];
    const walk = (rs: CompiledRoute[]) => {
      for (const r of rs) {
        out.push(r);
        walk(r.children);
      }
    };
    walk(this.routes);
    return out;
  }
}

function matchNode(r: CompiledRoute, labels: Labels): CompiledRoute[] {
  if (!matchAll(r.matchers, labels)) return [];
  const out: CompiledRoute[] = [];
  for (const c of r.children) {
    const m = matchNode(c, labels);
    out.push(...m);
    if (m.length > 0 && !c.continue) break;
  }
  return out.length > 0 ? out : [r];
}

function compile(r: RouteConfig, index: number, parentId: string, inh: Inherited): CompiledRoute {
  const id = parentId === 'route' ? `route${index}` : `${parentId}.${index}`;
  const own: Inherited = {
    receivers: r.receivers ? [...r.receivers] : inh.receivers,
    groupBy: r.group_by ? [...r.group_by] : inh.groupBy,
    groupWaitMs: r.group_wait ?? inh.groupWaitMs,
    groupIntervalMs: r.group_interval ?? inh.groupIntervalMs,
    repeatIntervalMs: r.repeat_interval ?? inh.repeatIntervalMs,
  };
  return {
    id,
    index,
    matchers: [...matchersFromConfig(r.match, r.match_re), ...r.matchers.map((m) => compileMatcher(parseMatcher(m)))],
    receivers: own.receivers,
    continue: r.continue,
    groupBy: own.groupBy,
    groupWaitMs: own.groupWaitMs,
    groupIntervalMs: own.groupIntervalMs,
    repeatIntervalMs: own.repeatIntervalMs,
    muteTimeIntervals: [...r.mute_time_intervals],
    activeTimeIntervals: [...r.active_time_intervals],
    at: r.at,
    atBySeverity: r.at_by_severity,
    children: (r.routes ?? []).map((c, i) => compile(c, i, id, own)),
  };
}

/** The @mentions a route asks for, given the severities of the alerts it is about to send (firing ones only). */
export function mentionsFor(route: CompiledRoute, severities: Iterable<string>): Mentions | undefined {
  const parts: AtConfig[] = [];
  if (route.at) parts.push(route.at);
  for (const s of new Set(severities)) {
    const at = route.atBySeverity[s];
    if (at) parts.push(at);
  }
  if (parts.length === 0) return undefined;
  return mergeMentions(parts);
}

/** The group's labels (the route's group_by values) and its stable key `route<id>:{...}`. */
export function groupOf(route: CompiledRoute, labels: Labels): { key: string; labels: Record<string, string> } {
  const g: Record<string, string> = {};
  for (const n of route.groupBy) if (labels[n] !== undefined) g[n] = labels[n];
  return { key: `${route.id}:${JSON.stringify(g)}`, labels: g };
}
