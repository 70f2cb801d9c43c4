import { templateOf } from './templates.js';

/**
 * Groups messages into templates the way Drain does (He et al., ICWS 2017), in two steps:
 *
 * 1. `maskedKey`: the message with its obvious variables masked (`templateOf`: numbers, IPs,
 *    ids, paths) and its whitespace collapsed. This is the per-line work and needs no state,
 *    so worker threads can do it over chunks of a file.
 * 2. `TemplateMiner.clusterOf`: Drain's clustering, but over *distinct* masked keys, not over
 *    lines: keys of the same length and first token are compared position by position, and a
 *    key at least `SIMILARITY` alike an existing cluster joins it (the differing positions of
 *    the cluster's template become `<*>`: user names, host names, day names). A file of
 *    millions of lines has a few thousand keys, so this step costs next to nothing, and
 *    feeding keys in order of first appearance gives the same clusters whether the lines were
 *    masked in one thread or in chunks.
 *
 * Clusters get an id when they are created (`T` + 8 hex digits of a hash of the first key,
 * with a suffix on the rare collision), so the id a line is given in `--records` is the id of
 * the cluster it belongs to in the summary, even after the template was generalized.
 */

export const VAR = '<*>';
/**
 * One setting for every dataset. Drain's default is 0.5; on the Loghub sets 0.65–0.8 group best
 * (0.5 merges "Received disconnect …: Bye Bye [preauth]" with "…: disconnected by user"), see docs/logs.md.
 */
export const SIMILARITY = 0.7;
const MAX_KEY_CHARS = 2000;

/** Step 1: the masked, whitespace-collapsed message (the cache key of step 2). */
export function maskedKey(message: string): string {
  const m = templateOf(message.length > MAX_KEY_CHARS ? message.slice(0, MAX_KEY_CHARS) : message);
  // Collapse runs of blanks and trim: "user  x" and "user x" are the same template.
  let needs = false;
  for (let i = 0; i < m.length; i++) {
    const c = m.charCodeAt(i);
    if (c === 9 || (c === 32 && (i === 0 || i === m.length - 1 || m.charCodeAt(i + 1) === 32))) {
      needs = true;
      break;
    }
  }
  return needs ? m.split(/[ \t]+/).filter((t) => t !== '').join(' ') : m;
}

export interface TemplateCluster {
  readonly id: string;
  tokens: string[];
  /** Lines counted into this cluster (the caller counts). */
  count: number;
  sample: string;
  level?: string;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const isVarToken = (t: string) => t.includes(VAR);

// "user=root" vs "user=guest", "tty=NODEVssh" vs "tty=:<*>": a key=value pair whose value is a
// bare word (or empty) names a case, like an enum field, not a variable — lines that differ
// there are different events. Values with digits, dots or masks (hosts, ids) stay variables.
const ENUM_PAIR = /^([A-Za-z_][\w.-]*)=([A-Za-z_]*)$/;
const KEY_PREFIX = /^([A-Za-z_][\w.-]*)=/;
function distinctEnumerations(a: string, b: string): boolean {
  const ea = ENUM_PAIR.exec(a);
  const eb = ENUM_PAIR.exec(b);
  if (!ea && !eb) return false;
  const ka = ea ? ea[1] : KEY_PREFIX.exec(a)?.[1];
  const kb = eb ? eb[1] : KEY_PREFIX.exec(b)?.[1];
  return ka !== undefined && ka === kb;
}

/**
 * Step 2, with bounded memory: at most `maxClusters` clusters (keys that would need a new one
 * past the bound go to the shared `other` cluster, counted, not listed) and at most
 * `maxCacheKeys` remembered keys (the cache is cleared when full; keys are then matched again,
 * which gives the same cluster).
 */
export class TemplateMiner {
  private readonly groups = new Map<string, TemplateCluster[]>();
  private readonly byKey = new Map<string, TemplateCluster>();
  private readonly ids = new Set<string>();
  readonly clusters: TemplateCluster[] = [];
  /** Where keys go once `maxClusters` clusters exist. */
  readonly other: TemplateCluster = { id: 'T_OTHER', tokens: [VAR], count: 0, sample: '' };

  constructor(
    private readonly maxClusters = 20_000,
    private readonly maxCacheKeys = 200_000,
  ) {}

  /** The cluster for a masked key (from `maskedKey`); `sample` is kept when a cluster is created. */
  clusterOf(key: string, sample: string, level?: string): TemplateCluster {
    const hit = this.byKey.get(key);
    if (hit) return hit;
    const tokens = key === '' ? [] : key.split(' ');
    const group = `${tokens.length} ${tokens.length > 0 && !isVarToken(tokens[0]!) ? tokens[0] : VAR}`;
    let list = this.groups.get(group);
    let best: TemplateCluster | undefined;
    if (list) best = this.bestMatch(list, tokens);
    if (best) {
      for (let i = 0; i < tokens.length; i++) if (best.tokens[i] !== tokens[i]) best.tokens[i] = VAR;
    } else if (this.clusters.length >= this.maxClusters) {
      best = this.other;
    } else {
      best = { id: this.newId(key), tokens, count: 0, sample: sample.slice(0, 500), ...(level ? { level } : {}) };
      this.clusters.push(best);
      if (!list) this.groups.set(group, (list = []));
      list.push(best);
    }
    if (this.byKey.size >= this.maxCacheKeys) this.byKey.clear();
    this.byKey.set(key, best);
    return best;
  }

  /** The most similar cluster at or above the threshold (ties: the older one). */
  private bestMatch(list: TemplateCluster[], tokens: string[]): TemplateCluster | undefined {
    const n = tokens.length;
    if (n === 0) return list[0];
    let best: TemplateCluster | undefined;
    let bestSim = -1;
    for (const c of list) {
      let same = 0;
      for (let i = 0; i < n; i++) {
        const t = c.tokens[i]!;
        if (t === tokens[i] || t === VAR) same++;
        else if (distinctEnumerations(t, tokens[i]!)) {
          same = -1;
          break;
        }
      }
      if (same < 0) continue;
      const sim = same / n;
      if (sim > bestSim) {
        bestSim = sim;
        best = c;
      }
    }
    return bestSim >= SIMILARITY ? best : undefined;
  }

  private newId(key: string): string {
    const base = `T${fnv1a(key).toString(16).padStart(8, '0')}`;
    let id = base;
    for (let n = 2; this.ids.has(id); n++) id = `${base}_${n}`;
    this.ids.add(id);
    return id;
  }

  template(c: TemplateCluster): string {
    return c.tokens.join(' ');
  }
}
