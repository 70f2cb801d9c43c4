import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { LogCollector } from '../../agent/logs/collector.js';
import { OutboxStore } from '../../agent/outbox/outbox-store.js';
import { logsSchema } from '../../shared/config/logs.js';
import { Child, REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Log rule matchers and multiline.start are user regexes: they run on RE2 (linear time). On a
 * backtracking RegExp, `(a+)+$` against 40 `a` and a `!` takes minutes and freezes the agent's loop.
 */
const tmp = tempDir('opsfleet-logs-re-');
const outboxes: OutboxStore[] = [];
after(() => {
  for (const o of outboxes) o.close();
  tmp.cleanup();
});

describe('user regexes in log sources', () => {
  it('a catastrophic-backtracking pattern in a rule and in multiline.start is matched in linear time', async () => {
    // In a child: on a backtracking engine the match never returns in test time, and a blocked
    // event loop could not even run this test's deadline.
    const child = new Child(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'logs', 'regex-rule-child.ts')]);
    try {
      await waitFor(() => child.stdout.includes('matched'), { timeout: 60_000, what: `the rule and joiner to finish\n${child.tail()}` });
    } finally {
      await child.stop(1000);
    }
    // The rule matches the all-"a" line only; the joiner makes two records (a lone line, then a start line with its continuation).
    assert.match(child.stdout, /matched 1 2/);
  });

  it('a log source with such patterns tails normally', async () => {
    const dir = join(tmp.path, 'a');
    mkdirSync(join(dir, 'state'), { recursive: true });
    writeFileSync(join(dir, 'x.log'), `${'a'.repeat(41)}\nnext\n`);
    const outbox = new OutboxStore(join(dir, 'state'), { hostId: 'h', instanceId: 'i' }, { maxEvents: 10_000, maxBytes: 1 << 26 });
    outboxes.push(outbox);
    const config = logsSchema.parse([
      { name: 'x', paths: [join(dir, 'x.log')], start_at: 'beginning', multiline: { start: '^(a+)+$', timeout: '50ms' }, rules: [{ name: 'r', match: { line: '(a+)+$' }, threshold: 1, window: '1m' }], poll_interval: '20ms' },
    ]);
    const c = new LogCollector({ config, sink: outbox, stateDir: join(dir, 'state'), logger: pino({ level: 'silent' }) });
    await c.start();
    await waitFor(() => c.sourceCounters().x!.lines >= 1, { what: 'the record read', timeout: 20_000 });
    await c.stop();
    assert.equal(c.sourceCounters().x!.lines, 1, 'one record: the start line and its continuation');
  });
});
