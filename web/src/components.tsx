import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { ApiError } from './api.js';
import { useI18n } from './i18n.js';

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Loads data when `deps` change; keeps the last data while reloading so live refreshes do not flicker. */
export function useData<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, error: undefined, loading: false }),
      (error: unknown) => live && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { ...state, reload };
}

/** An API failure as the user reads it: a 403 says what the role may not do, in the server's words. */
export function ErrorBox({ error }: { error: unknown }) {
  const { t } = useI18n();
  if (!error) return null;
  const msg = error instanceof ApiError ? (error.status === 403 ? t('common.forbidden', { message: error.message }) : `${error.code}: ${error.message}`) : String(error);
  return (
    <p class="error" role="alert">
      {msg}
    </p>
  );
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      <header class="card-head">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

export function StatusBadge({ status }: { status: string }) {
  const { t } = useI18n();
  const label = status === 'online' || status === 'offline' ? t(`status.${status}`) : status;
  return <span class={`badge badge-${status}`}>{label}</span>;
}

export function ago(iso: string | number | null | undefined): string {
  if (iso === null || iso === undefined || iso === '') return '—';
  const ms = typeof iso === 'number' ? iso : Date.parse(iso);
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return `${Math.max(0, s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function bytes(n: number | undefined): string {
  if (!n) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 && i > 0 ? 1 : 0)} ${u[i]}`;
}

/**
 * Renders only the rows in view (plus a margin): 5,000 hosts are 5,000 objects but ~40 DOM rows,
 * so scrolling and filtering stay interactive.
 */
export function VirtualList<T>({ items, rowHeight, height, row, label }: { items: T[]; rowHeight: number; height: number; row: (item: T, index: number) => ComponentChildren; label: string }) {
  const [top, setTop] = useState(0);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (ref.current && ref.current.scrollTop > items.length * rowHeight) {
      ref.current.scrollTop = 0;
      setTop(0);
    }
  }, [items.length]);
  const first = Math.max(0, Math.floor(top / rowHeight) - 10);
  const last = Math.min(items.length, Math.ceil((top + height) / rowHeight) + 10);
  const rows = [];
  for (let i = first; i < last; i++) rows.push(row(items[i]!, i));
  return (
    <div class="vlist" ref={ref} style={{ height: `${height}px` }} onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)} role="table" aria-label={label} aria-rowcount={items.length} tabIndex={0}>
      <div style={{ height: `${items.length * rowHeight}px`, position: 'relative' }}>
        <div style={{ position: 'absolute', top: `${first * rowHeight}px`, left: 0, right: 0 }}>{rows}</div>
      </div>
    </div>
  );
}

export interface Series {
  label: string;
  values: Array<number | null>;
  color: string;
}

/** A uPlot line chart; `ts` in ms. Redrawn when the data changes, resized with its container. */
export function Chart({ title, ts, series, height = 160, testId, fromMs, toMs }: { title: string; ts: number[]; series: Series[]; height?: number; testId?: string; fromMs?: number; toMs?: number }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el || ts.length === 0) return;
    const width = Math.max(240, el.clientWidth || 400);
    const plot = new uPlot(
      {
        width,
        height,
        legend: { show: true },
        // The whole range on the x axis (a new host's few points sit at the right end, not spread over years).
        scales: { x: fromMs !== undefined && toMs !== undefined ? { time: true, range: [fromMs / 1000, toMs / 1000] } : { time: true } },
        axes: [{ stroke: '#889' }, { stroke: '#889', size: 50 }],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, fill: `${s.color}22` }))],
      },
      [ts.map((x) => x / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData,
      el,
    );
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(240, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [ts, series]);
  return (
    <figure class="chart" data-testid={testId} data-points={ts.length} data-max={Math.max(0, ...series.flatMap((s) => s.values.map((v) => v ?? 0)))}>
      <figcaption>{title}</figcaption>
      <div ref={ref} />
    </figure>
  );
}

// Larger components live in components/, one per file; the pages import everything from here.
export { DataTable, type Column } from './components/data-table.js';
