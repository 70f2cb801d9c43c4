import { CommanderError, type Command } from 'commander';
import { OpsError } from '../shared/errors.js';
import { Analyzer, type AnalysisSummary } from '../shared/logs/analyzer.js';
import { LEVELS } from '../shared/logs/levels.js';
import { createParser, type ParserSpec } from '../shared/logs/parser.js';
import { PRESET_NAMES } from '../shared/logs/presets/index.js';
import { analyzeParallel, canSplit } from '../shared/logs/parallel-analyze.js';
import { readLineChunks } from '../shared/logs/read-lines.js';
import type { ControllerClient } from './client.js';
import { table } from './format.js';

interface AnalyzeOpts {
  preset?: string;
  regex?: string;
  timezone?: string;
  year?: string;
  json?: boolean;
  records?: boolean;
  top?: string;
  maxLine?: string;
  workers?: string;
  /** commander's --no-templates sets this to false. */
  templates?: boolean;
}

/** Buffered stdout: --records writes millions of lines, one write() each would dominate. */
class Out {
  private buf: string[] = [];
  private size = 0;
  async line(s: string): Promise<void> {
    this.buf.push(s);
    this.size += s.length;
    if (this.size > 1 << 20) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.buf.length === 0) return;
    const text = this.buf.join('\n') + '\n';
    this.buf = [];
    this.size = 0;
    if (!process.stdout.write(text)) await new Promise((r) => process.stdout.once('drain', r));
  }
}

/** Runs the offline analysis over files (or "-" for stdin); exported for the benchmark. */
export async function analyzeFiles(files: string[], opts: AnalyzeOpts, onRecord?: (rec: string) => Promise<void>): Promise<AnalysisSummary & { truncated: number; files: number }> {
  const spec: ParserSpec | undefined = opts.regex !== undefined ? { regex: opts.regex } : opts.preset !== undefined ? { preset: opts.preset } : undefined;
  const popts = { ...(opts.timezone ? { timezone: opts.timezone } : {}), ...(opts.year ? { year: Number(opts.year) } : {}) };
  const parser = createParser(spec, popts);
  const analyzer = new Analyzer(parser, { templates: opts.templates !== false, topTemplates: opts.top ? Number(opts.top) : 20 });
  let truncated = 0;
  const maxLineChars = opts.maxLine ? Number(opts.maxLine) : 1 << 20;
  for (const [i, file] of files.entries()) {
    // A large plain file without --records: worker threads over chunks of it (--workers 1: the
    // same chunked byte path in this thread).
    if (!onRecord && canSplit(file)) {
      const { format, truncated: cut } = await analyzeParallel(file, spec, popts, analyzer, { templates: opts.templates !== false, maxLineChars, ...(opts.workers ? { workers: Number(opts.workers) } : {}) });
      analyzer.setFormat(file, format);
      truncated += cut;
      continue;
    }
    // A parser per file: auto detects each file's format from its own first lines.
    analyzer.beginFile(file, i === 0 ? parser : createParser(spec, popts));
    let fileLine = 0;
    for await (const chunk of readLineChunks(file, { maxLineChars: opts.maxLine ? Number(opts.maxLine) : 1 << 20 })) {
      analyzer.countBytes(chunk.bytes);
      truncated += chunk.truncated;
      for (const line of chunk.lines) {
        fileLine++;
        const rec = analyzer.add(line);
        if (rec && onRecord) {
          await onRecord(JSON.stringify({ file, line: fileLine, ts: rec.tsMs === undefined ? null : new Date(rec.tsMs).toISOString(), level: rec.level ?? null, template_id: analyzer.lastTemplateId ?? null, message: rec.message, fields: rec.fields }));
        }
      }
    }
    analyzer.endFile();
  }
  return { ...analyzer.summary(), truncated, files: files.length };
}

function printHuman(s: Awaited<ReturnType<typeof analyzeFiles>>): void {
  const out: string[] = [];
  const pct = s.lines ? ((100 * s.parsed) / s.lines).toFixed(1) : '0.0';
  out.push(`parser:     ${s.parser}`);
  const formats = Object.entries(s.formats);
  if (s.parser === 'auto') out.push(`format:     ${formats.length === 1 ? `${formats[0]![1]} (detected from the first lines)` : formats.map(([f, v]) => `${f}: ${v}`).join(', ')}`);
  out.push(`lines:      ${s.lines} (${s.bytes} bytes${s.truncated ? `, ${s.truncated} truncated` : ''})`);
  out.push(`parsed:     ${s.parsed} (${pct}%), unparsed ${s.unparsed}`);
  out.push(`time range: ${s.timeRange ? `${s.timeRange.first} .. ${s.timeRange.last}` : '(no timestamps)'}`);
  out.push(`levels:     ${[...LEVELS, 'NONE' as const].filter((l) => s.levels[l] > 0).map((l) => `${l} ${s.levels[l]}`).join(', ') || '(none)'}`);
  if (s.templates.length) {
    // The id is the one --records gives each line (template_id): grep the records by it.
    const t = table(['COUNT', 'LEVEL', 'ID', 'TEMPLATE'], { colWidths: [9, 7, 11, 90], wordWrap: true });
    for (const x of s.templates) t.push([x.count, x.level ?? '', x.id, x.template]);
    out.push('top templates:');
    out.push(t.toString());
  }
  if (s.unparsedSamples.length) {
    out.push('unparsed samples:');
    for (const u of s.unparsedSamples) out.push(`  ${u}`);
  }
  process.stdout.write(out.join('\n') + '\n');
}

