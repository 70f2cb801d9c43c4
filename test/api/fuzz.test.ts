import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ROUTE_POLICIES } from '../../controller/auth/roles.js';
import { createToken, startController, type ControllerProc } from '../helpers/daemons.js';
import { rawRequest } from '../helpers/http.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';

/** Query values keep raw "%" (malformed escapes are the point) but escape what HTTP forbids in a path. */
/** Path parameters as a hostile client writes them: any text, percent-encoded or raw garbage escapes. */
const segment = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }).map((s) => encodeURIComponent(s)),
  fc.constantFrom('%', '%Z', '%ZZ', '%E0%A4%A', '%ff', '%C0%80', '%00', '..', '%2e%2e', '%2F', '*'),
  fc.stringMatching(/^[A-Za-z0-9%._~-]{1,30}$/),
);

const queryValue = fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String), fc.constantFrom('-1', '1e400', 'NaN', '%', '%ZZ', '', 'true', 'all', 'minute', '(((('));
const query = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom('limit', 'since', 'state', 'host', 'kind', 'all', 'by', 'level', 'source', 'targets', 'ports', 'concurrency', 'timeout', 'policy', 'receiver', 'set'), fc.string({ maxLength: 8 })), queryValue), { maxLength: 4 })
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${v.replace(/[^A-Za-z0-9%._~-]/g, (c) => encodeURIComponent(c))}`).join('&')}` : ''));

/** Bodies: any JSON, JSON shaped like the routes' own fields with wrong types, or raw bytes. */
const fieldNames = ['policy', 'playbook', 'command', 'target', 'concurrency', 'batch', 'max_fail', 'timeout', 'dry_run', 'matchers', 'duration', 'endsAt', 'startsAt', 'comment', 'createdBy', 'labels', 'annotations', 'name', 'role', 'ttl', 'playbooks', 'to', 'snapshot', 'at_ms', 'path', 'read_data', 'actor'];
const body = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.dictionary(fc.constantFrom(...fieldNames), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }).map((o) => JSON.stringify(o)),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.constant(''),
  fc.constantFrom('{"matchers":["a=~(a+)+$"],"duration":"1h"}', '{"playbook":"inspect","target":"((((((((((","dry_run":true}', '{"name":"x","role":"admin","ttl":"-5m"}', '{"policy":"nope"}', '[{"labels":{}}]'),
);

/**
 * Property-based fuzzing of every HTTP route (issue 12, Done when): whatever the path, query,
 * body and token, the controller answers, never with a 5xx, and no promise goes unhandled.
 */
describe('API fuzzing: every route, random paths, queries, bodies and tokens', () => {
  const dir = tempDir('opsfleet-api-fuzz-');
  let nats: NatsServer;
  let ctl: ControllerProc;
  let token = '';

  before(async () => {
    nats = await NatsServer.start();
    ctl = await startController({
      natsUrl: nats.url,
      dir: dir.path,
      extraYaml: 'playbooks:\n  inspect: { steps: [ { builtin: load } ] }',
      httpExtra: 'auth: { max_failures: 1000000 }',
    });
    token = await createToken(ctl.url, { name: 'fuzzer', role: 'admin' });
  });
  after(async () => {
    await ctl?.child.stop();
    await nats?.stop();
    dir.cleanup();
  });

  for (const key of Object.keys(ROUTE_POLICIES)) {
    const [method, pattern] = key.split(' ') as [string, string];
    it(`${key}: no 5xx, no hang`, async () => {
      const params = (pattern.match(/:[a-zA-Z]+/g) ?? []).length;
      await fc.assert(
        fc.asyncProperty(fc.array(segment, { minLength: params, maxLength: params }), query, body, fc.oneof(fc.constant(token), fc.constant(token), fc.string({ maxLength: 60 })), async (segs, q, b, tok) => {
          let i = 0;
          const path = pattern.replace(/:[a-zA-Z]+/g, () => segs[i++]!) + q;
          const r = await rawRequest(ctl.url, { method, path, token: tok, ...(method === 'GET' ? {} : { body: b }), timeoutMs: 15_000, streamHeadersOnly: true });
          assert.ok(r.status < 500, `${method} ${path} body ${JSON.stringify(b).slice(0, 200)} → ${r.status} ${r.text.slice(0, 300)}`);
        }),
        { numRuns: 25 },
      );
    });
  }

  it('left no unhandled rejection and no failed request in the controller', async () => {
    const m = await rawRequest(ctl.url, { path: '/metrics' });
    assert.match(m.text, /^opsfleet_unhandled_rejections_total 0$/m);
    const bad = ctl.child.logs().filter((l) => l.msg === 'unhandled promise rejection' || l.msg === 'request failed' || l.msg === 'uncaught exception');
    assert.deepEqual(bad, []);
    assert.ok(ctl.child.running);
  });
});
