// The quickstart's demo service: everything it touches is under $OPSFLEET_QS_DATA/demo.
// The agent starts and supervises it (check demo-web in .data/agent.yaml): it answers
// GET /healthz on 127.0.0.1:$OPSFLEET_QS_DEMO_PORT, writes a JSON-lines app log (tailed by the
// agent's log source demo-app) and touches a liveness file (check demo-alive).
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const port = Number(process.env.OPSFLEET_QS_DEMO_PORT);
const data = process.env.OPSFLEET_QS_DATA;
if (!Number.isInteger(port) || port <= 0 || !data) {
  process.stderr.write('demo-web: OPSFLEET_QS_DEMO_PORT and OPSFLEET_QS_DATA must be set (scripts/quickstart.sh sets them)\n');
  process.exit(2);
}
const dir = join(data, 'demo');
mkdirSync(join(dir, 'logs'), { recursive: true });
const logFile = join(dir, 'logs', 'app.log');
const log = (level, msg, extra = {}) => appendFileSync(logFile, `${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...extra })}\n`);

let served = 0;
const server = createServer((req, res) => {
  served++;
  if (req.url === '/healthz') {
    res.end('ok\n');
    log('info', 'health probe answered', { path: req.url, status: 200 });
    return;
  }
  res.statusCode = 404;
  res.end('not found\n');
  log('warn', 'unknown path', { path: req.url, status: 404 });
});
server.listen(port, '127.0.0.1', () => log('info', 'demo-web listening', { port }));

// Some background activity, so `opsctl logs stats` has levels to count.
setInterval(() => {
  writeFileSync(join(dir, 'alive'), `ok ${new Date().toISOString()} served=${served}\n`);
  log(Math.random() < 0.1 ? 'warn' : 'info', 'background job done', { served });
}, 2000);

const stop = () => {
  log('info', 'demo-web stopping');
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
