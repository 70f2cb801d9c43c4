// Runs a log rule and a multiline joiner built from catastrophic-backtracking patterns over an
// input that makes a backtracking engine take minutes; prints "matched RULE JOINED" when done.
// Its own process, so a test can bound it with a deadline (a blocked event loop cannot).
import { logsSchema } from '../../shared/config/logs.js';
import { MultilineJoiner, type JoinedRecord } from '../../agent/logs/multiline.js';
import { compileSafeRegex } from '../../shared/regex.js';
import { WindowRule } from '../../agent/logs/window-rule.js';

const [cfg] = logsSchema.parse([{ name: 'x', paths: ['/x.log'], multiline: { start: '^(a+)+$' }, rules: [{ name: 'r', match: { line: '(a+)+$' }, threshold: 1, window: '1m' }] }]);
const evil = `${'a'.repeat(40)}!`;
const rule = new WindowRule(cfg!.rules[0]!);
const hits = [evil, 'a'.repeat(41)].filter((l) => rule.matches(undefined, l)).length;
const joiner = new MultilineJoiner(compileSafeRegex(cfg!.multiline!.start), 100, 1000, 65536);
const out: JoinedRecord[] = [];
for (const [i, text] of [evil, 'a'.repeat(41), evil].entries()) joiner.push({ text, start: i, end: i + 1, truncated: false }, 0, out);
joiner.flushIfIdle(10_000, out, true);
process.stdout.write(`matched ${hits} ${out.length}\n`);
