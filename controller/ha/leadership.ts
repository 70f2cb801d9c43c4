/**
 * Which controller leads. A single controller always leads (`SoleLeadership`); with `ha.enabled`
 * a lease in NATS KV decides (`controller/ha/lease.ts`). Leader-only work — notifications,
 * schedules and policies, dispatch to agents, accepting mutations — asks `isLeader()` right before
 * it acts, and starts/stops on `onChange`.
 */
export interface LeaderInfo {
  /** The leading controller's `ha.id`. */
  id: string;
  /** Its `ha.advertise_url` (mutations are forwarded there). */
  url: string;
  /** Since when it leads (ms since epoch). */
  since: number;
}

export interface Leadership {
  /** This controller's id (`ha.id`). */
  readonly id: string;
  isLeader(): boolean;
  /** The lease's revision while this controller leads (a fencing token); 0 when it does not. */
  epoch(): number;
  /** The current leader as last seen (this controller when it leads); undefined while nobody holds the lease. */
  leader(): LeaderInfo | undefined;
  /** Called with the new state whenever this controller gains or loses the lead. Returns an unsubscribe. */
  onChange(fn: (leading: boolean) => void): () => void;
}

/** One controller, no HA: it always leads. */
export class SoleLeadership implements Leadership {
  private readonly since = Date.now();
  constructor(
    readonly id: string,
    private readonly url = '',
  ) {}
  isLeader(): boolean {
    return true;
  }
  epoch(): number {
    return 1;
  }
  leader(): LeaderInfo {
    return { id: this.id, url: this.url, since: this.since };
  }
  onChange(): () => void {
    return () => {};
  }
}
