import { strict as assert } from 'node:assert';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { compareVersions, DownloadError, Downloads } from './downloads.js';

describe('Downloads', () => {
  const tmp = tempDir('opsfleet-downloads-');
  after(() => tmp.cleanup());
  const dir = join(tmp.path, 'dl');
  mkdirSync(dir);
  const script = join(tmp.path, 'install.sh');
  writeFileSync(script, "#!/bin/sh\nBAKED_CONTROLLER_URL=''\nBAKED_VERSION=''\nBAKED_NATS=''\n");
  for (const v of ['0.9.0', '0.10.0', '0.10.1-rc.1']) {
    writeFileSync(join(dir, `opsfleet-agent-${v}-linux-x64.tar.gz`), v);
    writeFileSync(join(dir, `opsfleet-agent-${v}-linux-x64.tar.gz.sha256`), `${v}\n`);
  }
  writeFileSync(join(dir, 'opsfleet-agent-0.11.0-linux-x64.tar.gz'), 'no sum beside it');
  writeFileSync(join(tmp.path, 'secret'), 'outside');
  symlinkSync(join(tmp.path, 'secret'), join(dir, 'opsfleet-agent-1.0.0-linux-x64.tar.gz'));
  const d = new Downloads({ dir, script, natsServers: ['nats://10.0.0.5:4222', 'nats://10.0.0.6:4222'] });

  it('orders versions numerically, a prerelease before its release', () => {
    assert.ok(compareVersions('0.10.0', '0.9.0') > 0);
    assert.ok(compareVersions('0.10.1-rc.1', '0.10.1') < 0);
    assert.equal(compareVersions('1.2.3', '1.2.3'), 0);
  });

  it('serves bundle names only, inside the directory after symlinks', () => {
    assert.equal(d.file('opsfleet-agent-0.9.0-linux-x64.tar.gz').size, 5);
    for (const bad of ['../secret', '..', 'opsfleet-agent-0.9.0-linux-x64.tar.gz/../../secret', 'x.tar.gz', '.hidden']) {
      assert.throws(() => d.file(bad), (e: unknown) => e instanceof DownloadError && e.status === 400 && e.code === 'OPS_ERR_DOWNLOAD_NAME', bad);
    }
    assert.throws(() => d.file('opsfleet-agent-1.0.0-linux-x64.tar.gz'), (e: unknown) => e instanceof DownloadError && e.status === 404, 'a link leaving the directory');
    assert.throws(() => d.file('opsfleet-agent-2.0.0-linux-x64.tar.gz'), (e: unknown) => e instanceof DownloadError && e.code === 'OPS_ERR_DOWNLOAD_NOT_FOUND');
  });

  it('bakes the address, the newest version that has its sum, and the NATS servers into the script', () => {
    const text = d.installScript('http://ops.example:8080');
    assert.match(text, /^BAKED_CONTROLLER_URL='http:\/\/ops\.example:8080'$/m);
    assert.match(text, /^BAKED_VERSION='0\.10\.1-rc\.1'$/m, '0.11.0 and 1.0.0 have no .sha256 beside them: not offered');
    assert.match(text, /^BAKED_NATS='nats:\/\/10\.0\.0\.5:4222 nats:\/\/10\.0\.0\.6:4222'$/m);
    assert.throws(() => d.installScript("http://x'; rm -rf /; '"), (e: unknown) => e instanceof DownloadError && e.code === 'OPS_ERR_INSTALL_SCRIPT');
  });
});
