import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { en } from '../../web/src/i18n/en.js';
import { zh } from '../../web/src/i18n/zh.js';
import { REPO_ROOT } from '../helpers/process.js';

test('the English and Chinese catalogues have the same keys, none empty, with the same {placeholders}', () => {
  assert.deepEqual(Object.keys(zh).sort(), Object.keys(en).sort());
  const vars = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const [k, v] of Object.entries(en)) {
    assert.ok(v.trim() !== '' && zh[k as keyof typeof en].trim() !== '', `${k} is empty`);
    assert.deepEqual(vars(zh[k as keyof typeof en]), vars(v), `${k}: placeholders differ`);
  }
});

test('every label key the pages use is in the catalogue (t("...") calls), and the catalogue has no unused key', () => {
  const dir = join(REPO_ROOT, 'web', 'src');
  const files = [...readdirSync(dir).filter((f) => f.endsWith('.tsx') || f.endsWith('.ts')).map((f) => join(dir, f)), ...readdirSync(join(dir, 'pages')).map((f) => join(dir, 'pages', f))];
  const used = new Set<string>();
  let dynamic = 0;
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\bt\(\s*'([a-zA-Z0-9_.]+)'/g)) used.add(m[1]!);
    for (const m of text.matchAll(/\bt\(\s*`([a-zA-Z0-9_.]+)\$\{/g)) {
      dynamic++;
      for (const k of Object.keys(en)) if (k.startsWith(m[1]!)) used.add(k);
    }
    // Keys listed as data (the navigation) rather than in t() calls.
    for (const m of text.matchAll(/'(nav\.[a-z]+)'/g)) used.add(m[1]!);
  }
  assert.ok(used.size > 50 && dynamic > 0, `the scan found ${used.size} keys: is it reading the pages?`);
  assert.deepEqual([...used].filter((k) => !(k in en)), [], 'keys used but missing from en.ts');
  assert.deepEqual(Object.keys(en).filter((k) => !used.has(k)), [], 'keys in en.ts no page uses');
});
