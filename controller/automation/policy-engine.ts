import type { PolicyConfig } from '../../shared/config/tasks.js';
import type { Logger } from '../../shared/logger.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { RemediationStore } from './remediation-store.js';
import type { PolicyTrackStore, TrackPhase } from './policy-tracks.js';

/** What the engine needs from alerting. */
export interface AlertSource {
  /** Alerts firing now. */
  firing(): Array<{ fingerprint: string; labels: Record<string, string>; startsAtMs: number }>;
  /** True when the alert resolved (or is gone). */
  isResolved(fingerprint: string): boolean;
  /** Adds a line to the alert's `remediation` annotation, so its notifications say what was tried. */
  annotate(fingerprint: string, line: string): void;
}

export type Notifier = (receivers: readonly string[], n: { title: string; text: string; labels: Record<string, string> }) => void;

/** Runs a remediation playbook; resolves with the run's id and status. */
export type RemediationRunner = (policy: PolicyConfig, target: string, signal: AbortSignal) => Promise<{ runId: string; status: string; reason: string }>;

interface Track {
  phase: TrackPhase;
  attempts: number;
  host: string;
  verifyUntil: number;
  cooldownUntil: number;
  rowId: number;
  escalated: boolean;
  rateLimitedLogged: number;
}

const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 19);

/**
 * Self-healing loop: a firing alert that matches a policy for long enough gets the policy's
 * playbook on its host; then the engine waits for the alert to resolve. Success is recorded;
 * otherwise it tries again up to max_attempts, then escalates exactly once. Guard rails: a
 * fleet-wide and a per-policy rate per minute, per-policy dry-run, and pause switches.
 */
export class PolicyEngine {
  private policies: ReadonlyArray<PolicyConfig> = [];
  private readonly tracks = new Map<string, Track>();
  private readonly recent: Array<{ at: number; policy: string }> = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private readonly now: () => number;
  /** False until the first pass as leader: that pass first takes the tracks from SQLite. */
  private leading = false;

  constructor(
    private readonly d: {
      alerts: AlertSource;
      run: RemediationRunner;
      notify: Notifier;
      store: RemediationStore;
      /** The flap guard's state: persisted on every decision, replicated, reloaded when this controller starts leading. */
      tracks: PolicyTrackStore;
      /** `ha.id` (what a track row names as the controller that decided). */
      origin?: string;
      audit: AuditLog;
      globalPerMinute: number;
      logger: Logger;
      now?: () => number;
      /** HA: whether this controller may remediate now (the leader). Absent: always. */
      mayAct?: () => boolean;
    },
  ) {
    this.log = d.logger.child({ component: 'policies' });
    this.now = d.now ?? Date.now;
  }

  private timer: NodeJS.Timeout | undefined;

  /** Evaluates every `tickMs`; errors are logged, never thrown into the timer. */
  start(tickMs: number): void {
    this.timer = setInterval(() => {
      try {
        this.tick();
      } catch (err) {
        this.log.error({ err }, 'policy evaluation failed');
      }
    }, tickMs);
    this.timer.unref();
  }

  setPolicies(policies: ReadonlyArray<PolicyConfig>): void {
    this.policies = policies;
  }

  list(): ReadonlyArray<PolicyConfig> {
    return this.policies;
  }

  private static matches(p: PolicyConfig, labels: Record<string, string>): boolean {
    return Object.entries(p.when).every(([k, v]) => {
      const have = labels[k];
      if (have === undefined) return false;
      return v.startsWith('~') ? new RegExp(`^(?:${v.slice(1)})$`).test(have) : have === v;
    });
  }

  private rateAllows(policy: PolicyConfig, now: number): boolean {
    while (this.recent.length > 0 && this.recent[0]!.at <= now - 60_000) this.recent.shift();
    if (this.recent.length >= this.d.globalPerMinute) return false;
    return this.recent.filter((r) => r.policy === policy.name).length < policy.max_per_minute;
  }

