import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeLevel } from '../../shared/logs/levels.js';
import { createParser } from '../../shared/logs/parser.js';
import { PRESET_NAMES } from '../../shared/logs/presets/index.js';
import { templateOf } from '../../shared/logs/templates.js';

describe('level normalization', () => {
  it('maps the issue table, any case, keeping unknown tokens out', () => {
    const table: Record<string, string> = {
      VERBOSE: 'TRACE', V: 'TRACE', FINEST: 'TRACE', FINER: 'TRACE', trace3: 'TRACE',
      D: 'DEBUG', FINE: 'DEBUG', debug: 'DEBUG',
      I: 'INFO', NOTICE: 'INFO', Information: 'INFO', info: 'INFO',
      W: 'WARN', WARNING: 'WARN', warn: 'WARN',
      E: 'ERROR', ERR: 'ERROR', SEVERE: 'ERROR', error: 'ERROR',
      F: 'FATAL', CRIT: 'FATAL', CRITICAL: 'FATAL', ALERT: 'FATAL', EMERG: 'FATAL', PANIC: 'FATAL', fatal: 'FATAL',
    };
    for (const [raw, want] of Object.entries(table)) assert.equal(normalizeLevel(raw), want, raw);
    assert.equal(normalizeLevel('hello'), undefined);
    assert.equal(normalizeLevel(''), undefined);
  });
});

