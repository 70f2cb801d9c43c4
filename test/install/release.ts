import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/process.js';

export const PKG_VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** x.y.z -> x.y.(z+1): the "next release" for upgrade tests. */
export function nextPatch(v: string): string {
  const [a, b, c] = v.split(/[.-]/).map(Number) as [number, number, number];
  return `${a}.${b}.${c + 1}`;
}

/**
 * Builds the agent (or controller) release bundle of the current sources into `outDir` with `version` (gzip -1:
 * tests throw it away) and returns its path. The Node runtime and the addons compiled for it come
 * from .cache/release, so after the first build this is the esbuild run and a tar: ~20 s.
 */
export function buildRelease(outDir: string, version: string, kind: 'agent' | 'controller' = 'agent'): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, 'scripts/release.mjs'), '--fast', '--only', kind, '--out', outDir, '--version', version], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.once('exit', (code) => {
      const file = join(outDir, `opsfleet-${kind}-${version}-linux-x64.tar.gz`);
      if (code === 0 && existsSync(file)) resolve(file);
      else reject(new Error(`npm run release failed (exit ${code}):\n${out}`));
    });
  });
}
