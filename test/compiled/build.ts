import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Builds dist/ (esbuild, a few seconds) and switches every bin this test process starts to the
 * compiled programs. Called before any test helper is imported: the helpers default
 * OPSFLEET_RUNTIME to tsx only when it is unset.
 */
export function useCompiledPrograms(): void {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  for (const name of ['opsfleet-agent', 'opsfleet-controller', 'opsctl', 'snapshot-child', 'analyze-worker']) {
    if (!existsSync(join(ROOT, 'dist', `${name}.js`))) throw new Error(`the build did not write dist/${name}.js`);
  }
  process.env.OPSFLEET_RUNTIME = 'dist';
}
