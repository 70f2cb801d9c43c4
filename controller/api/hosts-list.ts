import { createHash } from 'node:crypto';
import { toHostView, type HostListKey, type HostRow, type HostsStore } from '../store/hosts-store.js';

/** What the hosts list shows of a host's identity (controller/pki). */
export interface IdentityBrief {
  state: 'pending' | 'enrolled' | 'removed';
  certNotAfter: string | null;
}

export interface HostsListDeps {
  hosts: Pick<HostsStore, 'listKeys' | 'rows'>;
  /** Every host's identity in one read (the list asks once per answer). */
  identities?: () => ReadonlyMap<string, IdentityBrief>;
  /** One host's identity: used per host when `identities` is absent. */
  identity?: (hostId: string) => IdentityBrief | undefined;
}

/** A host's view as JSON in pieces: what changes with every event is rebuilt apart from what changes only with an applied heartbeat. */
interface Fragment {
  /** The HostsStore.listKeys key the bytes were built for. */
  key: string;
  /** Its applied-heartbeat part (`received,seq,instance`: HostsStore's HEARTBEAT_KEY_INVARIANT). */
  hb: string;
  /** Its `status,since,seen` part. */
  liveKey: string;
  /** `{"id":…,"hostname":…,` */
  head: string;
  /** `"status":…,"statusSince":…,"lastSeen":…,` */
  live: string;
  /** `"firstSeen":…` up to `"clockSkewFlagged":…` (no braces). */
  rest: string;
  /** `,"identity":…,"certNotAfter":…}` or `}`. */
  ident: string;
  /** The whole view, UTF-8. */
  bytes: Buffer;
}

/** One answer of the full view: its ETag at once, its bytes only when asked. */
export interface HostsListSnapshot {
  /** Weak: the same tag is sent for the plain and the gzip'd bytes of one answer. */
  etag: string;
  /** The id of the last host in the answer (the paged form's `next`), null when empty. */
  lastId: string | null;
  /** Whether hosts follow this page (paged form only). */
  more: boolean;
  /** The JSON array of host views, byte for byte what `JSON.stringify(views)` gave. */
  body(): Buffer;
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');
const NO_IDENTITY = '}';

/**
 * The full hosts list (`GET /api/v1/hosts`, 3.4 MiB at 5,000 hosts) without rebuilding it per
 * call. Building every view (a row read with its inventory, JSON.parse, an object spread for the
 * identity, JSON.stringify, then UTF-8 encoding the whole text) cost ~150 ms of the event loop
 * per call at 5,000 hosts. Here each host's view is kept as UTF-8 bytes built from pieces: the
 * part an applied heartbeat changes (inventory, tags, endpoint, skew) is rebuilt only when the
 * row's heartbeat key moves, the part every event changes (status, last seen) is one short
 * string. A call reads one small key per row, re-reads the rows whose heartbeat moved, and
 * concatenates bytes. The ETag is a hash of those keys and identities, so `If-None-Match` is
 * answered before any bytes are joined, and an unchanged list is answered with the last bytes.
 */
export class HostsList {
  private readonly frags = new Map<string, Fragment>();
  private readonly isoMemo = new Map<number, string>();
  private readonly identMemo = new Map<string, string>();
  private last: { etag: string; body: Buffer } | undefined;
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
    const withIdentity = ids !== undefined || this.d.identity !== undefined;
    const idents: string[] = new Array<string>(keys.length);
    for (let i = 0; i < keys.length; i++) idents[i] = withIdentity ? this.identityText(ids ? ids.get(keys[i]![0]) : this.d.identity!(keys[i]![0])) : NO_IDENTITY;

