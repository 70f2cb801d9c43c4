import assert from 'node:assert/strict';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../test/helpers/tmp.js';
import { createRootLogger, writesToJournal } from './logger.js';

const dir = tempDir('opsfleet-logger-');
after(() => dir.cleanup());

describe('root logger under systemd (shared/logger.ts)', () => {
  it('JOURNAL_STREAM matching the output fd: lines carry no time of their own (the journal stamps them); elsewhere they do', () => {
    const file = join(dir.path, 'out.log');
    const fd = openSync(file, 'w');
    try {
      const st = fstatSync(fd);
      const env = { JOURNAL_STREAM: `${st.dev}:${st.ino}` };
      assert.equal(writesToJournal(fd, env), true);
      assert.equal(writesToJournal(fd, { JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` }), false, 'inherited by a child writing elsewhere');
      assert.equal(writesToJournal(fd, {}), false);
      assert.equal(writesToJournal(fd, { JOURNAL_STREAM: 'garbage' }), false);
      const saved = process.env.JOURNAL_STREAM;
      process.env.JOURNAL_STREAM = env.JOURNAL_STREAM;
      try {
        createRootLogger({ name: 't', destination: fd }).info('journal line');
        process.env.OPSFLEET_LOG_TIME = '1';
        createRootLogger({ name: 't', destination: fd }).info('forced time');
      } finally {
        delete process.env.OPSFLEET_LOG_TIME;
        if (saved === undefined) delete process.env.JOURNAL_STREAM;
        else process.env.JOURNAL_STREAM = saved;
      }
      createRootLogger({ name: 't', destination: fd }).info('plain line');
    } finally {
      closeSync(fd);
    }
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; time?: string });
    assert.deepEqual(lines.map((l) => [l.msg, typeof l.time]), [['journal line', 'undefined'], ['forced time', 'string'], ['plain line', 'string']]);
  });
});
