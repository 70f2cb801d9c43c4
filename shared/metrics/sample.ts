/**
 * One resource sample: the body of a `metric` event (JSON). Short keys, rounded numbers: at 5 s
 * sampling this is the agent's most frequent event, so it stays around 1–2 KB.
 */
export interface Sample {
  /** Milliseconds covered by the rates (time since the previous reading). */
  interval_ms: number;
  cpu: { percent: number; iowait: number; steal: number; cores: number[] };
  load: [number, number, number];
  load_per_core: number;
  mem: { total: number; available: number; used_percent: number };
  swap: { total: number; used_percent: number };
  disks: Array<{ mount: string; device: string; total: number; used: number; used_percent: number; inodes_used_percent: number; read_bps: number; write_bps: number }>;
  net: Array<{ iface: string; rx_bps: number; tx_bps: number }>;
  top_cpu: TopProcess[];
  top_rss: TopProcess[];
}

export interface TopProcess {
  pid: number;
  name: string;
  /** Percent of one core over the interval. */
  cpu: number;
  rss: number;
}
