import { z } from 'zod';
import { byteSize, duration } from '../duration.js';
import { LEVELS } from '../logs/levels.js';
import { isPresetName, PRESET_NAMES } from '../logs/presets/index.js';
import { compileUserRegex } from '../logs/regex-parser.js';
import { logRegexProblem } from '../logs/user-regex.js';
import { compileZone } from '../logs/timestamps.js';

/**
 * Schema of the agent's `logs:` section: a list of sources, each a set of globs tailed with one
 * parser, optional multiline joining, per-minute level statistics and window rules. Every regex
 * is compiled here, at load, so a bad pattern is a config error with its file position.
 */

/** A regex the linear-time engine accepts (RE2 syntax); the message names its complaint and where. */
const regexString = () =>
  z.string().min(1).superRefine((s, ctx) => {
    const problem = logRegexProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const parserSchema = z
  .object({
    preset: z.string().optional(),
    regex: z.string().optional(),
    /** Zone of timestamps written without one: UTC, local, +08:00 or an IANA name. */
    timezone: z.string().prefault('UTC'),
    /** Year for formats that omit it (syslog 3164); inferred from the clock when absent. */
    year: z.number().int().min(1970).max(9999).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.preset !== undefined && p.regex !== undefined) ctx.addIssue({ code: 'custom', path: ['regex'], message: 'write preset or regex, not both' });
    if (p.preset !== undefined && !isPresetName(p.preset)) ctx.addIssue({ code: 'custom', path: ['preset'], message: `unknown preset "${p.preset}" (one of ${PRESET_NAMES.join(', ')})` });
    if (p.regex !== undefined) {
      try {
        compileUserRegex(p.regex);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['regex'], message: (err as Error).message });
      }
    }
    try {
      compileZone(p.timezone);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['timezone'], message: (err as Error).message });
    }
  });
export type LogParserConfig = z.output<typeof parserSchema>;

const multilineSchema = z
  .object({
    /** A line matching this starts a new record; others are appended to the current one. */
    start: regexString(),
    max_lines: z.number().int().min(2).max(100_000).prefault(500),
    /** A pending record is emitted when no line followed it for this long. */
    timeout: duration({ min: 10 }).prefault('2s'),
  })
  .strict();
export type MultilineConfig = z.output<typeof multilineSchema>;

const level = z.enum(LEVELS);

const ruleSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'rule name: letters, digits, "_", "-", "."'),
    /** Counts lines at this level (a list: any of them). */
    level: z.union([level, z.array(level).min(1)]).optional(),
    /** Counts lines whose fields match every regex (field "message" is the message). */
    match: z.record(z.string(), regexString()).optional(),
    threshold: z.number().int().min(1),
    window: duration({ min: 100 }),
    /** Minimum time between two firings of the rule; default: the window. */
    cooldown: duration().optional(),
    severity: z.enum(['critical', 'warning', 'info']).prefault('warning'),
    /** Sample lines carried in the alert. */
    samples: z.number().int().min(0).max(20).prefault(3),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.level === undefined && r.match === undefined) ctx.addIssue({ code: 'custom', path: ['level'], message: 'a rule needs level, match, or both' });
  });
export type LogRuleConfig = z.output<typeof ruleSchema>;

const sourceSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'source name: letters, digits, "_", "-", "."'),
    /** Absolute globs (picomatch: *, **, {a,b}); a glob matching nothing is not an error. */
    paths: z.array(z.string().min(1).refine((p) => p.startsWith('/'), 'paths must be absolute')).min(1),
    /** Globs on the file name or full path to skip (e.g. "*.gz"). */
    exclude: z.array(z.string().min(1)).prefault([]),
    /** Where to begin in files that exist when the source is first started; files appearing later are read from their start. */
    start_at: z.enum(['end', 'beginning']).prefault('end'),
    multiline: multilineSchema.optional(),
    parser: parserSchema.prefault({}),
    rules: z.array(ruleSchema).prefault([]),
    /** Ship every parsed line as a `log` event (true), only lines matched by a rule, or none (stats only). */
    ship_lines: z.union([z.boolean(), z.literal('matched')]).prefault(false),
    /** Longer lines are cut to this and flagged truncated. */
    max_line_bytes: byteSize().prefault('64KiB'),
    /** Bytes of a file's head that identify it across renames (with device/inode for shorter files). */
    fingerprint_bytes: z.number().int().min(16).max(4096).prefault(256),
    /** How often open files are read. */
    poll_interval: duration({ min: 10 }).prefault('250ms'),
    /** How often the globs are expanded again to find new files. */
    scan_interval: duration({ min: 10 }).prefault('1s'),
    /** How often the per-minute level counts are shipped. */
    stats_interval: duration({ min: 100 }).prefault('60s'),
    /** A rotated-away file is dropped after it stayed at EOF this long. */
    rotate_wait: duration().prefault('5s'),
  })
  .strict();
export type LogSourceConfig = z.output<typeof sourceSchema>;

/** The agent's `logs:` list; source names must be unique (they key checkpoints and statistics). */
export const logsSchema = z.array(sourceSchema).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((s, i) => {
    if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate source name "${s.name}"` });
    seen.add(s.name);
    const ruleNames = new Set<string>();
    s.rules.forEach((r, j) => {
      if (ruleNames.has(r.name)) ctx.addIssue({ code: 'custom', path: [i, 'rules', j, 'name'], message: `duplicate rule name "${r.name}"` });
      ruleNames.add(r.name);
    });
  });
});
export type LogsConfig = z.output<typeof logsSchema>;