  /**
   * Takes the flap guard's state from SQLite when this controller starts acting (at start, or on
   * promotion): the decisions it made before a restart and those the former leader replicated.
   * A remediation the former leader had dispatched or was verifying counts as an attempt: its
   * run died with it or finished there, so this one waits a verify window for the alert to
   * resolve before it tries again (a row says so).
   */
  private adopt(now: number): void {
    const byName = new Map(this.policies.map((p) => [p.name, p]));
    // What this controller remembered from an earlier term may have moved on meanwhile: SQLite
    // (with the other leader's decisions applied) is the truth, except a run still in flight here.
    for (const [key, t] of this.tracks) if (t.phase !== 'dispatching') this.tracks.delete(key);
    for (const r of this.d.tracks.all()) {
      const key = `${r.policy}|${r.fingerprint}`;
      const mine = this.tracks.get(key);
      // Its run is still in flight here (leadership lost and regained meanwhile): keep the live one.
      if (mine?.phase === 'dispatching') continue;
      const t: Track = { phase: r.phase, attempts: r.attempts, host: r.host, verifyUntil: r.verify_until_ms, cooldownUntil: r.cooldown_until_ms, rowId: 0, escalated: r.escalated, rateLimitedLogged: 0 };
      if (r.phase === 'dispatching' || r.phase === 'verifying') {
        const p = byName.get(r.policy);
        t.phase = 'verifying';
        if (r.phase === 'dispatching') t.verifyUntil = now + (p?.verify.alert_resolves_within ?? 0);
        t.rowId = this.d.store.add({ policy: r.policy, fingerprint: r.fingerprint, host: r.host, attempt: r.attempts, run_id: '', status: 'verifying', detail: `attempt ${r.attempts} was made by ${r.origin === this.d.origin ? 'this controller before it stopped' : r.origin}; waiting for the alert to resolve`, started_ms: now, ended_ms: null });
        this.save(key, t, now);
      }
      this.tracks.set(key, t);
    }
    if (this.tracks.size > 0) this.log.info({ tracks: this.tracks.size }, 'self-heal state taken over');
  }

  /** Writes a decision (and so publishes it). */
  private save(key: string, t: Track, now: number): void {
    const [policy, fingerprint] = key.split('|') as [string, string];
    this.d.tracks.put({ policy, fingerprint, host: t.host, phase: t.phase, attempts: t.attempts, verify_until_ms: t.verifyUntil, cooldown_until_ms: t.cooldownUntil, escalated: t.escalated, origin: this.d.origin ?? '', updated_ms: now });
  }

  /** One evaluation pass (driven by the scheduler's tick). */
  tick(): void {
    if (this.d.mayAct && !this.d.mayAct()) {
      this.leading = false;
      return;
    }
    const now = this.now();
    if (!this.leading) {
      this.leading = true;
      this.adopt(now);
    }
    const globalPause = this.d.store.paused('*');
    const firing = this.d.alerts.firing();
    const firingKeys = new Set<string>();
    for (const p of this.policies) {
      if (!p.enabled) continue;
      for (const a of firing) {
        if (!PolicyEngine.matches(p, a.labels)) continue;
        const key = `${p.name}|${a.fingerprint}`;
        firingKeys.add(key);
        let t = this.tracks.get(key);
        if (!t) {
          t = { phase: 'idle', attempts: 0, host: a.labels.host ?? '', verifyUntil: 0, cooldownUntil: 0, rowId: 0, escalated: false, rateLimitedLogged: 0 };
          this.tracks.set(key, t);
        }
        if (t.phase === 'verifying' && now > t.verifyUntil) {
          this.attemptFailed(p, a.fingerprint, t, 'alert still firing after verify window', now);
          this.save(key, t, now);
        }
        if (t.phase === 'done' && now >= t.cooldownUntil) {
          Object.assign(t, { phase: 'idle', attempts: 0, escalated: false });
          this.save(key, t, now);
        }
        if (t.phase !== 'idle' || t.escalated || now < t.cooldownUntil) continue;
        if (now - a.startsAtMs < p.for) continue;
        if (globalPause || this.d.store.paused(p.name)) continue;
        if (!this.rateAllows(p, now)) {
          if (now - t.rateLimitedLogged > 60_000) {
            t.rateLimitedLogged = now;
            this.d.store.add({ policy: p.name, fingerprint: a.fingerprint, host: t.host, attempt: t.attempts + 1, run_id: '', status: 'rate_limited', detail: 'remediation rate limit reached; waiting', started_ms: now, ended_ms: now });
            this.log.warn({ policy: p.name, host: t.host }, 'remediation rate-limited');
          }
          continue;
        }
        this.dispatch(p, a.fingerprint, a.labels, t, now);
        this.save(key, t, now);
      }
    }
    // Alerts that resolved: close verification as success; forget idle tracks after cooldown.
    for (const [key, t] of this.tracks) {
      if (firingKeys.has(key)) continue;
      const [policyName, fp] = key.split('|') as [string, string];
      if (t.phase === 'verifying' && this.d.alerts.isResolved(fp)) {
        this.succeeded(policyName, fp, t, now);
        this.save(key, t, now);
      } else if (t.phase !== 'dispatching' && now >= t.cooldownUntil) {
        this.tracks.delete(key);
        this.d.tracks.delete(policyName, fp, now);
      }
    }
  }

