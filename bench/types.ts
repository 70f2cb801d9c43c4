/** One measured figure of a benchmark. */
export interface BenchRow {
  /** What was measured, e.g. "end to end: outbox → JetStream → Ingest → SQLite". */
  name: string;
  /** Items per second (events, messages or rows as `unit` says). */
  rate: number;
  unit: string;
  /** How many items the figure was measured over. */
  count: number;
  seconds: number;
  note?: string;
}

export interface BenchResult {
  title: string;
  rows: BenchRow[];
  /** Free text lines added under the table in docs/BENCHMARKS.md (goal, verdict, breakdown). */
  notes: string[];
}

/** What every bench/*.bench.ts exports as default. */
export interface Bench {
  name: string;
  run(opts: { quick: boolean }): Promise<BenchResult>;
}
