import { hostname } from 'node:os';
import { jetstream, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { errorLine } from '../../shared/errors.js';
import { sleep } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import type { LeaderInfo, Leadership } from './leadership.js';

export const LEADER_BUCKET = 'opsfleet_leader';
export const CLAIMS_BUCKET = 'opsfleet_claims';
export const LEADER_KEY = 'leader';
const LEADER_BUCKET_BYTES = 1 << 20;
/** ~400,000 claims: an every-second task for a day takes 86,400 (each kept claimTtlMs). */
const CLAIMS_BUCKET_BYTES = 64 << 20;

/** `ha.id` when the config leaves it out: the machine's hostname, cut to the characters ids allow. */
export function defaultHaId(host = hostname()): string {
  const id = host.replace(/[^A-Za-z0-9_-]/g, '-').replace(/^-+|-+$/g, '');
  return id || 'controller';
}

export interface LeaderLeaseOptions {
  id: string;
  /** This controller's `ha.advertise_url`. */
  url: string;
  /** The bucket's max_age: a key not renewed for this long disappears. */
  ttlMs: number;
  renewMs: number;
  /** Replicas of both KV buckets (stream.replicas). */
  replicas: number;
  /** How long a schedule slot's claim is kept (longer than the longest catch-up window). */
  claimTtlMs: number;
  logger: Logger;
  now?: () => number;
}

/** A KV "wrong last sequence": the key was not what a create/update expected (someone else wrote it). */
function isWrongSeq(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/**
 * The leader lease (docs/scaling.md, "Standby controller"): key `leader` in KV bucket
 * `opsfleet_leader`, whose max_age is the lease TTL (nats-server 2.9 has no per-key TTL; a
 * bucket max_age removes a key that was not rewritten for that long). A controller leads from
 * a successful `create` (the key was absent) and keeps the lead by compare-and-set `update`s
 * every renew interval. It stops acting as leader (isLeader() false, onChange(false)) the
 * moment a renewal fails, and in any case once `last successful renewal + ttl − renew` has
 * passed, which is before the key can expire on the server, because the server's clock for
 * the key starts after the request was sent. The standby looks at the key every
 * min(renew, 1 s) and creates it once it is gone.
 */
export class LeaderLease implements Leadership {
  readonly id: string;
  private leading = false;
  private rev = 0;
  /** When the last successful create/update was SENT (the lease runs from no earlier than that). */
  private lastOkMs = 0;
  private sinceMs = 0;
  private seen: LeaderInfo | undefined;
  private kv: KV | undefined;
  private claimsKv: KV | undefined;
  private readonly listeners = new Set<(leading: boolean) => void>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  /** Counters for /healthz. */
  readonly stats = { acquired: 0, lost: 0, renewals: 0, renewFailures: 0 };
  private lastError = '';
  /** The lease TTL in force: ha.lease_ttl, or the bucket's max_age when that is shorter. */
  private ttlMs: number;

  constructor(private readonly o: LeaderLeaseOptions) {
    this.id = o.id;
    this.ttlMs = o.ttlMs;
    this.log = o.logger.child({ component: 'ha.lease', id: o.id });
    this.now = o.now ?? Date.now;
  }

  isLeader(): boolean {
    // Checked against the clock too, so an action asked about right before a stalled renewal's
    // deadline is refused even if the watchdog timer has not run yet.
    return this.leading && this.now() < this.deadline();
  }

  epoch(): number {
    return this.isLeader() ? this.rev : 0;
  }

  leader(): LeaderInfo | undefined {
    if (this.isLeader()) return this.info();
    return this.seen?.id === this.id ? undefined : this.seen;
  }

  onChange(fn: (leading: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** For /healthz. */
  status(): { role: 'leader' | 'standby'; id: string; leader: LeaderInfo | null; epoch: number; lastError?: string } & LeaderLease['stats'] {
    return { role: this.isLeader() ? 'leader' : 'standby', id: this.id, leader: this.leader() ?? null, epoch: this.epoch(), ...this.stats, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  private deadline(): number {
    return this.lastOkMs + this.ttlMs - this.o.renewMs;
  }

  private info(): LeaderInfo {
    return { id: this.id, url: this.o.url, since: this.sinceMs };
  }

  /** Opens (creating when absent) both buckets, then campaigns/renews until stop(). */
  start(nc: NatsConnection): void {
    this.loop ??= this.run(nc).catch((err: unknown) => this.log.error({ err }, 'leader lease loop failed'));
  }

  private async run(nc: NatsConnection): Promise<void> {
    const js = jetstream(nc, { timeout: Math.max(500, Math.min(this.o.renewMs, 5000)) });
    const kvm = new Kvm(js);
    while (!this.abort.signal.aborted && (!this.kv || !this.claimsKv)) {
      try {
        // Bounded sizes: an unbounded bucket reserves what is left of the server's JetStream
        // storage (the event stream's max_bytes already reserves most of it) and is refused.
        this.kv ??= await kvm.create(LEADER_BUCKET, { history: 1, ttl: this.o.ttlMs, replicas: this.o.replicas, max_bytes: LEADER_BUCKET_BYTES });
        this.claimsKv ??= await kvm.create(CLAIMS_BUCKET, { history: 1, ttl: this.o.claimTtlMs, replicas: this.o.replicas, max_bytes: CLAIMS_BUCKET_BYTES });
        // An existing bucket is opened as it is: its max_age, not our config, decides when the
        // key expires, so the step-down deadline follows the shorter of the two.
        const bucket = await this.kv.status();
        const ttl = bucket.ttl;
        if (!(ttl > 0)) {
          this.kv = undefined;
          throw new Error(`bucket ${LEADER_BUCKET} exists without a TTL (max_age): a dead leader would keep the lease; delete the bucket so the controller recreates it`);
        }
        if (ttl !== this.o.ttlMs) this.log.warn({ bucketTtlMs: ttl, leaseTtlMs: this.o.ttlMs }, `bucket ${LEADER_BUCKET} was created with another TTL; the shorter one is used`);
        this.ttlMs = Math.min(ttl, this.o.ttlMs);
      } catch (err) {
        const room = /insufficient storage/i.test(errorLine(err)) ? ` (the buckets need ${(LEADER_BUCKET_BYTES + CLAIMS_BUCKET_BYTES) >> 20} MiB of JetStream file store beside stream.max_bytes: lower stream.max_bytes or raise the server's max_file_store)` : '';
        this.lastError = `opening KV buckets ${LEADER_BUCKET}/${CLAIMS_BUCKET}: ${errorLine(err)}${room}`;
        this.log.error({ err, detail: this.lastError }, 'opening the leader lease buckets failed; retrying');
        await sleep(Math.max(1000, this.o.renewMs), this.abort.signal);
      }
    }
    this.watchdog = setInterval(() => this.checkDeadline(), Math.max(50, Math.min(500, this.o.renewMs / 4)));
    this.watchdog.unref();
    const poll = Math.min(this.o.renewMs, 1000);
    while (!this.abort.signal.aborted) {
      if (this.leading) await this.renew();
      else await this.campaign();
      await sleep(this.leading ? this.o.renewMs : poll, this.abort.signal);
    }
  }

  private checkDeadline(): void {
    if (this.leading && this.now() >= this.deadline()) this.stepDown(`lease not renewed since ${new Date(this.lastOkMs).toISOString()} (deadline passed)`);
  }

  /** One look at the key: learn who leads, or take the lead when nobody (or this controller's old self) holds it. */
  private async campaign(): Promise<void> {
    const kv = this.kv!;
    const sent = this.now();
    try {
      const e = await kv.get(LEADER_KEY);
      if (e && e.operation === 'PUT') {
        const cur = parseInfo(e.string());
        if (cur && cur.id !== this.id) {
          if (this.seen?.id !== cur.id) this.log.info({ leader: cur }, 'standby: another controller leads');
          this.seen = cur;
          this.lastError = '';
          return;
        }
        // Still our own key (a restart within the TTL, or a renewal that failed on a timeout):
        // nobody else took it, so compare-and-set it back.
        this.sinceMs = this.now();
        const rev = await kv.update(LEADER_KEY, JSON.stringify(this.info()), e.revision);
        this.lead(rev, sent);
        return;
      }
      // Nobody holds it: forget the last leader (a standby then answers changes with 503, not a dead URL).
      this.seen = undefined;
      this.sinceMs = this.now();
      const rev = await kv.create(LEADER_KEY, JSON.stringify(this.info()));
      this.lead(rev, sent);
    } catch (err) {
      if (isWrongSeq(err)) {
        this.log.debug('another controller took the lease first');
        return;
      }
      if (this.abort.signal.aborted) return;
      this.lastError = `leader lease: ${errorLine(err)}`;
      this.log.warn({ err }, 'looking at the leader lease failed; retrying');
    }
  }

  private lead(rev: number, sentMs: number): void {
    if (this.abort.signal.aborted) return;
    this.rev = rev;
    this.lastOkMs = sentMs;
    this.leading = true;
    this.seen = this.info();
    this.lastError = '';
    this.stats.acquired++;
    this.log.info({ epoch: rev, ttlMs: this.ttlMs }, 'leader lease acquired: this controller leads');
    this.emit(true);
  }

  private async renew(): Promise<void> {
    const sent = this.now();
    try {
      const rev = await this.kv!.update(LEADER_KEY, JSON.stringify(this.info()), this.rev, Math.max(200, this.o.renewMs));
      if (!this.leading) return; // the watchdog stepped down meanwhile: campaign again next round
      this.rev = rev;
      this.lastOkMs = sent;
      this.stats.renewals++;
    } catch (err) {
      this.stats.renewFailures++;
      this.lastError = `renewing the leader lease: ${errorLine(err)}`;
      this.stepDown(isWrongSeq(err) ? 'the lease was taken by another controller' : `renewal failed: ${errorLine(err)}`);
    }
  }

  private stepDown(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.rev = 0;
    this.stats.lost++;
    this.log.warn({ why }, 'leader lease lost: this controller stops acting as leader');
    this.emit(false);
  }

  private emit(leading: boolean): void {
    for (const fn of this.listeners) {
      try {
        fn(leading);
      } catch (err) {
        this.log.error({ err }, 'leadership listener failed');
      }
    }
  }

  /**
   * Claims one schedule slot (`task.<name>.<slot ms>` in `opsfleet_claims`): true when this
   * controller made the claim, false when one exists (another controller ran that slot). Only
   * a current leader claims. Throws when KV cannot answer (the caller does not run the slot).
   */
  async claim(kind: string, name: string, slotMs: number): Promise<boolean> {
    if (!this.isLeader() || !this.claimsKv) return false;
    try {
      await this.claimsKv.create(`${kind}.${name}.${slotMs}`, JSON.stringify({ id: this.id, epoch: this.rev, at: this.now() }));
      return this.isLeader();
    } catch (err) {
      if (isWrongSeq(err)) return false;
      throw err;
    }
  }

  /** Stops campaigning; a leader releases the key (compare-and-delete) so the standby takes over at once. */
  async stop(): Promise<void> {
    this.abort.abort();
    if (this.watchdog) clearInterval(this.watchdog);
    await this.loop;
    if (this.leading && this.kv) {
      const rev = this.rev;
      this.leading = false;
      this.rev = 0;
      this.emit(false);
      try {
        await this.kv.delete(LEADER_KEY, { previousSeq: rev });
        this.log.info('leader lease released');
      } catch (err) {
        this.log.warn({ err }, 'releasing the leader lease failed; it expires by itself');
      }
    }
  }
}

function parseInfo(text: string): LeaderInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LeaderInfo>;
    if (typeof v.id === 'string' && typeof v.url === 'string') return { id: v.id, url: v.url, since: Number(v.since) || 0 };
  } catch {
    /* a foreign value: treated as a leader we cannot name */
  }
  return { id: '?', url: '', since: 0 };
}
