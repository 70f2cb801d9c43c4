import { strict as assert } from 'node:assert';
import { after, afterEach, describe, it } from 'node:test';
import { alertingSchema } from '../../shared/config/alerting.js';
import { parseConfigText } from '../../shared/config/load.js';
import { OpsError } from '../../shared/errors.js';
import { compileMatcher, parseMatcher } from '../../shared/alerts/matchers.js';
import { tempDir } from '../helpers/tmp.js';
import { postJson, startApi, startManager } from './harness.js';

// Issue 12 item 1: every user-supplied matcher regex runs on RE2 (linear time).
const dir = tempDir('opsfleet-alert-regex-');
after(() => dir.cleanup());
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
let n = 0;
async function manager(yaml = 'group_wait: 0s') {
  const m = await startManager(yaml, `${dir.path}/m-${++n}`);
  cleanups.push(m.close);
  return m;
}

const EVIL = '(a+)+$';
const VICTIM = `${'a'.repeat(53)}!`;

describe('matcher regexes run in linear time (RE2)', () => {
  // On a backtracking engine this input takes longer than the age of the universe; the test's
  // own timeout is the failure, not a timed assertion.
  it('the (a+)+$ silence and 53 a\'s and "!" do not pin a core', { timeout: 60_000 }, async () => {
    const { am } = await manager();
    const api = await startApi(am);
    cleanups.push(api.close);
    const s = await postJson<{ id: string }>(`${api.url}/api/v1/silences`, { matchers: [`alertname=~${EVIL}`], duration: '1h' });
    assert.equal(s.status, 200, JSON.stringify(s.body));
    const r = await postJson<{ accepted: number }>(`${api.url}/api/v1/alerts`, [{ labels: { alertname: VICTIM, host: 'h1' } }, { labels: { alertname: 'aaaa', host: 'h1' } }]);
    assert.equal(r.status, 200);
    const alerts = am.list('firing');
    const victim = alerts.find((a) => a.labels.alertname === VICTIM)!;
    const silenced = alerts.find((a) => a.labels.alertname === 'aaaa')!;
    assert.deepEqual(victim.silencedBy, [], 'the "!" keeps the whole-value match from succeeding');
    assert.deepEqual(silenced.silencedBy, [s.body.id]);
  });

  it('matchers are anchored: the whole value must match', () => {
    const m = compileMatcher({ name: 'host', op: '=~', value: 'web-0[12]' });
    assert.equal(m.test({ host: 'web-01' }), true);
    assert.equal(m.test({ host: 'xweb-01' }), false);
    assert.equal(m.test({ host: 'web-012' }), false);
    assert.equal(compileMatcher({ name: 'a', op: '=~', value: 'x|y' }).test({ a: 'y' }), true);
    assert.equal(compileMatcher({ name: 'a', op: '!~', value: 'x|y' }).test({ a: 'xy' }), true);
  });

  it('a pattern RE2 refuses is OPS_ERR_REGEX_SYNTAX naming the matcher', () => {
    for (const bad of ['(a)\\1', '(?=a)b', '(?<!x)y']) {
      assert.throws(
        () => parseMatcher(`alertname=~"${bad}"`),
        (e: unknown) => e instanceof OpsError && e.code === 'OPS_ERR_REGEX_SYNTAX' && e.message.includes('alertname=~') && e.message.includes(JSON.stringify(bad).slice(1, -1)),
        bad,
      );
    }
  });

  it('the API answers a refused silence pattern with 400 OPS_ERR_REGEX_SYNTAX', async () => {
    const { am } = await manager();
    const api = await startApi(am);
    cleanups.push(api.close);
    for (const matchers of [['alertname=~"(a)\\1"'], [{ name: 'host', value: '(?=x)', isRegex: true }]]) {
      const r = await postJson<{ error: { code: string; message: string } }>(`${api.url}/api/v1/silences`, { matchers, duration: '1h' });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'OPS_ERR_REGEX_SYNTAX');
    }
    assert.equal(am.silences.list().length, 0);
  });

  it('a refused pattern in route, inhibit and silence config is a config error with its position', () => {
    const yaml = ['receivers: [{ name: h, type: webhook, url: "http://127.0.0.1:1/" }]', 'routes:', '  - match_re: { alertname: "(a)\\\\1" }', '    receivers: [h]', 'inhibit:', '  - { source_re: { x: "(?=y)" }, target: {} }'].join('\n');
    assert.throws(
      () => parseConfigText(yaml, 'alerting.yaml', alertingSchema, {}),
      (e: unknown) => {
        const msg = (e as Error).message;
        return /alerting\.yaml:3:\d+ routes\[0\]\.match_re\.alertname: invalid regex/.test(msg) && /alerting\.yaml:6:\d+ inhibit\[0\]\.source_re\.x: invalid regex/.test(msg);
      },
    );
  });

  it('a stored silence with a pattern RE2 refuses (written by an older version) is skipped; the controller starts', async () => {
    const first = await manager();
    const ok = first.am.silences.add({ matchers: [{ name: 'host', op: '=', value: 'h1' }], endsAtMs: Date.now() + 3_600_000, createdBy: 't', comment: '' });
    // What an older, RegExp-based version accepted and stored.
    first.db.prepare('INSERT INTO silences (id, matchers, starts_at_ms, ends_at_ms, created_by, comment, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)').run('old-bad', JSON.stringify([{ name: 'alertname', op: '=~', value: '(a)\\1' }]), Date.now(), Date.now() + 3_600_000, 'old', '', Date.now());
    const path = `${dir.path}/m-${n}`;
    await first.close();
    cleanups.pop();
    const again = await startManager('group_wait: 0s', path);
    cleanups.push(again.close);
    assert.equal(again.am.silences.skipped, 1);
    again.am.push([{ labels: { alertname: 'aa', host: 'h1' } }]);
    assert.deepEqual(again.am.list('firing')[0]!.silencedBy, [ok.id]);
    assert.equal((again.am.statsView() as { silencesSkipped: number }).silencesSkipped, 1);
  });
});
