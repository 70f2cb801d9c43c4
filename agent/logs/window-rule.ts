import type { LogRuleConfig } from '../../shared/config/logs.js';
import type { LogRecord } from '../../shared/logs/record.js';
import { compileLogRegex } from '../../shared/logs/user-regex.js';
import type { SafeRegex } from '../../shared/regex.js';

export type RuleTransition = { kind: 'fire'; count: number; samples: string[] } | { kind: 'refire'; count: number; samples: string[] } | { kind: 'resolve'; count: number };

/**
 * A sliding-window count of matching lines. Fires once when `threshold` matches fall within
 * `window`; while firing it is re-asserted every window (so the controller keeps it open);
 * it resolves once a full window has passed below the threshold. `cooldown` spaces firings.
 */
export class WindowRule {
  private readonly hits: number[] = [];
  private samples: string[] = [];
  private firing = false;
  private firedAtMs = 0;
  private lastAssertMs = 0;
  private belowSinceMs: number | undefined;
  private lastFireMs = -Infinity;
  private readonly levels: Set<string> | undefined;
  private readonly match: Array<[string, SafeRegex]>;
  private readonly cooldown: number;
  private readonly cap: number;

  constructor(readonly cfg: LogRuleConfig) {
    this.levels = cfg.level === undefined ? undefined : new Set(Array.isArray(cfg.level) ? cfg.level : [cfg.level]);
    // Linear-time matching: a rule's pattern runs on every line, including hostile ones.
    this.match = Object.entries(cfg.match ?? {}).map(([k, v]) => [k, compileLogRegex(v)]);
    this.cooldown = cfg.cooldown ?? cfg.window;
    this.cap = Math.max(cfg.threshold, 1000);
  }

  matches(rec: LogRecord | undefined, raw: string): boolean {
    if (this.levels && (!rec?.level || !this.levels.has(rec.level))) return false;
    for (const [field, re] of this.match) {
      const v = field === 'message' ? (rec?.message ?? raw) : field === 'line' ? raw : rec?.fields[field];
      if (v === undefined || !re.test(v)) return false;
    }
    return true;
  }

  hit(nowMs: number, raw: string): void {
    this.hits.push(nowMs);
    if (this.hits.length > this.cap) this.hits.splice(0, this.hits.length - this.cap);
    if (this.samples.length < this.cfg.samples) this.samples.push(raw.slice(0, 500));
    else if (this.cfg.samples > 0) {
      // Keep the most recent lines: they are what the operator wants to see.
      this.samples.shift();
      this.samples.push(raw.slice(0, 500));
    }
  }

  count(nowMs: number): number {
    const from = nowMs - this.cfg.window;
    let i = 0;
    while (i < this.hits.length && this.hits[i]! <= from) i++;
    if (i > 0) this.hits.splice(0, i);
    return this.hits.length;
  }

  /** Evaluates the window at `nowMs`; returns a transition when the alert state changes. */
  evaluate(nowMs: number): RuleTransition | undefined {
    const n = this.count(nowMs);
    if (!this.firing) {
      if (n >= this.cfg.threshold && nowMs - this.lastFireMs >= this.cooldown) {
        this.firing = true;
        this.firedAtMs = nowMs;
        this.lastAssertMs = nowMs;
        this.lastFireMs = nowMs;
        this.belowSinceMs = undefined;
        return { kind: 'fire', count: n, samples: [...this.samples] };
      }
      if (n === 0) this.samples = [];
      return undefined;
    }
    if (n >= this.cfg.threshold) {
      this.belowSinceMs = undefined;
      if (nowMs - this.lastAssertMs >= this.cfg.window) {
        this.lastAssertMs = nowMs;
        return { kind: 'refire', count: n, samples: [...this.samples] };
      }
      return undefined;
    }
    this.belowSinceMs ??= nowMs;
    if (nowMs - this.belowSinceMs >= this.cfg.window) {
      this.firing = false;
      this.samples = [];
      return { kind: 'resolve', count: n };
    }
    return undefined;
  }

  get isFiring(): boolean {
    return this.firing;
  }

  get firedAt(): number {
    return this.firedAtMs;
  }
}
