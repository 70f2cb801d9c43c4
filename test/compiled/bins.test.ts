import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

// bin/*.js choose between dist/ and the sources; a copy of bin/ beside a fake dist/ shows which ran.
describe('bin/*.js: compiled when built, sources otherwise, as OPSFLEET_RUNTIME says', () => {
  const dir = tempDir();
  after(() => dir.cleanup());
  mkdirSync(join(dir.path, 'bin'));
  for (const f of ['run.js', 'opsctl.js']) copyFileSync(join(REPO_ROOT, 'bin', f), join(dir.path, 'bin', f));
  const opsctl = (env: Record<string, string | undefined>) => {
    const e = { ...process.env, ...env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
    return spawnSync(process.execPath, [join(dir.path, 'bin', 'opsctl.js'), '--version'], { env: e, encoding: 'utf8' });
  };

  it('OPSFLEET_RUNTIME=dist without a build: exit 2 and "run npm run build"', () => {
    const r = opsctl({ OPSFLEET_RUNTIME: 'dist' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /dist\/opsctl\.js does not exist: run "npm run build"/);
  });

  it('an unknown OPSFLEET_RUNTIME: exit 2 naming the value', () => {
    const r = opsctl({ OPSFLEET_RUNTIME: 'bun' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /OPSFLEET_RUNTIME must be "dist" or "tsx", got "bun"/);
  });

  it('with dist/ built: unset and "dist" run the bundle', () => {
    mkdirSync(join(dir.path, 'dist'), { recursive: true });
    writeFileSync(join(dir.path, 'dist', 'opsctl.js'), "process.stdout.write('compiled bundle ran\\n');\n");
    for (const mode of [undefined, 'dist']) {
      const r = opsctl({ OPSFLEET_RUNTIME: mode });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'compiled bundle ran\n');
    }
  });

  it('OPSFLEET_RUNTIME=tsx runs the sources even when dist/ is built', () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'opsctl.js'), '--version'], { env: { ...process.env, OPSFLEET_RUNTIME: 'tsx' }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});
