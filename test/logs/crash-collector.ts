// A log collector over a real outbox, run as its own process so a test can SIGKILL it at an exact
// point: with KILL_ON_STATS=1 it kills itself (SIGKILL, no cleanup) right after the first stats
// event is committed to the outbox — between a stats flush and anything that follows it.
// Prints "read N" whenever its line counter changes; SIGTERM stops it cleanly.
// Usage: node --import tsx crash-collector.ts STATE_DIR LOG_FILE BASE_MINUTE_MS
import { pino } from 'pino';
import { LogCollector } from '../../agent/logs/collector.js';
import { OutboxStore } from '../../agent/outbox/outbox-store.js';
import { logsSchema } from '../../shared/config/logs.js';
import { Event } from '../../shared/gen/opsfleet/v1/events.js';

const [stateDir, logFile, baseS] = process.argv.slice(2);
const outbox = new OutboxStore(stateDir!, { hostId: 'h1', instanceId: 'i1' }, { maxEvents: 1_000_000, maxBytes: 1 << 30 });
if (process.env.KILL_ON_STATS === '1') {
  outbox.onAppend(() => {
    const stats = outbox.peek(0, 1_000_000).some((r) => (Event.decode(r.data).json ?? '').includes('"type":"stats"'));
    if (stats) process.kill(process.pid, 'SIGKILL');
  });
}
// A clock pinned inside one minute: the level counts of both runs fall in the same bucket.
const started = Date.now();
const base = Number(baseS);
const config = logsSchema.parse([{ name: 'src', paths: [logFile], start_at: 'beginning', poll_interval: '20ms', scan_interval: '50ms', stats_interval: '200ms' }]);
const collector = new LogCollector({ config, sink: outbox, stateDir: stateDir!, logger: pino({ level: 'silent' }), now: () => base + (Date.now() - started) });
await collector.start();
let last = -1;
const timer = setInterval(() => {
  const n = collector.sourceCounters().src!.lines;
  if (n !== last) process.stdout.write(`read ${n}\n`);
  last = n;
}, 20);
process.once('SIGTERM', () => {
  clearInterval(timer);
  void collector.stop().then(() => {
    outbox.close();
    process.stdout.write('stopped\n');
  });
});
