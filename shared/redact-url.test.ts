import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../test/helpers/tmp.js';
import { natsSchema } from './config/common.js';
import { OpsError } from './errors.js';
import { createRootLogger } from './logger.js';
import { connectNats } from './nats/connect.js';
import { redactDeep, redactUrlCredentials } from './redact-url.js';

const dir = tempDir('opsfleet-redact-');
after(() => dir.cleanup());

describe('credentials in URLs never reach a log line or an answer', () => {
  it('redactUrlCredentials drops the whole user-info, wherever the URL sits in the text', () => {
    assert.equal(redactUrlCredentials('nats://u:PASSWORD@host:4222'), 'nats://[redacted]@host:4222');
    assert.equal(redactUrlCredentials('cannot connect to NATS nats://TOKEN@h:1, tls://a:b@c:2: refused'), 'cannot connect to NATS nats://[redacted]@h:1, tls://[redacted]@c:2: refused');
    assert.equal(redactUrlCredentials('GET https://u:p%40ss@example.test/health?x=1'), 'GET https://[redacted]@example.test/health?x=1');
    // Left alone: no user-info, an @ in a path, an e-mail address.
    for (const s of ['nats://127.0.0.1:4222', 'http://h/a@b', 'ops@example.test', 'mailto:ops@example.test']) assert.equal(redactUrlCredentials(s), s);
  });

  it('redactDeep copies only what changes and keeps an error its class and code', () => {
    const clean = { a: ['x', { b: 1 }] };
    assert.equal(redactDeep(clean), clean);
    const err = new OpsError('OPS_ERR_X', 'dial nats://u:PASSWORD@h:1 failed');
    const out = redactDeep({ err, list: ['nats://u:PASSWORD@h:1'] });
    assert.ok(out.err instanceof OpsError);
    assert.equal(out.err.code, 'OPS_ERR_X');
    assert.doesNotMatch(JSON.stringify({ m: out.err.message, s: out.err.stack, l: out.list }), /PASSWORD/);
    assert.match(err.message, /PASSWORD/, 'the original error is not modified');
  });

  it('the root logger redacts URLs in fields, messages and errors', () => {
    const file = join(dir.path, 'log.jsonl');
    const fd = openSync(file, 'w');
    const log = createRootLogger({ name: 't', destination: fd });
    log.info({ servers: ['nats://u:PASSWORD@h:4222'] }, 'connecting to nats');
    log.error({ err: new Error('cannot connect to NATS nats://u:PASSWORD@h:4222') }, 'nats connection failed');
    log.child({ component: 'c' }).warn('retrying nats://TOKEN1234@h:4222');
    closeSync(fd);
    const text = readFileSync(file, 'utf8');
    assert.equal(text.trim().split('\n').length, 3);
    assert.doesNotMatch(text, /PASSWORD|TOKEN1234/);
    assert.match(text, /nats:\/\/\[redacted\]@h:4222/);
  });

  it('a failed NATS connection names the server without its credentials', async () => {
    const cfg = natsSchema.parse({ servers: ['nats://u:PASSWORD@127.0.0.1:1'], connect_timeout: '1s' });
    const err = await connectNats(cfg, { name: 't', logger: createRootLogger({ name: 't', level: 'silent' }), waitOnFirstConnect: false }).then(
      () => assert.fail('connected to port 1'),
      (e: unknown) => e as OpsError,
    );
    assert.equal(err.code, 'OPS_ERR_NATS_CONNECT');
    assert.match(err.message, /nats:\/\/\[redacted\]@127\.0\.0\.1:1/);
    assert.doesNotMatch(err.message, /PASSWORD/);
  });
});
