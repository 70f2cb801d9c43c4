import { useMemo, useState } from 'preact/hooks';
import { get, getOptional, send } from '../api.js';
import { ago, bytes, Chart, DataTable, ErrorBox, Section, StatusBadge, useData, type Series } from '../components.js';
import { useI18n } from '../i18n.js';
import { useLiveTick } from '../live.js';
import { can, useSession } from '../session.js';

interface HostView {
  id: string;
  hostname: string;
  status: string;
  lastSeen: string;
  agentVersion: string;
  tags: Record<string, string>;
  os: string;
  distro: string;
  kernel: string;
  arch: string;
  cpuModel: string;
  cpuCores: number;
  memoryTotalBytes: number;
  ipAddresses: string[];
  uptimeS: number;
}
interface Facts {
  gatheredAt: string;
  facts: Record<string, string | number | boolean>;
  disks?: Array<{ device: string; type: string; sizeBytes: number }>;
  filesystems?: Array<{ fs: string; type: string; mount: string; sizeBytes: number; usedBytes: number }>;
}
interface SeriesAnswer {
  ts: number[];
  cpu: number[];
  mem: number[];
  disk: number[];
  rxBps: number[];
  txBps: number[];
}
interface HistoryRow {
  bucket_ms: number;
  cpu_avg: number;
  mem_avg: number;
  disk_max: number;
  rx_bps_avg: number;
  tx_bps_avg: number;
}
interface LogLevels {
  ts: number[];
  [level: string]: number[];
}
interface CheckView {
  name: string;
  type: string;
  state: string;
  status: string;
  detail: string;
  since: string;
  restarts: number;
  lastRestart: string | null;
  gaveUp: boolean;
}
interface CheckHistory {
  ts: string;
  check: string;
  event: string;
  state?: string;
  from?: string;
  detail?: string;
}
interface Alert {
  fingerprint: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status?: string;
  state?: string;
  startsAt: string;
}
interface Timeline {
  alerts: Alert[];
  events: Array<{ ts: string; kind: string; summary: string }>;
}
interface BackupSet {
  host: string;
  set: string;
  status: string;
  lastError: string;
  lastSuccess: string | null;
  lastSnapshot: string;
}

const RANGES = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 } as const;
type Range = keyof typeof RANGES;

/** Chart data from `metrics/series` (downsampled per range), else from the 1-minute history. */
async function loadSeries(id: string, range: Range): Promise<SeriesAnswer> {
  const s = await getOptional<SeriesAnswer>(`/api/v1/hosts/${encodeURIComponent(id)}/metrics/series?range=${range}`);
  if (s) return s;
  const rows = await get<HistoryRow[]>(`/api/v1/hosts/${encodeURIComponent(id)}/metrics/history?since=${Date.now() - RANGES[range]}`);
  return { ts: rows.map((r) => r.bucket_ms), cpu: rows.map((r) => r.cpu_avg), mem: rows.map((r) => r.mem_avg), disk: rows.map((r) => r.disk_max), rxBps: rows.map((r) => r.rx_bps_avg), txBps: rows.map((r) => r.tx_bps_avg) };
}

async function loadTimeline(id: string): Promise<Timeline> {
  const t = await getOptional<Timeline>(`/api/v1/hosts/${encodeURIComponent(id)}/timeline?limit=50`);
  if (t) return t;
  const [alerts, events] = await Promise.all([get<Alert[]>('/api/v1/alerts?state=all'), get<Array<{ ts: string; kind: string; payload: unknown }>>(`/api/v1/events?host=${encodeURIComponent(id)}&limit=200`)]);
  return {
    alerts: alerts.filter((a) => a.labels.host === id).slice(0, 50),
    events: events
      .filter((e) => !['hb', 'heartbeat', 'metric', 'metrics'].includes(e.kind))
      .slice(-50)
      .reverse()
      .map((e) => ({ ts: e.ts, kind: e.kind, summary: JSON.stringify(e.payload).slice(0, 160) })),
  };
}