describe('presets', () => {
  it('nginx_access combined: fields, status → level, UTC time from the offset', () => {
    const p = createParser({ preset: 'nginx_access' });
    const r = p.parse('203.0.113.9 - alice [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 503 2326 "http://example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"')!;
    assert.equal(r.level, 'ERROR');
    assert.equal(r.fields.status, '503');
    assert.equal(r.fields.method, 'GET');
    assert.equal(r.fields.path, '/apache_pb.gif?x=1');
    assert.equal(r.fields.remote_user, 'alice');
    assert.equal(r.fields.user_agent, 'Mozilla/4.08 [en] (Win98; I ;Nav)');
    assert.equal(new Date(r.tsMs!).toISOString(), '2000-10-10T20:55:36.000Z');
    assert.equal(p.parse('1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 404 0 "-" "curl/8"')!.level, 'WARN');
    assert.equal(p.parse('1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 12')!.level, 'INFO');
    assert.equal(p.parse('garbage'), undefined);
  });

  it('apache_access accepts the common format too', () => {
    const r = createParser({ preset: 'apache_access' }).parse('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326')!;
    assert.equal(r.fields.bytes, '2326');
    assert.equal(r.level, 'INFO');
  });

  it('nginx_error: level, pid, connection and context fields, zone applied', () => {
    const p = createParser({ preset: 'nginx_error' }, { timezone: '+08:00' });
    const r = p.parse('2024/03/05 10:11:12 [crit] 1234#0: *77 open() "/srv/x" failed (13: Permission denied), client: 10.0.0.8, server: example.org, request: "GET /x HTTP/1.1", host: "example.org"')!;
    assert.equal(r.level, 'FATAL');
    assert.equal(r.fields.pid, '1234');
    assert.equal(r.fields.connection, '77');
    assert.equal(r.fields.client, '10.0.0.8');
    assert.equal(r.fields.request, 'GET /x HTTP/1.1');
    assert.equal(new Date(r.tsMs!).toISOString(), '2024-03-05T02:11:12.000Z');
  });

  it('apache_error 2.4 layout with module, pid/tid and client', () => {
    const r = createParser({ preset: 'apache_error' }).parse('[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187:5050] AH00128: File does not exist: /x')!;
    assert.equal(r.level, 'ERROR');
    assert.equal(r.fields.module, 'core');
    assert.equal(r.fields.tid, '4328636416');
    assert.equal(r.fields.client, '72.15.99.187:5050');
    assert.equal(r.message, 'AH00128: File does not exist: /x');
    assert.equal(new Date(r.tsMs!).toISOString(), '2000-10-11T14:32:52.123Z');
  });

  it('syslog RFC 5424 with PRI → level, structured data, UTC time', () => {
    const p = createParser({ preset: 'syslog' });
    const r = p.parse('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event log entry...')!;
    assert.equal(r.level, 'INFO'); // 165 = local4.notice
    assert.equal(r.fields.host, 'mymachine.example.com');
    assert.equal(r.fields.program, 'evntslog');
    assert.equal(r.fields.msgid, 'ID47');
    assert.ok(r.fields.structured_data!.includes('iut="3"'));
    assert.equal(r.message, 'An application event log entry...');
    assert.equal(new Date(r.tsMs!).toISOString(), '2003-10-11T22:14:15.003Z');
    const e = p.parse('<11>1 2024-01-02T03:04:05+02:00 h app 12 - - disk failed')!;
    assert.equal(e.level, 'ERROR');
    assert.equal(new Date(e.tsMs!).toISOString(), '2024-01-02T01:04:05.000Z');
    const hp = p.parse('2024-05-06T07:08:09.123456+02:00 web01 nginx[812]: worker started')!;
    assert.deepEqual([hp.fields.host, hp.fields.program, hp.fields.pid, hp.message], ['web01', 'nginx', '812', 'worker started']);
    assert.equal(new Date(hp.tsMs!).toISOString(), '2024-05-06T05:08:09.123Z');
    const bsd = p.parse('<34>Oct 11 22:14:15 mymachine su: \'su root\' failed for lonvick on /dev/pts/8')!;
    assert.equal(bsd.level, 'FATAL');
  });

  it('syslog 3164 year inference: December lines read in January belong to last year', () => {
    const p = createParser({ preset: 'syslog' }, { now: () => Date.UTC(2025, 0, 3) });
    assert.equal(new Date(p.parse('Dec 31 23:59:59 h cron[1]: x')!.tsMs!).getUTCFullYear(), 2024);
    assert.equal(new Date(p.parse('Jan  2 00:00:00 h cron[1]: x')!.tsMs!).getUTCFullYear(), 2025);
    const tz = createParser({ preset: 'syslog' }, { year: 2024, timezone: 'Asia/Shanghai' });
    assert.equal(new Date(tz.parse('Jul  1 08:00:00 h cron: x')!.tsMs!).toISOString(), '2024-07-01T00:00:00.000Z');
    const ny = createParser({ preset: 'syslog' }, { year: 2024, timezone: 'America/New_York' });
    assert.equal(new Date(ny.parse('Jan 15 12:00:00 h cron: x')!.tsMs!).toISOString(), '2024-01-15T17:00:00.000Z');
    assert.equal(new Date(ny.parse('Jul 15 12:00:00 h cron: x')!.tsMs!).toISOString(), '2024-07-15T16:00:00.000Z');
  });

  it('log4j layouts: level first, thread first, bracketed time', () => {
    const p = createParser({ preset: 'log4j' });
    const a = p.parse('2024-01-02 03:04:05,678 ERROR [main] com.acme.Foo - it broke')!;
    assert.deepEqual([a.level, a.fields.thread, a.fields.logger, a.message], ['ERROR', 'main', 'com.acme.Foo', 'it broke']);
    assert.equal(new Date(a.tsMs!).toISOString(), '2024-01-02T03:04:05.678Z');
    const b = p.parse('2024-01-02T03:04:05.678Z [pool-1-thread-3] WARN  org.x.Y - slow')!;
    assert.deepEqual([b.level, b.fields.thread, b.fields.logger, b.message], ['WARN', 'pool-1-thread-3', 'org.x.Y', 'slow']);
    const c = p.parse('[2024-01-02 03:04:05,678] SEVERE something odd')!;
    assert.equal(c.level, 'ERROR');
    assert.equal(p.parse('\tat com.acme.Foo.bar(Foo.java:12)'), undefined);
    assert.equal(p.parse('2024-01-02 03:04:05,678 NOTALEVEL x'), undefined);
  });

  it('json: pino numeric levels, ISO and epoch times, message keys', () => {
    const p = createParser({ preset: 'json' });
    const a = p.parse('{"level":50,"time":1700000000000,"msg":"db down","host":"a","n":3}')!;
    assert.deepEqual([a.level, a.tsMs, a.message, a.fields.n], ['ERROR', 1700000000000, 'db down', '3']);
    const b = p.parse('{"@timestamp":"2024-01-02T03:04:05Z","log.level":"warning","message":"m"}')!;
    assert.deepEqual([b.level, b.tsMs], ['WARN', Date.UTC(2024, 0, 2, 3, 4, 5)]);
    const c = p.parse('{"severity":"E","ts":1700000000.5,"message":"x"}')!;
    assert.deepEqual([c.level, c.tsMs], ['ERROR', 1700000000500]);
    assert.equal(p.parse('{"status":200,"msg":"GET /"}')!.level, 'INFO', 'an HTTP status is not a pino level');
    assert.equal(p.parse('{"status":503,"msg":"GET /"}')!.level, 'ERROR');
    assert.equal(p.parse('{not json'), undefined);
    assert.equal(p.parse('[1,2]'), undefined);
  });

  it('auto: json, bracketed levels, bare level tokens; nothing for plain prose', () => {
    const p = createParser(undefined);
    assert.equal(p.parse('{"level":"error","msg":"x"}')!.level, 'ERROR');
    assert.equal(p.parse('2024-01-02 03:04:05 [warn] disk 91% full')!.level, 'WARN');
    // The header ends at the first plain word: a level word after it is the message's (issue 15).
    assert.equal(p.parse('worker 3: ERROR: could not connect'), undefined);
    assert.equal(p.parse('<E> 12:00:01 could not connect')!.level, 'ERROR');
    assert.equal(p.parse('ts=2024 level=debug msg=x')!.level, 'DEBUG');
    assert.equal(p.parse('just some words here'), undefined);
  });

  it('user regex: named groups become fields; bad regex is a clear error', () => {
    const p = createParser({ regex: '^(?<ts>\\S+ \\S+) (?<level>\\w+) (?<msg>.*)$' });
    const r = p.parse('2024-01-02 03:04:05 E boom happened')!;
    assert.deepEqual([r.level, r.fields.level_raw, r.message], ['ERROR', 'E', 'boom happened']);
    assert.equal(r.tsMs, Date.UTC(2024, 0, 2, 3, 4, 5));
    assert.throws(() => createParser({ regex: '^(?<ts>' }), (e: Error & { code?: string }) => e.code === 'OPS_ERR_LOGS_REGEX' && /invalid regex/.test(e.message));
    assert.throws(() => createParser({ regex: '^\\w+$' }), /named groups/);
    assert.throws(() => createParser({ preset: 'nope' }), (e: Error & { code?: string }) => e.code === 'OPS_ERR_LOGS_PRESET');
  });

  it('every registered preset survives binary garbage and a huge line', () => {
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('utf8');
    const huge = 'x'.repeat(1_000_000);
    for (const name of PRESET_NAMES) {
      const p = createParser({ preset: name });
      p.parse(garbage);
      p.parse(huge);
      p.parse('');
    }
  });
});

