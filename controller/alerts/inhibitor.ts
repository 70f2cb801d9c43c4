import type { InhibitConfig } from '../../shared/config/alerting.js';
import { matchAll, matchersFromConfig, type CompiledMatcher, type Labels } from '../../shared/alerts/matchers.js';
import type { AlertRecord } from './model.js';

interface Rule {
  source: CompiledMatcher[];
  target: CompiledMatcher[];
  equal: string[];
  /** Firing source alerts by the values of the `equal` labels. */
  sources: Map<string, Set<string>>;
}

const equalKey = (labels: Labels, names: readonly string[]) => JSON.stringify(names.map((n) => labels[n] ?? ''));

/**
 * Inhibition as in Alertmanager: a firing alert matching a rule's source mutes alerts matching
 * its target when the `equal` labels have the same values. An alert never inhibits itself.
 * Source alerts are indexed as they change, so a check is a map lookup.
 */
export class Inhibitor {
  private readonly rules: Rule[];

  constructor(cfg: readonly InhibitConfig[]) {
    this.rules = cfg.map((r) => ({ source: matchersFromConfig(r.source, r.source_re), target: matchersFromConfig(r.target, r.target_re), equal: [...r.equal], sources: new Map() }));
  }

  /** Keeps the index of firing source alerts current. */
  observe(a: AlertRecord): void {
    for (const r of this.rules) {
      if (!matchAll(r.source, a.labels)) continue;
      const k = equalKey(a.labels, r.equal);
      let set = r.sources.get(k);
      if (a.state === 'firing') {
        if (!set) r.sources.set(k, (set = new Set()));
        set.add(a.fingerprint);
      } else if (set) {
        set.delete(a.fingerprint);
        if (set.size === 0) r.sources.delete(k);
      }
    }
  }

  /** Fingerprints of the source alerts inhibiting this one (empty: not inhibited). */
  inhibitedBy(labels: Labels, fp: string): string[] {
    for (const r of this.rules) {
      if (!matchAll(r.target, labels)) continue;
      const set = r.sources.get(equalKey(labels, r.equal));
      if (!set) continue;
      const others = [...set].filter((s) => s !== fp);
      if (others.length > 0) return others;
    }
    return [];
  }
}
