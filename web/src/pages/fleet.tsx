import { useEffect, useState } from 'preact/hooks';
import { ApiError, get } from '../api.js';
import { ago, ErrorBox, StatusBadge, useData, VirtualList } from '../components.js';
import { useI18n } from '../i18n.js';
import { useLiveTick } from '../live.js';

export interface FleetRow {
  id: string;
  hostname: string;
  status: string;
  lastSeen: number;
  agentVersion: string;
  tags: Record<string, string>;
  os: string;
  distro: string;
}

interface FleetAnswer {
  total: number;
  matched: number;
  counts: Record<string, number>;
  columns: string[];
  rows: unknown[][];
}

interface HostView {
  id: string;
  hostname: string;
  status: string;
  lastSeen: string;
  agentVersion: string;
  tags: Record<string, string>;
  os: string;
  distro: string;
}

/**
 * The fleet, filtered on the server by a target expression (`GET /api/v1/fleet`: compact rows).
 * A controller without that route gets the plain host list (no filter).
 */
async function loadFleet(target: string): Promise<{ rows: FleetRow[]; total: number; counts: Record<string, number> }> {
  try {
    const q = new URLSearchParams({ limit: '5000' });
    if (target.trim()) q.set('target', target.trim());
    const a = await get<FleetAnswer>(`/api/v1/fleet?${q}`);
    const col = (name: string) => a.columns.indexOf(name);
    const [ci, ch, cs, cl, cv, ct, co, cd] = ['id', 'hostname', 'status', 'lastSeen', 'agentVersion', 'tags', 'os', 'distro'].map(col) as number[];
    const rows = a.rows.map((r) => ({
      id: String(r[ci!]),
      hostname: String(r[ch!] ?? ''),
      status: String(r[cs!]),
      lastSeen: Number(r[cl!]),
      agentVersion: String(r[cv!] ?? ''),
      tags: (r[ct!] ?? {}) as Record<string, string>,
      os: co! >= 0 ? String(r[co!] ?? '') : '',
      distro: cd! >= 0 ? String(r[cd!] ?? '') : '',
    }));
    return { rows, total: a.total, counts: a.counts };
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404 && err.code === 'OPS_ERR_NOT_FOUND')) throw err;
  }
  const hosts = await get<HostView[]>('/api/v1/hosts');
  const counts: Record<string, number> = {};
  for (const h of hosts) counts[h.status] = (counts[h.status] ?? 0) + 1;
  return { rows: hosts.map((h) => ({ ...h, lastSeen: Date.parse(h.lastSeen) })), total: hosts.length, counts };
}

export function FleetPage({ initialTarget }: { initialTarget: string }) {
  const { t } = useI18n();
  const [input, setInput] = useState(initialTarget);
  const [target, setTarget] = useState(initialTarget);
  const tick = useLiveTick(['host', 'facts']);
  const fleet = useData(() => loadFleet(target), [target, tick]);
  useEffect(() => {
    const q = target ? `?target=${encodeURIComponent(target)}` : '';
    if (location.hash !== `#/${q}`) history.replaceState(null, '', `#/${q}`);
  }, [target]);
  const apply = (e: Event) => {
    e.preventDefault();
    setTarget(input);
  };
  const d = fleet.data;
  return (
    <div class="page" data-page="fleet">
      <h1>{t('fleet.title')}</h1>
      <form class="filter" onSubmit={apply} role="search">
        <label for="fleet-target">{t('fleet.filter')}</label>
        <input id="fleet-target" type="text" value={input} onInput={(e) => setInput((e.currentTarget as HTMLInputElement).value)} placeholder="role=web and status=online" aria-describedby="fleet-target-help" spellcheck={false} />
        <button type="submit">{t('fleet.apply')}</button>
        <button type="button" onClick={() => (setInput(''), setTarget(''))}>
          {t('fleet.clear')}
        </button>
        <small id="fleet-target-help" class="muted">
          {t('fleet.filterHelp')}
        </small>
      </form>
      <ErrorBox error={fleet.error} />
      {d && (
        <>
          <p class="counts" data-testid="fleet-counts" data-matched={d.rows.length} data-total={d.total}>
            <span>{t('fleet.shown', { matched: d.rows.length, total: d.total })}</span>
            {Object.entries(d.counts).map(([s, n]) => (
              <span class={`count count-${s}`} data-status={s}>
                {s === 'online' || s === 'offline' ? t(`fleet.count.${s}`) : s}: <b>{n}</b>
              </span>
            ))}
          </p>
          <div class="row head" role="row">
            <span role="columnheader">{t('fleet.col.id')}</span>
            <span role="columnheader">{t('fleet.col.status')}</span>
            <span role="columnheader">{t('fleet.col.tags')}</span>
            <span role="columnheader">{t('fleet.col.os')}</span>
            <span role="columnheader">{t('fleet.col.version')}</span>
            <span role="columnheader">{t('fleet.col.lastSeen')}</span>
          </div>
          {d.rows.length === 0 ? (
            <p class="muted">{t('fleet.empty')}</p>
          ) : (
            <VirtualList
              items={d.rows}
              rowHeight={34}
              height={Math.min(600, d.rows.length * 34 + 2)}
              label={t('fleet.title')}
              row={(h) => (
                <div class="row" role="row" data-host={h.id} key={h.id}>
                  <span role="cell">
                    <a href={`#/hosts/${encodeURIComponent(h.id)}`}>{h.id}</a>
                  </span>
                  <span role="cell">
                    <StatusBadge status={h.status} />
                  </span>
                  <span role="cell" class="tags">
                    {Object.entries(h.tags).map(([k, v]) => (
                      <span class="tag">
                        {k}={v}
                      </span>
                    ))}
                  </span>
                  <span role="cell">{h.distro || h.os}</span>
                  <span role="cell">{h.agentVersion}</span>
                  <span role="cell" title={new Date(h.lastSeen).toISOString()}>
                    {ago(h.lastSeen)}
                  </span>
                </div>
              )}
            />
          )}
        </>
      )}
    </div>
  );
}
