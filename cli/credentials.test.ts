import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { credentialsPath, normalizeControllerUrl, readCredentials, resolveTarget, writeCredentials } from './credentials.js';

describe('opsctl credentials', () => {
  it('live under $XDG_CONFIG_HOME, are written 0600, and resolve flag > env > file > default', () => {
    const home = mkdtempSync(join(tmpdir(), 'opsfleet-creds-'));
    try {
      const env = { XDG_CONFIG_HOME: home };
      const file = credentialsPath(env);
      assert.equal(file, join(home, 'opsfleet', 'credentials'));
      assert.deepEqual(resolveTarget({}, env), { url: 'http://127.0.0.1:8080' });
      writeCredentials({ current: 'https://ctl:8443', controllers: { 'https://ctl:8443': { token: 'opsf_saved', ca: '/etc/ca.crt' } } }, file);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(resolveTarget({}, env), { url: 'https://ctl:8443', token: 'opsf_saved', ca: '/etc/ca.crt' });
      assert.deepEqual(resolveTarget({}, { ...env, OPSFLEET_TOKEN: 'opsf_env' }).token, 'opsf_env');
      assert.deepEqual(resolveTarget({ token: 'opsf_flag' }, { ...env, OPSFLEET_TOKEN: 'opsf_env' }).token, 'opsf_flag');
      assert.deepEqual(resolveTarget({ controller: '127.0.0.1:9000' }, env), { url: 'http://127.0.0.1:9000' }, 'another controller: not its token');
      writeFileSync(file, 'garbage');
      assert.throws(() => readCredentials(file), { code: 'OPS_ERR_CREDENTIALS' });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('normalises controller URLs (scheme added, trailing slash dropped) and refuses other schemes', () => {
    assert.equal(normalizeControllerUrl('127.0.0.1:8080'), 'http://127.0.0.1:8080');
    assert.equal(normalizeControllerUrl('https://ctl.example:8443/'), 'https://ctl.example:8443');
    assert.throws(() => normalizeControllerUrl('ftp://x'), { code: 'OPS_ERR_USAGE' });
  });
});
