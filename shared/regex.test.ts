import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileSafeRegex, safeRegexProblem } from './regex.js';
import { OpsError } from './errors.js';

describe('compileSafeRegex (RE2 semantics, linear time)', () => {
  it('matches the classic catastrophic pattern in linear time', () => {
    const re = compileSafeRegex('(a+)+$');
    const started = process.hrtime.bigint();
    // 10,000 a's and a '!' would take a backtracking engine longer than the universe's age.
    assert.equal(re.matchesWhole('a'.repeat(10_000) + '!'), false);
    assert.equal(re.test('a'.repeat(10_000)), true);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(ms < 5_000, `took ${ms} ms`);
  });

  it('names groups in both syntaxes and reports them', () => {
    const re = compileSafeRegex('^(?<level>[A-Z]+) (?P<msg>.*)$');
    assert.deepEqual([...re.groupNames].sort(), ['level', 'msg']);
    const m = re.exec('WARN disk low');
    assert.deepEqual(m?.groups, { level: 'WARN', msg: 'disk low' });
    assert.equal(m?.index, 0);
    assert.equal(re.exec('nothing here'), null);
  });

  it('refuses backreferences and lookaround with a coded, readable error', () => {
    for (const bad of ['(a)\\1', 'foo(?=bar)', '(?<!x)y', '[']) {
      assert.throws(() => compileSafeRegex(bad), (err: unknown) => err instanceof OpsError && err.code === 'OPS_ERR_REGEX_SYNTAX' && err.message.includes(JSON.stringify(bad)));
      assert.match(safeRegexProblem(bad) ?? '', /invalid regex/);
    }
    assert.equal(safeRegexProblem('^ok$'), undefined);
  });

  it('honours case-insensitive and dot-all options', () => {
    assert.equal(compileSafeRegex('error', { ignoreCase: true }).test('ERROR x'), true);
    assert.equal(compileSafeRegex('a.b').test('a\nb'), false);
    assert.equal(compileSafeRegex('a.b', { dotAll: true }).test('a\nb'), true);
  });
});