const LEVEL_COLORS: Record<string, string> = { fatal: '#7a0019', error: '#d1242f', warn: '#d4a72c', info: '#2f81f7', debug: '#8b949e', trace: '#b1bac4', none: '#57606a' };

export function HostPage({ id }: { id: string }) {
  const { t } = useI18n();
  const session = useSession();
  const [range, setRange] = useState<Range>('1h');
  const [notice, setNotice] = useState<string>('');
  const [actionError, setActionError] = useState<unknown>(undefined);
  const enc = encodeURIComponent(id);
  const tick = useLiveTick(['host', 'check', 'alert', 'facts']);
  const host = useData(() => get<HostView>(`/api/v1/hosts/${enc}`), [id, tick]);
  const facts = useData(() => getOptional<Facts>(`/api/v1/hosts/${enc}/facts`), [id, tick]);
  const series = useData(() => loadSeries(id, range), [id, range, tick]);
  const levels = useData(() => getOptional<LogLevels>(`/api/v1/hosts/${enc}/logs/levels?range=${range === '7d' ? '24h' : range}`), [id, range, tick]);
  const checks = useData(() => get<CheckView[]>(`/api/v1/checks?host=${enc}`), [id, tick]);
  const checkHistory = useData(() => getOptional<CheckHistory[]>(`/api/v1/hosts/${enc}/checks/history?since=24h&limit=100`), [id, tick]);
  const timeline = useData(() => loadTimeline(id), [id, tick]);
  const backups = useData(() => get<BackupSet[]>(`/api/v1/backups/sets?host=${enc}`), [id, tick]);

  const charts = useMemo(() => {
    const s = series.data;
    if (!s) return undefined;
    const mk = (label: string, values: number[], color: string): Series => ({ label, values, color });
    return {
      cpu: [mk(t('host.chart.cpu'), s.cpu, '#2f81f7')],
      mem: [mk(t('host.chart.mem'), s.mem, '#8250df')],
      disk: [mk(t('host.chart.disk'), s.disk, '#bf8700')],
      net: [mk(t('host.chart.rx'), s.rxBps, '#1a7f37'), mk(t('host.chart.tx'), s.txBps, '#cf222e')],
    };
  }, [series.data, t]);
  const levelSeries = useMemo(() => {
    const l = levels.data;
    if (!l) return undefined;
    return Object.keys(LEVEL_COLORS)
      .filter((k) => Array.isArray(l[k]) && l[k]!.some((v) => v > 0))
      .map((k) => ({ label: k, values: l[k]!, color: LEVEL_COLORS[k]! }));
  }, [levels.data]);

  const act = async (label: string, confirmText: string | null, fn: () => Promise<unknown>) => {
    if (confirmText !== null && !confirm(confirmText)) return;
    setActionError(undefined);
    setNotice('');
    try {
      const r = await fn();
      setNotice(t('host.backup.done', { action: label, result: JSON.stringify(r).slice(0, 300) }));
      checks.reload();
      backups.reload();
      facts.reload();
    } catch (err) {
      setActionError(err);
    }
  };

  // Recomputed on each refresh (the series' data changes), so the axis follows the clock.
  const xTo = useMemo(() => Date.now(), [series.data]);
  const xFrom = xTo - RANGES[range];
  const h = host.data;
  const f = facts.data?.facts ?? {};
  const inv: Array<[string, string]> = h
    ? [
        [t('host.inv.hostname'), h.hostname],
        [t('host.inv.os'), String(f.os ?? h.os)],
        [t('host.inv.distro'), [f.distro ?? h.distro, f.distro_version ?? ''].join(' ').trim()],
        [t('host.inv.kernel'), String(f.kernel ?? h.kernel)],
        [t('host.inv.arch'), String(f.arch ?? h.arch)],
        [t('host.inv.cpu'), String(f.cpu_model ?? h.cpuModel)],
        [t('host.inv.cores'), String(f.cpu_cores ?? h.cpuCores)],
        [t('host.inv.memory'), bytes(Number(f.mem_total_bytes ?? h.memoryTotalBytes))],
        [t('host.inv.virtual'), String(f.virtual ?? '—')],
        [t('host.inv.serial'), String(f.serial ?? '—')],
        [t('host.inv.ips'), h.ipAddresses.join(', ')],
        [t('host.inv.uptime'), `${Math.floor(h.uptimeS / 3600)} h`],
        [t('host.inv.version'), h.agentVersion],
      ]
    : [];

  return (
    <div class="page" data-page="host">
      <p>
        <a href="#/">{t('host.back')}</a>
      </p>
      <h1>
        {t('host.title', { id })} {h && <StatusBadge status={h.status} />}
      </h1>
      <ErrorBox error={host.error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorBox error={actionError} />
      <div class="grid">
        <Section
          title={t('host.inventory')}
          actions={
            can(session, 'operator') && facts.data !== undefined ? (
              <button type="button" onClick={() => act(t('host.facts.refresh'), null, () => send('POST', `/api/v1/hosts/${enc}/facts/refresh`))}>
                {t('host.facts.refresh')}
              </button>
            ) : undefined
          }
        >
          <dl class="inv">
            {inv.map(([k, v]) => (
              <>
                <dt>{k}</dt>
                <dd>{v || '—'}</dd>
              </>
            ))}
          </dl>
          {h && Object.keys(h.tags).length > 0 && (
            <p class="tags">
              {Object.entries(h.tags).map(([k, v]) => (
                <span class="tag">
                  {k}={v}
                </span>
              ))}
            </p>
          )}
          {facts.data?.filesystems && (
            <>
              <h3>{t('host.inv.disks')}</h3>
              <DataTable
                rows={facts.data.filesystems}
                columns={[
                  { cell: (fs) => fs.mount },
                  { cell: (fs) => fs.fs },
                  { cell: (fs) => fs.type },
                  {
                    cell: (fs) => (
                      <>
                        {bytes(fs.usedBytes)} / {bytes(fs.sizeBytes)}
                      </>
                    ),
                  },
                ]}
              />
            </>
          )}
        </Section>
        <Section
          title={t('host.charts')}
          actions={
            <label>
              {t('host.range')}{' '}
              <select id="host-range" value={range} onChange={(e) => setRange((e.currentTarget as HTMLSelectElement).value as Range)}>
                {Object.keys(RANGES).map((r) => (
                  <option value={r}>{r}</option>
                ))}
              </select>
            </label>
          }
        >
          <ErrorBox error={series.error} />
          {charts && series.data!.ts.length > 0 ? (
            <div class="charts">
              <Chart title={t('host.chart.cpu')} ts={series.data!.ts} series={charts.cpu} testId="chart-cpu" fromMs={xFrom} toMs={xTo} />
              <Chart title={t('host.chart.mem')} ts={series.data!.ts} series={charts.mem} testId="chart-mem" fromMs={xFrom} toMs={xTo} />
              <Chart title={t('host.chart.disk')} ts={series.data!.ts} series={charts.disk} testId="chart-disk" fromMs={xFrom} toMs={xTo} />
              <Chart title={t('host.chart.net')} ts={series.data!.ts} series={charts.net} testId="chart-net" fromMs={xFrom} toMs={xTo} />
            </div>
          ) : (
            series.data && <p class="muted">{t('host.chart.noData')}</p>
          )}
          {levelSeries && levelSeries.length > 0 && <Chart title={t('host.logLevels')} ts={levels.data!.ts} series={levelSeries} testId="chart-levels" fromMs={xTo - Math.min(RANGES[range], RANGES['24h'])} toMs={xTo} />}
        </Section>
        <Section title={t('host.checks')}>
          <ErrorBox error={checks.error} />
          <DataTable
            rows={checks.data ?? []}
            rowAttrs={(c) => ({ 'data-check': c.name })}
            columns={[
              {
                head: t('common.name'),
                cell: (c) => (
                  <>
                    {c.name} <small class="muted">{c.type}</small>
                  </>
                ),
              },
              {
                head: t('common.status'),
                cell: (c) => (
                  <>
                    <StatusBadge status={c.state} /> <small>{c.detail || c.status}</small> <small class="muted">{ago(c.since)}</small>
                  </>
                ),
              },
              {
                head: t('host.check.restarts'),
                cell: (c) => (
                  <>
                    {c.restarts}
                    {c.gaveUp ? ' ⚠' : ''} {c.lastRestart && <small class="muted">{ago(c.lastRestart)}</small>}
                  </>
                ),
              },
              {
                cell: (c) =>
                  can(session, 'operator') &&
                  c.restarts > 0 && (
                    <button type="button" onClick={() => act(t('host.check.resetRestarts'), null, () => send('POST', `/api/v1/hosts/${enc}/checks/${encodeURIComponent(c.name)}/reset-restarts`))}>
                      {t('host.check.resetRestarts')}
                    </button>
                  ),
              },
            ]}
          />
          {checkHistory.data && checkHistory.data.length > 0 && (
            <>
              <h3>{t('host.check.history')}</h3>
              <ul class="timeline">
                {checkHistory.data.slice(0, 30).map((e) => (
                  <li>
                    <time>{new Date(e.ts).toLocaleString()}</time> <b>{e.check}</b> {e.event} {e.from ? `${e.from} → ` : ''}
                    {e.state ?? ''} <small class="muted">{e.detail ?? ''}</small>
                  </li>
                ))}
              </ul>
            </>
          )}
        </Section>
        <Section title={t('host.timeline')}>
          <ErrorBox error={timeline.error} />
          <ul class="timeline">
            {(timeline.data?.alerts ?? []).map((a) => (
              <li>
                <StatusBadge status={a.status ?? a.state ?? ''} /> <b>{a.labels.alertname}</b> <small class="muted">{ago(a.startsAt)}</small> {a.annotations.summary ?? ''}
              </li>
            ))}
            {(timeline.data?.events ?? []).map((e) => (
              <li>
                <time>{new Date(e.ts).toLocaleString()}</time> <span class="tag">{e.kind}</span> <small>{e.summary}</small>
              </li>
            ))}
          </ul>
        </Section>
        <Section title={t('host.backups')}>
          <ErrorBox error={backups.error} />
          <DataTable
            rows={backups.data ?? []}
            columns={[
              { head: t('host.backup.set'), cell: (b) => b.set },
              {
                head: t('common.status'),
                cell: (b) => (
                  <>
                    <StatusBadge status={b.status} /> <small>{b.lastError}</small>
                  </>
                ),
              },
              { head: t('host.backup.lastSuccess'), cell: (b) => (b.lastSuccess ? ago(b.lastSuccess) : t('common.never')) },
              { head: t('host.backup.lastSnapshot'), cell: (b) => <code>{b.lastSnapshot}</code> },
              {
                cell: (b) => (
                  <>
                    {can(session, 'operator') && (
                      <button type="button" onClick={() => act(t('host.backup.verify'), t('host.backup.confirmVerify', { set: b.set, host: id }), () => send('POST', `/api/v1/hosts/${enc}/backups/${encodeURIComponent(b.set)}/verify`, {}))}>
                        {t('host.backup.verify')}
                      </button>
                    )}
                    {can(session, 'admin') && b.lastSnapshot && (
                      <button
                        type="button"
                        onClick={() => {
                          const to = prompt(t('host.backup.restoreTo', { snapshot: b.lastSnapshot, set: b.set, host: id }));
                          if (to) void act(t('host.backup.restore'), null, () => send('POST', `/api/v1/hosts/${enc}/backups/${encodeURIComponent(b.set)}/restore`, { snapshot: b.lastSnapshot, to }));
                        }}
                      >
                        {t('host.backup.restore')}
                      </button>
                    )}
                  </>
                ),
              },
            ]}
          />
        </Section>
      </div>
    </div>
  );
}
