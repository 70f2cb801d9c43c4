import type Database from 'better-sqlite3';
import { storedEventBody } from '../store/event-body.js';
import { HISTORY_10M_BUCKET_MS, HISTORY_BUCKET_MS, type HistoryRow } from './checks-store.js';
import { samplePoint } from './sample-point.js';

/** The chart ranges the dashboard offers and the tier each one reads. */
export const SERIES_RANGES = {
  '1h': { spanMs: 3_600_000, tier: 'raw' },
  '24h': { spanMs: 86_400_000, tier: '1m' },
  '7d': { spanMs: 7 * 86_400_000, tier: '10m' },
  '30d': { spanMs: 30 * 86_400_000, tier: '10m' },
} as const;
export type SeriesRange = keyof typeof SERIES_RANGES;

export function isSeriesRange(v: string): v is SeriesRange {
  return Object.hasOwn(SERIES_RANGES, v);
}

/** Columnar chart data (one array per line, `ts` in ms): what uPlot draws without reshaping. */
export interface MetricSeries {
  host: string;
  range: SeriesRange;
  resolution: 'raw' | '1m' | '10m';
  stepMs: number;
  from: number;
  to: number;
  ts: number[];
  cpu: number[];
  cpuMax: number[];
  mem: number[];
  memMax: number[];
  disk: number[];
  load1: number[];
  rxBps: number[];
  txBps: number[];
}

type BucketRow = Omit<HistoryRow, 'n'>;

/** A 30-day range at 10 minutes is 4,320 points; raw hours stay below this at any sane interval. */
const MAX_POINTS = 5_000;

/** Reads one host's chart series for a range from the tier that range needs. */
export class MetricSeriesReader {
  private readonly stmts;

  constructor(db: Database.Database) {
    const cols = 'bucket_ms, cpu_avg, cpu_max, mem_avg, mem_max, load1_avg, disk_max, rx_bps_avg, tx_bps_avg';
    this.stmts = {
      raw: db.prepare<[string, number, number], { ts_ms: number; payload: string }>(
        "SELECT ts_ms, payload FROM events WHERE host_id = ? AND kind = 'metric' AND ts_ms >= ? ORDER BY ts_ms LIMIT ?",
      ),
      m1: db.prepare<[string, number, number], BucketRow>(`SELECT ${cols} FROM metric_history WHERE host_id = ? AND bucket_ms >= ? ORDER BY bucket_ms LIMIT ?`),
      m10: db.prepare<[string, number, number], BucketRow>(`SELECT ${cols} FROM metric_history_10m WHERE host_id = ? AND bucket_ms >= ? ORDER BY bucket_ms LIMIT ?`),
    };
  }

  read(host: string, range: SeriesRange, nowMs: number): MetricSeries {
    const { spanMs, tier } = SERIES_RANGES[range];
    const from = nowMs - spanMs;
    const base = { host, range, from, to: nowMs };
    if (tier === 'raw') {
      const raw = this.raw(host, from);
      // Raw samples are kept only retention.samples (1h by default, maybe less): when they are
      // gone the 1-minute tier still draws the hour.
      if (raw.ts.length >= 2) return { ...base, resolution: 'raw', stepMs: medianStep(raw.ts), ...raw };
      return { ...base, resolution: '1m', stepMs: HISTORY_BUCKET_MS, ...columns(this.stmts.m1.all(host, from, MAX_POINTS)) };
    }
    if (tier === '1m') return { ...base, resolution: '1m', stepMs: HISTORY_BUCKET_MS, ...columns(this.stmts.m1.all(host, from, MAX_POINTS)) };
    return { ...base, resolution: '10m', stepMs: HISTORY_10M_BUCKET_MS, ...columns(this.stmts.m10.all(host, from, MAX_POINTS)) };
  }

  private raw(host: string, from: number): Omit<MetricSeries, 'host' | 'range' | 'resolution' | 'stepMs' | 'from' | 'to'> {
    // A raw sample is a bucket of one: its average and maximum are the sample.
    const rows: BucketRow[] = [];
    for (const r of this.stmts.raw.all(host, from, MAX_POINTS)) {
      const s = storedEventBody(r.payload);
      if (!s) continue;
      const p = samplePoint(s);
      rows.push({ bucket_ms: r.ts_ms, cpu_avg: p.cpu, cpu_max: p.cpu, mem_avg: p.mem, mem_max: p.mem, load1_avg: p.load1, disk_max: p.disk, rx_bps_avg: p.rxBps, tx_bps_avg: p.txBps });
    }
    return columns(rows);
  }
}

function columns(rows: BucketRow[]) {
  const out = { ts: [] as number[], cpu: [] as number[], cpuMax: [] as number[], mem: [] as number[], memMax: [] as number[], disk: [] as number[], load1: [] as number[], rxBps: [] as number[], txBps: [] as number[] };
  for (const r of rows) {
    out.ts.push(r.bucket_ms);
    out.cpu.push(r.cpu_avg);
    out.cpuMax.push(r.cpu_max);
    out.mem.push(r.mem_avg);
    out.memMax.push(r.mem_max);
    out.disk.push(r.disk_max);
    out.load1.push(r.load1_avg);
    out.rxBps.push(r.rx_bps_avg);
    out.txBps.push(r.tx_bps_avg);
  }
  return out;
}

function medianStep(ts: number[]): number {
  const d: number[] = [];
  for (let i = 1; i < ts.length; i++) d.push(ts[i]! - ts[i - 1]!);
  d.sort((a, b) => a - b);
  return d[Math.floor(d.length / 2)] ?? 0;
}
