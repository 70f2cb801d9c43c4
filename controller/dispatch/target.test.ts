import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OpsError } from '../../shared/errors.js';
import { compileTarget, TARGET_LIMITS, type TargetHost } from './target.js';

const hosts: TargetHost[] = [
  { id: 'web-1', hostname: 'web-1.example', status: 'online', tags: { role: 'web', env: 'prod' } },
  { id: 'web-2', hostname: 'web-2.example', status: 'online', tags: { role: 'web', env: 'staging' } },
  { id: 'web-3', hostname: 'web-3.example', status: 'offline', tags: { role: 'web', env: 'prod' } },
  { id: 'db-1', hostname: 'db-1.example', status: 'online', tags: { role: 'db', env: 'prod', primary: 'true' } },
];
const match = (e: string) => hosts.filter(compileTarget(e)).map((h) => h.id);

describe('target expressions', () => {
  it('matches all, globs, lists and tags', () => {
    assert.deepEqual(match('*'), ['web-1', 'web-2', 'web-3', 'db-1']);
    assert.deepEqual(match('web-*'), ['web-1', 'web-2', 'web-3']);
    assert.deepEqual(match('web-1,db-1'), ['web-1', 'db-1']);
    assert.deepEqual(match('role=db'), ['db-1']);
    assert.deepEqual(match('tag:primary=true'), ['db-1']);
    assert.deepEqual(match('env=stag*'), ['web-2']);
    assert.deepEqual(match('status=offline'), ['web-3']);
  });

  it('combines with and, or, not and parentheses with the usual precedence', () => {
    assert.deepEqual(match('role=web and env=prod and not web-3'), ['web-1']);
    assert.deepEqual(match('role=db or env=staging'), ['web-2', 'db-1']);
    assert.deepEqual(match('not role=web or env=staging and web-*'), ['web-2', 'db-1']);
    assert.deepEqual(match('(role=db or env=staging) and not status=offline'), ['web-2', 'db-1']);
    assert.deepEqual(match('NOT (web-1 OR web-2)'), ['web-3', 'db-1']);
  });

  it('reports syntax errors with the column', () => {
    const cases: Array<[string, RegExp]> = [
      ['role=web and (env=prod', /expected "\)" at column 23/],
      ['role=web env=prod', /unexpected "env=prod" \(combine terms with and\/or\) at column 10/],
      ['role= ', /missing value after "role=" at column 6/],
      ['and web-1', /unexpected "and" at column 1/],
      ['', /empty expression/],
      ['web-1 and', /expression ended at column 10/],
      ['web/1', /"web\/1" is not a host id/],
    ];
    for (const [expr, re] of cases) {
      assert.throws(() => compileTarget(expr), (err: unknown) => err instanceof OpsError && err.code === 'OPS_ERR_TARGET_SYNTAX' && re.test(err.message), expr);
    }
  });
});

describe('target expression bounds (issue 12 item 7)', () => {
  const code = (expr: string) => {
    try {
      compileTarget(expr);
      return 'ok';
    } catch (err) {
      return (err as { code?: string }).code ?? `uncoded: ${(err as Error).message}`;
    }
  };
  it('5,000 "(" is OPS_ERR_TARGET_SYNTAX, not a stack overflow', () => {
    assert.equal(code('('.repeat(5000)), 'OPS_ERR_TARGET_SYNTAX');
    assert.equal(code(`${'('.repeat(5000)}a${')'.repeat(5000)}`), 'OPS_ERR_TARGET_SYNTAX');
    assert.equal(code(`${'not '.repeat(5000)}a`), 'OPS_ERR_TARGET_SYNTAX');
  });
  it('"a or a ..." x 20,000 is OPS_ERR_TARGET_SYNTAX, not a RangeError', () => {
    assert.equal(code(Array(20_000).fill('a').join(' or ')), 'OPS_ERR_TARGET_SYNTAX');
  });
  it('names the limit that was crossed and keeps reasonable expressions working', () => {
    assert.throws(() => compileTarget(`${'('.repeat(TARGET_LIMITS.maxDepth + 1)}a${')'.repeat(TARGET_LIMITS.maxDepth + 1)}`), /nested more than 32 levels/);
    assert.throws(() => compileTarget(Array(TARGET_LIMITS.maxTerms + 1).fill('w').join(' or ')), /more than 512/);
    assert.equal(code(`${'('.repeat(TARGET_LIMITS.maxDepth)}a${')'.repeat(TARGET_LIMITS.maxDepth)}`), 'ok');
    const match = compileTarget(Array(TARGET_LIMITS.maxTerms).fill('w*').join(' or '));
    assert.equal(match({ id: 'web-1', hostname: '', status: 'online', tags: {} }), true);
  });
});

