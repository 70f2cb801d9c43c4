import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MultilineJoiner, type JoinedRecord } from '../../agent/logs/multiline.js';
import { WindowRule } from '../../agent/logs/window-rule.js';
import { logsSchema } from '../../shared/config/logs.js';
import { createParser } from '../../shared/logs/parser.js';
import { compileLogRegex } from '../../shared/logs/user-regex.js';
import { runCommand } from '../helpers/daemons.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Issue 12 item 1, for logs: every regex a user writes for logs runs in linear time. The
 * hostile input of the issue (`(a+)+$` against 53 "a" and a "!") takes 2^53 steps on a
 * backtracking engine, so on the old code each of these tests hangs until the runner's
 * timeout fails it; on RE2 semantics it is one pass over the line.
 */
const tmp = tempDir('opsfleet-logs-regex-');
after(() => tmp.cleanup());
const HOSTILE = `${'a'.repeat(53)}!`;
const T = { timeout: 30_000 };

describe('log regexes run in linear time (issue 12 item 1)', () => {
  it('a rule match value (a+)+$ does not hang on the hostile line', T, () => {
    const cfg = logsSchema.parse([{ name: 's', paths: ['/x'], rules: [{ name: 'r', match: { message: '(a+)+$' }, threshold: 1, window: '1s' }] }])[0]!.rules[0]!;
    const r = new WindowRule(cfg);
    assert.equal(r.matches({ message: HOSTILE, fields: {} }, HOSTILE), false);
    assert.equal(r.matches({ message: 'aaa', fields: {} }, 'aaa'), true);
  });

  it('a parser regex with a nested quantifier does not hang', T, () => {
    const p = createParser({ regex: '^(?<level>[A-Z]+) (?<message>(a+)+$)' });
    assert.equal(p.parse(`ERROR ${HOSTILE}`), undefined);
    assert.equal(p.parse('ERROR aaaa')?.level, 'ERROR');
    // (?P<name>…) (RE2's spelling) names groups too, and "." spans joined multiline records.
    const q = createParser({ regex: '^(?P<level>\\w+) (?P<message>.*)$' });
    assert.deepEqual([q.parse('WARN two\nlines')?.level, q.parse('WARN two\nlines')?.message], ['WARN', 'two\nlines']);
  });

  it('multiline.start runs on the same engine', T, () => {
    const cfg = logsSchema.parse([{ name: 's', paths: ['/x'], multiline: { start: '^(a+)+$' } }])[0]!;
    const j = new MultilineJoiner(compileLogRegex(cfg.multiline!.start), 10, 1000, 1 << 16);
    const out: JoinedRecord[] = [];
    j.push({ text: 'aaa', start: 0, end: 4, truncated: false }, 0, out);
    j.push({ text: HOSTILE, start: 4, end: 59, truncated: false }, 0, out);
    j.flushIfIdle(0, out, true);
    assert.equal(out.length, 1, 'the hostile line is a continuation');
    assert.equal(out[0]!.lines, 2);
  });

  it('opsctl logs analyze --regex with a nested quantifier finishes on hostile input', T, async () => {
    const file = join(tmp.path, 'hostile.log');
    writeFileSync(file, `${Array.from({ length: 50 }, () => `ERROR ${HOSTILE}`).join('\n')}\nERROR aaaa\n`);
    const r = await runCommand('opsctl', ['logs', 'analyze', '--json', '--regex', '^(?<level>[A-Z]+) (?<message>(a+)+$)', file], {}, 25_000);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { lines: number; parsed: number };
    assert.deepEqual([s.lines, s.parsed], [51, 1]);
  });

  it('patterns RE2 refuses (lookaround, backreferences) are config errors with file:line:col and the position in the pattern', T, async () => {
    const file = join(tmp.path, 'agent.yaml');
    writeFileSync(
      file,
      [
        'nats: { servers: ["nats://127.0.0.1:4222"] }',
        `state_dir: ${join(tmp.path, 'state')}`,
        'logs:',
        '  - name: app',
        '    paths: ["/var/log/app/*.log"]',
        "    multiline: { start: '^(\\d)\\1' }",
        "    parser: { regex: '^(?<level>\\w+) (?=x)(?<message>.*)' }",
        '    rules:',
        "      - { name: r, match: { message: 'fail(?!ed)' }, threshold: 1, window: 60s }",
        '',
      ].join('\n'),
    );
    const r = await runCommand('opsfleet-agent', ['--config', file]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const out = r.stdout + r.stderr;
    assert.match(out, /agent\.yaml:6:\d+ logs\[0\]\.multiline\.start: invalid regex .* at character 6: invalid escape sequence: `\\1`/);
    assert.match(out, /agent\.yaml:7:\d+ logs\[0\]\.parser\.regex: invalid regex .* at character 16: invalid or unsupported Perl syntax: `\(\?=`/);
    assert.match(out, /agent\.yaml:9:\d+ logs\[0\]\.rules\[0\]\.match\.message: invalid regex .* at character 5: invalid or unsupported Perl syntax: `\(\?!`/);
  });
});
