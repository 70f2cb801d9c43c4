import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { makePki } from '../../../test/helpers/certs.js';
import { tempDir } from '../../../test/helpers/tmp.js';
import { certExpiry } from './cert-expiry.js';

describe('cert_expiry builtin', () => {
  const dir = tempDir('opsfleet-cert-expiry-');
  after(() => dir.cleanup());

  it('says in its one-line summary why it failed (the run table shows only the summary)', async () => {
    const missing = join(dir.path, 'site.pem');
    const r = await certExpiry({ paths: [missing], warn_days: 21 }, AbortSignal.timeout(5000));
    assert.equal(r.status, 'failed');
    assert.equal(r.summary, `${missing}: ENOENT`);
    assert.doesNotMatch(r.summary, /in - days/);
  });

  it('reports found certificates with the soonest expiry, and names unreadable paths beside them', async () => {
    const pki = makePki(dir.path);
    const r = await certExpiry({ paths: [pki.ca, join(dir.path, 'nope.pem')], warn_days: 1 }, AbortSignal.timeout(5000));
    assert.equal(r.status, 'failed');
    assert.match(r.summary, /^1 certificate\(s\), soonest expiry in \d+ days; .*nope\.pem: ENOENT$/);
    const ok = await certExpiry({ paths: [pki.ca], warn_days: 1 }, AbortSignal.timeout(5000));
    assert.equal(ok.status, 'ok');
  });
});