describe('target expressions on host facts (issue 16)', () => {
  const fleet: TargetHost[] = [
    { id: 'kvm-deb', hostname: 'a', status: 'online', os: 'linux', tags: { role: 'web' }, facts: { os: 'debian', virtual: 'kvm', cpu_cores: 8, mem_total_bytes: 16 * 1024 ** 3, serial: 'S-1' } },
    { id: 'kvm-ubu', hostname: 'b', status: 'online', os: 'linux', tags: { role: 'db', virtual: 'tagged' }, facts: { os: 'ubuntu', virtual: 'kvm', cpu_cores: 2, mem_total_bytes: 4 * 1024 ** 3 } },
    { id: 'metal', hostname: 'c', status: 'offline', os: 'linux', tags: { role: 'db', prio: '3' }, facts: { os: 'debian', virtual: 'physical', cpu_cores: 64, mem_total_bytes: 512 * 1024 ** 3 } },
    { id: 'nofacts', hostname: 'd', status: 'online', os: 'linux', tags: {} },
  ];
  const m = (e: string) => fleet.filter(compileTarget(e)).map((h) => h.id);

  it('matches facts by bare key, with globs, and keeps os=linux working', () => {
    assert.deepEqual(m('virtual=kvm and os=debian'), ['kvm-deb']);
    assert.deepEqual(m('os=linux'), ['kvm-deb', 'kvm-ubu', 'metal', 'nofacts']);
    assert.deepEqual(m('os=*buntu'), ['kvm-ubu']);
    assert.deepEqual(m('serial=S-*'), ['kvm-deb']);
  });

  it('a tag wins over a fact of the same name; fact: and tag: say which', () => {
    assert.deepEqual(m('virtual=kvm'), ['kvm-deb']);
    assert.deepEqual(m('fact:virtual=kvm'), ['kvm-deb', 'kvm-ubu']);
    assert.deepEqual(m('tag:virtual=tagged'), ['kvm-ubu']);
  });

  it('compares numbers with size units, and != is the negation', () => {
    assert.deepEqual(m('cpu_cores>=8'), ['kvm-deb', 'metal']);
    assert.deepEqual(m('cpu_cores<8'), ['kvm-ubu']);
    assert.deepEqual(m('mem_total_bytes>8GiB'), ['kvm-deb', 'metal']);
    assert.deepEqual(m('mem_total_bytes<=4Gi'), ['kvm-ubu']);
    assert.deepEqual(m('prio>2'), ['metal']);
    assert.deepEqual(m('virtual!=kvm'), ['kvm-ubu', 'metal', 'nofacts']);
    assert.deepEqual(m('fact:virtual!=kvm and status=online'), ['nofacts']);
  });

  it('refuses a comparison with a non-number, naming the column', () => {
    assert.throws(() => compileTarget('virtual=kvm and cpu_cores>many'), (err: unknown) => err instanceof OpsError && err.code === 'OPS_ERR_TARGET_SYNTAX' && /"many" is not a number .* at column 27/.test(err.message));
    assert.throws(() => compileTarget('cpu_cores>='), /missing value after "cpu_cores>=" at column 12/);
    assert.throws(() => compileTarget('ke$y>=3'), /bad key "ke\$y" at column 1/);
  });
});
