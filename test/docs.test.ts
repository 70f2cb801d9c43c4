import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from './helpers/process.js';

/** Non-test TypeScript sources of the daemons and shared code (generated code excluded). */
function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'gen' || name === 'node_modules') continue;
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

describe('docs', () => {
  it('docs/errors.md lists every OPS_ERR_ code the code raises', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');
    const missing = new Map<string, string>();
    for (const file of ['agent', 'controller', 'shared'].flatMap((d) => sources(join(REPO_ROOT, d)))) {
      // A quoted code; `startsWith('OPS_ERR_CONFIG')` tests a family, it is not a code.
      for (const m of readFileSync(file, 'utf8').matchAll(/(startsWith\()?['"`](OPS_ERR_[A-Z0-9_]*[A-Z0-9])['"`]/g)) {
        if (m[1] || doc.includes(`\`${m[2]}\``)) continue;
        if (!missing.has(m[2]!)) missing.set(m[2]!, relative(REPO_ROOT, file));
      }
    }
    assert.deepEqual(Object.fromEntries(missing), {}, 'add these codes (with their meaning) to docs/errors.md');
  });

  it('README.md starts with the two commands for a fresh machine', () => {
    const head = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').split('\n').slice(0, 12).join('\n');
    assert.match(head, /scripts\/quickstart\.sh/);
    assert.match(head, /scripts\/test\.sh/);
  });

  it('every guide in docs/ is linked from README.md', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const unlinked = readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md') && !readme.includes(`(docs/${f})`));
    assert.deepEqual(unlinked, [], 'link these from README.md (Documentation)');
  });

  it('no document cites a Markdown file that is not in the repository', () => {
    const files = ['README.md', 'ARCHITECTURE.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const missing: string[] = [];
    for (const f of files) {
      const text = readFileSync(join(REPO_ROOT, f), 'utf8');
      for (const m of text.matchAll(/([A-Za-z0-9_./-]+\.md)\b/g)) {
        const name = m[1]!;
        if (/^https?:/.test(name)) continue;
        // A bare name in backquotes right after a folder (`test/fixtures/formats` (`SOURCE.md` ...)) names a file in that folder.
        const folder = /`([A-Za-z0-9_./-]+)`[^`]{0,5}`?$/.exec(text.slice(Math.max(0, (m.index ?? 0) - 80), m.index))?.[1];
        const candidates = [join(REPO_ROOT, name), join(REPO_ROOT, f.includes('/') ? 'docs' : '', name), join(REPO_ROOT, 'docs', name), ...(folder ? [join(REPO_ROOT, folder, name)] : [])];
        if (!candidates.some((c) => { try { return statSync(c).isFile(); } catch { return false; } })) missing.push(`${f}: ${name}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('README.md says that scripts/test.sh installs packages as root', () => {
    assert.match(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'), /as root, `scripts\/test\.sh`\s+installs[\s\S]{0,80}openssh-server/);
  });
});
