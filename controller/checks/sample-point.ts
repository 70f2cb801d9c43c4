/** The chart values of one metric sample (percentages, the 1-minute load, bytes/s summed over interfaces). */
export interface SamplePoint {
  cpu: number;
  mem: number;
  /** The fullest file system. */
  disk: number;
  load1: number;
  /** Summed over every interface but `lo` (loopback traffic is no network load). */
  rxBps: number;
  txBps: number;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * One agent metric sample reduced to what the charts draw: the one rule for the stored 1- and
 * 10-minute tiers (ChecksStore), the raw series (MetricSeriesReader) and the live feed. The body
 * comes from an agent, so any field may be missing or of another type: it reads as 0, never throws.
 */
export function samplePoint(sample: unknown): SamplePoint {
  const s = obj(sample);
  const net = list(s.net).map(obj).filter((n) => n.iface !== 'lo');
  return {
    cpu: num(obj(s.cpu).percent),
    mem: num(obj(s.mem).used_percent),
    disk: Math.max(0, ...list(s.disks).map((d) => num(obj(d).used_percent))),
    load1: num(list(s.load)[0]),
    rxBps: net.reduce((a, n) => a + num(n.rx_bps), 0),
    txBps: net.reduce((a, n) => a + num(n.tx_bps), 0),
  };
}