  private dispatch(p: PolicyConfig, fp: string, labels: Record<string, string>, t: Track, now: number): void {
    const target = p.run.on === 'alert_host' ? labels.host : p.run.on;
    t.attempts++;
    if (!target) {
      t.escalated = true;
      this.d.store.add({ policy: p.name, fingerprint: fp, host: '', attempt: t.attempts, run_id: '', status: 'failed', detail: 'alert has no host label and run.on is alert_host', started_ms: now, ended_ms: now });
      return;
    }
    this.recent.push({ at: now, policy: p.name });
    if (p.dry_run) {
      t.phase = 'done';
      t.cooldownUntil = now + p.cooldown;
      this.d.store.add({ policy: p.name, fingerprint: fp, host: t.host, attempt: t.attempts, run_id: '', status: 'dry_run', detail: `would run playbook ${p.run.playbook} on ${target}`, started_ms: now, ended_ms: now });
      this.d.audit.append(`policy:${p.name}`, 'policy.dry_run', fp, { playbook: p.run.playbook, target });
      return;
    }
    t.phase = 'dispatching';
    t.rowId = this.d.store.add({ policy: p.name, fingerprint: fp, host: t.host, attempt: t.attempts, run_id: '', status: 'dispatched', detail: `playbook ${p.run.playbook} on ${target}`, started_ms: now, ended_ms: null });
    this.d.audit.append(`policy:${p.name}`, 'policy.dispatch', fp, { attempt: t.attempts, playbook: p.run.playbook, target });
    this.log.info({ policy: p.name, fingerprint: fp, target, attempt: t.attempts }, 'remediation dispatched');
    const job = this.d
      .run(p, target, this.abort.signal)
      .catch((err: unknown) => ({ runId: '', status: 'error', reason: (err as Error).message }))
      .then((r) => {
        const at = this.now();
        if (r.status !== 'ok') {
          this.d.store.update(t.rowId, r.runId, 'run_failed', r.reason || r.status, at);
          this.d.alerts.annotate(fp, `${hhmm(at)} ${p.run.playbook} on ${target} failed (attempt ${t.attempts}): ${r.reason || r.status}`);
          this.attemptFailed(p, fp, t, `remediation run ${r.status}`, at);
          this.save(`${p.name}|${fp}`, t, at);
          return;
        }
        this.d.store.update(t.rowId, r.runId, 'verifying', `ran ${p.run.playbook} on ${target}; waiting for the alert to resolve`, null);
        this.d.alerts.annotate(fp, `${hhmm(at)} ran ${p.run.playbook} on ${target} (attempt ${t.attempts})`);
        t.phase = 'verifying';
        t.verifyUntil = at + p.verify.alert_resolves_within;
        this.save(`${p.name}|${fp}`, t, at);
      });
    const tracked = job.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private attemptFailed(p: PolicyConfig, fp: string, t: Track, why: string, now: number): void {
    if (t.phase === 'verifying') this.d.store.update(t.rowId, '', 'not_resolved', why, now);
    this.d.audit.append(`policy:${p.name}`, 'policy.attempt_failed', fp, { attempt: t.attempts, why });
    if (t.attempts < p.max_attempts) {
      t.phase = 'idle'; // next tick dispatches again (rate limits still apply)
      return;
    }
    t.phase = 'done';
    t.escalated = true;
    t.cooldownUntil = now + p.cooldown;
    this.d.store.add({ policy: p.name, fingerprint: fp, host: t.host, attempt: t.attempts, run_id: '', status: 'escalated', detail: `${t.attempts} attempt(s) did not fix it: ${why}`, started_ms: now, ended_ms: now });
    this.d.audit.append(`policy:${p.name}`, 'policy.escalate', fp, { attempts: t.attempts, receivers: p.escalate.notify });
    this.log.warn({ policy: p.name, fingerprint: fp, attempts: t.attempts }, 'remediation exhausted; escalating');
    if (p.escalate.notify.length > 0) {
      this.d.notify(p.escalate.notify, {
        title: `Self-healing gave up: ${p.name} on ${t.host || fp}`,
        text: `Policy ${p.name} ran ${p.run.playbook} ${t.attempts} time(s) on ${t.host || '(no host)'} and the alert did not resolve (${why}). A person needs to look.`,
        labels: { alertname: 'RemediationFailed', policy: p.name, host: t.host, severity: 'critical' },
      });
    }
  }

  private succeeded(policyName: string, fp: string, t: Track, now: number): void {
    const p = this.policies.find((x) => x.name === policyName);
    t.phase = 'done';
    t.cooldownUntil = now + (p?.cooldown ?? 0);
    this.d.store.update(t.rowId, '', 'succeeded', `alert resolved at ${new Date(now).toISOString()}`, now);
    this.d.alerts.annotate(fp, `${hhmm(now)} recovered`);
    this.d.audit.append(`policy:${policyName}`, 'policy.succeeded', fp, { attempts: t.attempts });
    this.log.info({ policy: policyName, fingerprint: fp, attempts: t.attempts }, 'remediation succeeded');
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.abort.abort();
    await Promise.allSettled([...this.inFlight]);
  }
}