    const h = createHash('sha1');
    h.update(`${paged ? `page:${q.after ?? ''}:${q.limit}` : 'all'}:${withIdentity ? 'i' : '-'}\u001e`);
    // One update per few hundred rows: hashing 5,000 short strings one by one costs more than the strings.
    let chunk = '';
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      chunk += `${k[0]}\u001f${k[1]}\u001f${idents[i]}\u001e`;
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
      body: () => {
        if (this.last?.etag === etag) return this.last.body;
        const body = this.join(keys, idents);
        this.last = { etag, body };
        return body;
      },
    };
  }

  /** Fragments built and reused since the start (for tests and the bench). */
  stats(): { built: number; reused: number; cached: number } {
    return { built: this.built, reused: this.reused, cached: this.frags.size };
  }

  private join(keys: HostListKey[], idents: string[]): Buffer {
    // Rows whose applied heartbeat moved (or never seen) are read again, all in one statement.
    const stale: string[] = [];
    for (const [id, key] of keys) {
      const f = this.frags.get(id);
      if (!f || (f.key !== key && f.hb !== hbPart(key))) stale.push(id);
    }
    for (const row of this.d.hosts.rows(stale)) this.rebuild(row);
    const parts: Buffer[] = [OPEN];
    let n = 0;
    for (let i = 0; i < keys.length; i++) {
      const f = this.fragment(keys[i]!, idents[i]!);
      if (!f) continue;
      if (n++ > 0) parts.push(COMMA);
      parts.push(f.bytes);
    }
    parts.push(CLOSE);
    return Buffer.concat(parts);
  }

  /** The heartbeat-derived pieces of a host's view, from its row. */
  private rebuild(row: HostRow): void {
    const { id, hostname, status: _s, statusSince: _ss, lastSeen: _ls, ...rest } = toHostView(row);
    // Keys in toHostView's order: id, hostname, status, statusSince, lastSeen, then the rest.
    this.frags.set(id, {
      key: '',
      hb: `${row.last_hb_received_ms},${row.last_hb_seq},${row.instance_id}`,
      liveKey: '',
      head: `{"id":${JSON.stringify(id)},"hostname":${JSON.stringify(hostname)},`,
      live: '',
      rest: JSON.stringify(rest).slice(1, -1),
      ident: '',
      bytes: OPEN,
    });
    this.built++;
  }

  /** The host's bytes for this key and identity: from the cache, or with the changed pieces rebuilt. */
  private fragment([id, key]: HostListKey, ident: string): Fragment | undefined {
    const f = this.frags.get(id);
    // No fragment: the row vanished between the key read and the row read (cannot happen on one thread; skip it).
    if (!f) return undefined;
    if (f.key === key && f.ident === ident) {
      this.reused++;
      return f;
    }
    // key = status,since,seen,received,seq,instance (the instance id may hold commas: it is last).
    const c1 = key.indexOf(',');
    const c2 = key.indexOf(',', c1 + 1);
    const c3 = key.indexOf(',', c2 + 1);
    const liveKey = key.slice(0, c3);
    if (f.liveKey !== liveKey) {
      f.live = `"status":${JSON.stringify(key.slice(0, c1))},"statusSince":"${this.iso(Number(key.slice(c1 + 1, c2)))}","lastSeen":"${this.iso(Number(key.slice(c2 + 1, c3)))}",`;
      f.liveKey = liveKey;
    }
    f.key = key;
    f.ident = ident;
    f.bytes = Buffer.from(`${f.head}${f.live}${f.rest}${ident}`);
    return f;
  }

  private identityText(b: IdentityBrief | undefined): string {
    if (!b) return IDENTITY_NONE;
    const k = `${b.state}\u001f${b.certNotAfter ?? ''}`;
    let t = this.identMemo.get(k);
    if (t === undefined) {
      if (this.identMemo.size > 10_000) this.identMemo.clear();
      t = `,"identity":${JSON.stringify(b.state)},"certNotAfter":${JSON.stringify(b.certNotAfter ?? null)}}`;
      this.identMemo.set(k, t);
    }
    return t;
  }

  /** toISOString of a millisecond time, memoised: a fleet's hosts share many status and last-seen times. */
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

const IDENTITY_NONE = ',"identity":"none","certNotAfter":null}';

/** The applied-heartbeat part of a listKeys key (`received,seq,instance`: after the third comma). */
function hbPart(key: string): string {
  const c1 = key.indexOf(',');
  const c2 = key.indexOf(',', c1 + 1);
  return key.slice(key.indexOf(',', c2 + 1) + 1);
}