/** `opsctl logs analyze` (offline, no controller) and `opsctl logs stats` (fleet view). */
export function registerLogsCommands(program: Command, client: (cmd: Command) => ControllerClient): void {
  const logs = program.command('logs').description('log analysis: offline files, or the fleet statistics the agents report');

  logs
    .command('analyze')
    .description('read log files (or - for stdin; .gz detected) and summarize: lines, parsed, levels, time range, top templates')
    .argument('<file...>', 'files to read, "-" for stdin')
    .option('--preset <name>', `parser preset: ${PRESET_NAMES.join(', ')} (default auto)`)
    .option('--regex <re>', 'parser regex with named groups ts, level, message')
    .option('--timezone <tz>', 'zone of timestamps that carry none: UTC, local, +08:00 or an IANA name', 'UTC')
    .option('--year <yyyy>', 'year for formats without one (syslog 3164); inferred by default')
    .option('--top <n>', 'templates to list', '20')
    .option('--max-line <chars>', 'cut longer lines (counted as truncated)', String(1 << 20))
    .option('--workers <n>', 'worker threads for large files (default: the usable cores; 1 reads in one thread)')
    .option('--no-templates', 'skip template masking (levels and counts only; faster)')
    .option('--json', 'print one JSON object')
    .option('--records', 'print one JSON object per parsed line instead of the summary')
    .action(async (files: string[], opts: AnalyzeOpts, cmd: Command) => {
      if (opts.preset !== undefined && opts.regex !== undefined) cmd.error('use --preset or --regex, not both', { exitCode: 2, code: 'opsctl.usage' });
      for (const [k, v] of [['top', opts.top], ['max-line', opts.maxLine], ['year', opts.year], ['workers', opts.workers]] as const) {
        if (v !== undefined && !/^\d+$/.test(v)) cmd.error(`--${k} must be a positive integer, got "${v}"`, { exitCode: 2, code: 'opsctl.usage' });
      }
      // `opsctl logs analyze ... | head` closes the pipe early: that is a normal end, not a crash.
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(0);
        throw err;
      });
      const out = new Out();
      let summary;
      try {
        summary = await analyzeFiles(files, opts, opts.records ? (r) => out.line(r) : undefined);
      } catch (err) {
        // A bad preset/regex/timezone is a usage error (exit 2); unreadable input is a failure (exit 1).
        if (err instanceof OpsError && err.code !== 'OPS_ERR_LOGS_READ') {
          await out.flush();
          process.stderr.write(`opsctl: ${err.code}: ${err.message}\n`);
          throw new CommanderError(2, err.code, err.message);
        }
        await out.flush();
        throw err;
      }
      await out.flush();
      if (opts.records) return;
      if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else printHuman(summary);
    });

  logs
    .command('stats')
    .description('per-minute level counts the agents reported')
    .option('--host <id>', 'only this host')
    .option('--source <name>', 'only this log source')
    .option('--since <duration>', 'how far back, like 15m, 1h, 2d', '1h')
    .option('--by-minute', 'one row per minute instead of totals')
    .option('--json', 'print JSON')
    .action(async (opts: { host?: string; source?: string; since: string; byMinute?: boolean; json?: boolean }, cmd: Command) => {
      const q = new URLSearchParams({ since: opts.since });
      if (opts.host) q.set('host', opts.host);
      if (opts.source) q.set('source', opts.source);
      if (opts.byMinute) q.set('by', 'minute');
      const res = await client(cmd).get<LogStatsResponse>(`api/v1/logs/stats?${q.toString()}`);
      if (opts.json) return void process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
      if (res.rows.length === 0) return void process.stdout.write(`no log statistics since ${res.since}\n`);
      const t = table([...(opts.byMinute ? ['MINUTE'] : []), 'HOST', 'SOURCE', ...LEVELS, 'NONE', 'LINES']);
      for (const r of res.rows) t.push([...(opts.byMinute ? [r.minute ?? ''] : []), r.host, r.source, ...LEVELS.map((l) => r.levels[l] ?? 0), r.levels.NONE ?? 0, r.lines]);
      process.stdout.write(`${t.toString()}\n`);
    });
}

/** The controller's answer to GET /api/v1/logs/stats. */
export interface LogStatsResponse {
  since: string;
  rows: Array<{ host: string; source: string; minute?: string; levels: Record<string, number>; lines: number }>;
}
