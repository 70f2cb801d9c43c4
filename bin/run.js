// Shared by bin/*.js: runs a program compiled (dist/, `npm run build`) or from its TypeScript
// sources through tsx. OPSFLEET_RUNTIME chooses: `dist` (fail when not built: what installs and
// the compiled test suites use), `tsx` (sources: what the tests use by default, so an old dist/
// never stands in for the code under test), unset (dist when built, else sources).
import { existsSync } from 'node:fs';

/** @param {string} name bundle name in dist/ @param {string} source entry, relative to the repository root */
export async function run(name, source) {
  const compiled = new URL(`../dist/${name}.js`, import.meta.url);
  const mode = process.env.OPSFLEET_RUNTIME ?? '';
  if (mode !== '' && mode !== 'dist' && mode !== 'tsx') {
    process.stderr.write(`${name}: OPSFLEET_RUNTIME must be "dist" or "tsx", got "${mode}"\n`);
    process.exit(2);
  }
  if (mode === 'dist' || (mode === '' && existsSync(compiled))) {
    if (!existsSync(compiled)) {
      process.stderr.write(`${name}: OPSFLEET_RUNTIME=dist but ${compiled.pathname} does not exist: run "npm run build"\n`);
      process.exit(2);
    }
    await import(compiled.href);
    return;
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL(`../${source}`, import.meta.url).href);
}
