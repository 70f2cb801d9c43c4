import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { LogSource } from '../../agent/logs/log-source.js';
import { logsSchema } from '../../shared/config/logs.js';
import { tempDir } from '../helpers/tmp.js';

const tmp = tempDir('opsfleet-fmtlog-');
after(() => tmp.cleanup());

/** A pino logger whose lines are kept, parsed, for the test to read. */
function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const log4j = (n: number) => Array.from({ length: n }, (_, i) => `2024-01-02 03:04:05,${String(i % 1000).padStart(3, '0')} INFO [main] com.acme.App - request ${i} done\n`).join('');
const syslog = (n: number) => Array.from({ length: n }, (_, i) => `Jun  9 06:06:20 host sshd[${i}]: session opened for user u${i}\n`).join('');

describe('the agent logs the format auto chose, per file', () => {
  it('at first detection and when the file turns into another format; a configured preset logs none', async () => {
    const dir = join(tmp.path, 'a');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'app.log');
    writeFileSync(file, log4j(40));
    const { logger, lines } = capture();
    const [cfg] = logsSchema.parse([{ name: 's', paths: [file], start_at: 'beginning' }]);
    const src = new LogSource(cfg!, undefined, logger);
    src.scan(Date.now());
    let r = src.poll(Date.now(), 10_000);
    assert.equal(r.records.length, 40);
    assert.equal(r.records[0]!.parsed?.level, 'INFO');
    src.commit(r, Date.now());
    // A concatenated file: 300 syslog lines after the log4j ones make auto look again.
    appendFileSync(file, syslog(300));
    r = src.poll(Date.now(), 10_000);
    src.commit(r, Date.now());
    src.close();
    await new Promise((res) => setImmediate(res));
    const fmt = lines.filter((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('log format'));
    assert.deepEqual(
      fmt.map((l) => [l.msg, l.path, l.format, l.previous]),
      [
        ['log format detected', file, 'log4j', undefined],
        ['log format changed', file, 'syslog', 'log4j'],
      ],
    );

    const other = join(dir, 'other.log');
    writeFileSync(other, log4j(40));
    const c2 = capture();
    const [preset] = logsSchema.parse([{ name: 'p', paths: [other], start_at: 'beginning', parser: { preset: 'log4j' } }]);
    const src2 = new LogSource(preset!, undefined, c2.logger);
    src2.scan(Date.now());
    assert.equal(src2.poll(Date.now(), 10_000).records.length, 40);
    src2.close();
    await new Promise((res) => setImmediate(res));
    assert.equal(c2.lines.filter((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('log format')).length, 0);
  });
});
