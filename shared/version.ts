import { readFileSync } from 'node:fs';

/**
 * The package version, read once from the repository's package.json. Looked up from this
 * module upwards because the module runs from different depths: `shared/version.ts` under
 * tsx, `dist/shared/version.js` compiled.
 */
function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json', '../../../package.json']) {
    let text: string;
    try {
      text = readFileSync(new URL(rel, import.meta.url), 'utf8');
    } catch {
      continue;
    }
    const pkg = JSON.parse(text) as { name?: string; version?: string };
    if (pkg.name === 'opsfleet' && typeof pkg.version === 'string') return pkg.version;
  }
  throw new Error(`package.json of opsfleet not found above ${import.meta.url}`);
}

export const VERSION: string = readVersion();

/**
 * How this process runs its code: `compiled` (a dist/ bundle, what installs run) or `tsx`
 * (TypeScript sources through the loader, development and tests). Daemons log it at start.
 */
export const RUNTIME: 'compiled' | 'tsx' = import.meta.url.endsWith('.ts') ? 'tsx' : 'compiled';