describe('templates', () => {
  it('masks numbers, ips, ids and paths but keeps names with digits', () => {
    assert.equal(templateOf('Accepted password for root from 10.1.2.3 port 2222 ssh2'), 'Accepted password for root from <*> port <*> ssh2');
    assert.equal(templateOf('workerEnv.init() ok /etc/httpd/conf/workers2.properties'), 'workerEnv.init() ok <*>');
    assert.equal(templateOf('req 550e8400-e29b-41d4-a716-446655440000 took 12.5ms'), 'req <*> took <*>ms');
    assert.equal(templateOf('block blk_-6952295868487656571 size 67108864'), 'block blk_<*> size <*>');
  });
});

describe('templates, more shapes', () => {
  it('hex literals, hex ids, signs, trailing punctuation, ports', () => {
    assert.equal(templateOf('addr 0x7ffe12 id deadbeef0123 ok'), 'addr <*> id <*> ok');
    assert.equal(templateOf('from /10.251.73.220:50010 done.'), 'from /<*> done.');
    assert.equal(templateOf('src: 10.251.73.220:50010 dest: x'), 'src: <*> dest: x');
    assert.equal(templateOf('got 3 items, 7.'), 'got <*> items, <*>.');
    assert.equal(templateOf('sshd(pam_unix)[19939]: user=root'), 'sshd(pam_unix)[<*>]: user=root');
    assert.equal(templateOf('no digits here'), 'no digits here');
  });
});
