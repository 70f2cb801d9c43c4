import { createHash } from 'node:crypto';
import { toHostView, type HostListKey, type HostsStore } from '../store/hosts-store.js';

/** What the hosts list shows of a host's identity (controller/pki). */
export interface IdentityBrief {
  state: 'pending' | 'enrolled' | 'removed';
  certNotAfter: string | null;
}

export interface HostsListDeps {
  hosts: Pick<HostsStore, 'listKeys' | 'row'>;
  /** Every host's identity in one read (the list asks once per answer). */
  identities?: () => ReadonlyMap<string, IdentityBrief>;
  /** One host's identity: used per host when `identities` is absent. */
  identity?: (hostId: string) => IdentityBrief | undefined;
}

/** A host's view as JSON text in pieces: what changes with every event is rebuilt apart from what changes only with an applied heartbeat. */
interface Fragment {
  /** The applied heartbeat the pieces were built from (HostsStore's HEARTBEAT_KEY_INVARIANT). */
  received: number;
  seq: number;
  instance: string;
  /** `{"id":…,"hostname":…,` */
  head: string;
  /** `"firstSeen":…` up to `"clockSkewFlagged":…` (no braces). */
  rest: string;
  /** `"status":…,"statusSince":…,"lastSeen":…,` for the values below. */
  live: string;
  status: string;
  since: number;
  seen: number;
}

/** One answer of the full view: its ETag at once, its text only when asked. */
export interface HostsListSnapshot {
  /** Weak: the same tag is sent for the plain and the gzip'd bytes of one answer. */
  etag: string;
  /** The id of the last host in the answer (the paged form's `next`), null when empty. */
  lastId: string | null;
  /** Whether hosts follow this page (paged form only). */
  more: boolean;
  /** The JSON array of host views, byte for byte what `JSON.stringify(views)` gave. */
  arrayText(): string;
}

const RECORD_SEP = '\u001e';

/**
 * The full hosts list (`GET /api/v1/hosts`, 3.4 MiB at 5,000 hosts) without rebuilding it per
 * call. Building every view (a row read with its inventory, JSON.parse, an object spread for the
 * identity, JSON.stringify) cost ~140 ms of the event loop per call at 5,000 hosts. Here each
 * host's view is kept as JSON text in pieces: the part an applied heartbeat changes (inventory,
 * tags, endpoint, skew) is rebuilt only when the row's heartbeat key moves, the part every event
 * changes (status, last seen) is three short strings. A call reads only the small key columns
 * of every row, re-reads the rows whose heartbeat moved, and joins text. The ETag is a hash of
 * those keys (and identities), so `If-None-Match` is answered before any text is joined.
 */
export class HostsList {
  private readonly frags = new Map<string, Fragment>();
  private readonly isoMemo = new Map<number, string>();
  private built = 0;
  private reused = 0;

  constructor(private readonly d: HostsListDeps) {}

  /** Hosts by id after `after`, at most `limit` (all when absent). */
  snapshot(q: { after?: string | undefined; limit?: number | undefined } = {}): HostsListSnapshot {
    const paged = q.limit !== undefined;
    let keys = this.d.hosts.listKeys({ ...(q.after !== undefined ? { after: q.after } : {}), ...(paged ? { limit: q.limit! + 1 } : {}) });
    const more = paged && keys.length > q.limit!;
    if (more) keys = keys.slice(0, q.limit);
    const ids = this.d.identities?.();
    const identityOf = (id: string): IdentityBrief | undefined => (ids ? ids.get(id) : this.d.identity?.(id));
    const withIdentity = ids !== undefined || this.d.identity !== undefined;
    const briefs = withIdentity ? keys.map((k) => identityOf(k[0])) : undefined;

    const h = createHash('sha1');
    h.update(`${paged ? `page:${q.after ?? ''}:${q.limit}` : 'all'}:${withIdentity ? 'i' : '-'}${RECORD_SEP}`);
    // One update per few hundred rows: hashing 5,000 short strings one by one costs more than the strings.
    let chunk = '';
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const b = briefs?.[i];
      chunk += `${k.join('\u001f')}\u001f${b ? `${b.state}\u001f${b.certNotAfter ?? ''}` : ''}${RECORD_SEP}`;
      if (chunk.length > 32_768) {
        h.update(chunk);
        chunk = '';
      }
    }
    h.update(chunk);
    const etag = `W/"h${h.digest('base64url')}"`;
    if (!paged) this.forgetOthers(keys);
    return {
      etag,
      lastId: keys.length ? keys.at(-1)![0] : null,
      more,
      arrayText: () => this.text(keys, briefs),
    };
  }

  /** Fragments built and reused since the start (for tests and the bench). */
  stats(): { built: number; reused: number; cached: number } {
    return { built: this.built, reused: this.reused, cached: this.frags.size };
  }

  private text(keys: HostListKey[], briefs: Array<IdentityBrief | undefined> | undefined): string {
    const parts: string[] = [];
    for (let i = 0; i < keys.length; i++) {
      const f = this.fragment(keys[i]!);
      if (!f) continue;
      parts.push(briefs ? `${f.head}${f.live}${f.rest}${identityText(briefs[i])}` : `${f.head}${f.live}${f.rest}}`);
    }
    return `[${parts.join(',')}]`;
  }

  private fragment(k: HostListKey): Fragment | undefined {
    const [id, status, since, seen, received, seq, instance] = k;
    let f = this.frags.get(id);
    if (!f || f.received !== received || f.seq !== seq || f.instance !== instance) {
      const row = this.d.hosts.row(id);
      if (!row) return undefined;
      const { id: _id, hostname, status: _s, statusSince: _ss, lastSeen: _ls, ...rest } = toHostView(row);
      // Keys in toHostView's order: id, hostname, status, statusSince, lastSeen, then the rest.
      f = {
        received: row.last_hb_received_ms,
        seq: row.last_hb_seq,
        instance: row.instance_id,
        head: `{"id":${JSON.stringify(id)},"hostname":${JSON.stringify(hostname)},`,
        rest: JSON.stringify(rest).slice(1, -1),
        live: '',
        status: '',
        since: NaN,
        seen: NaN,
      };
      this.frags.set(id, f);
      this.built++;
    } else this.reused++;
    if (f.status !== status || f.since !== since || f.seen !== seen) {
      f.live = `"status":${JSON.stringify(status)},"statusSince":"${this.iso(since)}","lastSeen":"${this.iso(seen)}",`;
      f.status = status;
      f.since = since;
      f.seen = seen;
    }
    return f;
  }

  /** toISOString of a millisecond time, memoised: a fleet's hosts share their status times and many last-seen times. */
  private iso(ms: number): string {
    let s = this.isoMemo.get(ms);
    if (s === undefined) {
      if (this.isoMemo.size > 50_000) this.isoMemo.clear();
      s = new Date(ms).toISOString();
      this.isoMemo.set(ms, s);
    }
    return s;
  }

  /** Drops the fragments of hosts no longer in the table (after a full read, which saw them all). */
  private forgetOthers(keys: HostListKey[]): void {
    if (this.frags.size <= keys.length) return;
    const live = new Set(keys.map((k) => k[0]));
    for (const id of this.frags.keys()) if (!live.has(id)) this.frags.delete(id);
  }
}

function identityText(b: IdentityBrief | undefined): string {
  return `,"identity":${JSON.stringify(b?.state ?? 'none')},"certNotAfter":${JSON.stringify(b?.certNotAfter ?? null)}}`;
}
