import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { LogCollector } from '../../agent/logs/collector.js';
import { OutboxStore } from '../../agent/outbox/outbox-store.js';
import { logsSchema } from '../../shared/config/logs.js';
import { Event } from '../../shared/gen/opsfleet/v1/events.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** Issue 20 item 10: UTF-16 log files had their lines counted but their levels lost (NUL bytes in every line). */
const tmp = tempDir('opsfleet-logs-enc-');
const outboxes: OutboxStore[] = [];
after(() => {
  for (const o of outboxes) o.close();
  tmp.cleanup();
});
let n = 0;

function be(s: string): Buffer {
  return Buffer.from(s, 'utf16le').swap16();
}

async function tail(file: string, content: Buffer, more?: Buffer, count?: number): Promise<Array<{ message: string; level: string | null; offset: number; truncated?: boolean }>> {
  const dir = join(tmp.path, `e${++n}`);
  mkdirSync(join(dir, 'state'), { recursive: true });
  const path = join(dir, file);
  writeFileSync(path, content);
  const outbox = new OutboxStore(join(dir, 'state'), { hostId: 'h', instanceId: 'i' }, { maxEvents: 100_000, maxBytes: 1 << 28 });
  outboxes.push(outbox);
  const config = logsSchema.parse([{ name: 'enc', paths: [path], start_at: 'beginning', ship_lines: true, parser: { preset: 'log4j' }, max_line_bytes: 200, poll_interval: '20ms', scan_interval: '50ms' }]);
  const c = new LogCollector({ config, sink: outbox, stateDir: join(dir, 'state'), logger: pino({ level: 'silent' }) });
  const lines = () =>
    outbox
      .peek(0, 100_000)
      .map((r) => Event.decode(r.data))
      .filter((e) => e.json?.includes('"type":"lines"'))
      .flatMap((e) => (JSON.parse(e.json!) as { lines: Array<{ message: string; level: string | null; offset: number; truncated?: boolean }> }).lines);
  await c.start();
  if (more) {
    await waitFor(() => c.sourceCounters().enc!.lines >= 1, { what: 'first lines' });
    appendFileSync(path, more);
  }
  await waitFor(() => lines().length >= (count ?? 0) && c.sourceCounters().enc!.lines >= (count ?? 1), { what: `${count} lines of ${file}` });
  await c.stop();
  return lines();
}

const text = [
  '2024-01-02 03:04:05,000 INFO [main] a.B - started ünïcødé 日本',
  // U+0A0A (Gurmukhi) and U+010A (Ċ) put a 0x0A byte inside a UTF-16 unit: not a newline.
  '2024-01-02 03:04:06,000 ERROR [main] a.B - failed \u0A0A\u010A here',
  '2024-01-02 03:04:07,000 WARN [main] a.B - crlf line',
];

describe('log file encodings', () => {
  it('UTF-16 LE with BOM: lines split on 16-bit newlines only, decoded, levels right, CRLF stripped', async () => {
    const body = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${text[0]}\n${text[1]}\n${text[2]}\r\n`, 'utf16le')]);
    const got = await tail('win.log', body, Buffer.from('2024-01-02 03:04:08,000 DEBUG [main] a.B - appended later\n', 'utf16le'), 4);
    assert.deepEqual(got.map((l) => [l.level, l.message]), [
      ['INFO', 'started ünïcødé 日本'],
      ['ERROR', 'failed \u0A0A\u010A here'],
      ['WARN', 'crlf line'],
      ['DEBUG', 'appended later'],
    ]);
    assert.equal(got[0]!.offset, 2, 'offsets are byte offsets after the BOM');
  });

  it('UTF-16 BE with BOM and UTF-16 LE without a BOM', async () => {
    const bigEndian = await tail('be.log', Buffer.concat([Buffer.from([0xfe, 0xff]), be(`${text[0]}\n${text[1]}\n`)]), undefined, 2);
    assert.deepEqual(bigEndian.map((l) => [l.level, l.message]), [['INFO', 'started ünïcødé 日本'], ['ERROR', 'failed \u0A0A\u010A here']]);
    const noBom = await tail('nobom.log', Buffer.from(`${text[2]}\n`, 'utf16le'), undefined, 1);
    assert.deepEqual(noBom.map((l) => [l.level, l.message]), [['WARN', 'crlf line']]);
  });

  it('UTF-8 with BOM: the BOM is not part of the first line; a long UTF-16 line is cut on a unit boundary', async () => {
    const bom8 = await tail('bom8.log', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${text[1]}\n`)]), undefined, 1);
    assert.deepEqual(bom8.map((l) => [l.level, l.message]), [['ERROR', 'failed \u0A0A\u010A here']]);
    const long = `2024-01-02 03:04:05,000 ERROR [m] a.B - ${'€'.repeat(300)}`;
    const cut = await tail('long16.log', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${long}\n${text[2]}\n`, 'utf16le')]), undefined, 2);
    assert.equal(cut.length, 2);
    assert.equal(cut[0]!.truncated, true);
    assert.equal(cut[0]!.level, 'ERROR');
    assert.ok(!cut[0]!.message.includes('\uFFFD'), 'no half unit at the cut');
    assert.deepEqual([cut[1]!.level, cut[1]!.message], ['WARN', 'crlf line']);
  });
});
