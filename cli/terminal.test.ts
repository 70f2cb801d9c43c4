import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OpsError } from '../shared/errors.js';
import { controllerUrl, escapeControls, fittedTable } from './terminal.js';

describe('opsctl terminal output', () => {
  it('escapes C0 (but tab and newline), DEL and C1 controls; keeps other text', () => {
    assert.equal(escapeControls('ok\tline\n'), 'ok\tline\n');
    assert.equal(escapeControls('\x1b[2J\x1b]0;title\x07'), '\\x1b[2J\\x1b]0;title\\x07');
    assert.equal(escapeControls('a\rb\x7f\u009b31m'), 'a\\rb\\x7f\\x9b31m');
    assert.equal(escapeControls('héllo 日本 ✓ │'), 'héllo 日本 ✓ │');
  });

  it('reads a controller address without scheme as http://, and names a bad one', () => {
    assert.equal(controllerUrl('127.0.0.1:8080', '--controller'), 'http://127.0.0.1:8080');
    assert.equal(controllerUrl('https://ctl.example:8443/', '--controller'), 'https://ctl.example:8443');
    assert.throws(() => controllerUrl('http://[::1', '--controller'), (e: unknown) => e instanceof OpsError && e.code === 'OPS_ERR_USAGE' && e.message.includes('--controller: "http://[::1"'));
    assert.throws(() => controllerUrl('ftp://x', 'OPSFLEET_CONTROLLER'), /OPSFLEET_CONTROLLER: "ftp:\/\/x" must be an http/);
  });

  it('fits a wide table into the width, shrinking the named columns first', () => {
    const rows = Array.from({ length: 3 }, (_, i) => [`fp${i}`.repeat(6), 'firing', 'CheckDown', `host-${i}`, 'critical', 'a summary that is rather long '.repeat(3), 'a=1,b=2,c=3,d=4,e=5,f=6,g=7']);
    const out = fittedTable(['FP', 'STATE', 'ALERTNAME', 'HOST', 'SEVERITY', 'SUMMARY', 'LABELS'], rows, { width: 80, shrinkFirst: ['LABELS', 'SUMMARY'] });
    for (const line of out.split('\n')) assert.ok(line.length <= 80, `${line.length}: ${line}`);
    assert.match(out, /CheckDown/);
    assert.match(out, /host-2/);
    assert.match(out, /…/);
    const wide = fittedTable(['A', 'B'], [['x', 'y']], { width: Infinity });
    assert.match(wide, /│ x │ y │/);
  });
});
