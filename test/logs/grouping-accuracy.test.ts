import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCommand } from '../helpers/daemons.js';
import { REPO_ROOT } from '../helpers/process.js';
import { readCsv } from './csv.js';

/**
 * Grouping accuracy (GA), the Loghub benchmark's metric (Zhu et al., ICSE-SEIP 2019): a line
 * counts as correct when the set of lines given its template id equals the set of lines that
 * share its ground-truth EventId. Measured on what users get: `opsctl logs analyze --records`
 * with no preset (auto) and no per-dataset setting, over every Loghub 2k set found in
 * ../shared/fixtures/loghub and test/fixtures/loghub.
 */
const ROOTS = [join(REPO_ROOT, '..', '..', 'shared', 'fixtures', 'loghub'), '/work/shared/fixtures/loghub', join(REPO_ROOT, 'test', 'fixtures', 'loghub')];

function datasets(): Map<string, string> {
  const found = new Map<string, string>();
  for (const root of ROOTS) {
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root)) {
      const log = join(root, name, `${name}_2k.log`);
      if (!found.has(name) && existsSync(log) && existsSync(`${log}_structured.csv`)) found.set(name, log);
    }
  }
  return found;
}

export function groupingAccuracy(predicted: string[], truth: string[]): number {
  assert.equal(predicted.length, truth.length);
  const byPred = new Map<string, number[]>();
  predicted.forEach((p, i) => {
    let l = byPred.get(p);
    if (!l) byPred.set(p, (l = []));
    l.push(i);
  });
  const truthSize = new Map<string, number>();
  for (const t of truth) truthSize.set(t, (truthSize.get(t) ?? 0) + 1);
  let ok = 0;
  for (const idx of byPred.values()) {
    const ids = new Set(idx.map((i) => truth[i]));
    if (ids.size === 1 && truthSize.get(truth[idx[0]!]!) === idx.length) ok += idx.length;
  }
  return ok / truth.length;
}

describe('template grouping accuracy on the Loghub 2k sets', () => {
  it('the metric: equal sets count, a split or a merge does not', () => {
    assert.equal(groupingAccuracy(['a', 'a', 'b'], ['x', 'x', 'y']), 1);
    assert.equal(groupingAccuracy(['a', 'a', 'a'], ['x', 'x', 'y']), 0);
    assert.equal(groupingAccuracy(['a', 'b', 'c'], ['x', 'x', 'y']), 1 / 3);
  });

  it('average GA >= 0.90 through opsctl logs analyze --records (auto, no per-dataset settings)', async () => {
    const sets = datasets();
    assert.ok(sets.size >= 4, `found the loghub sets: ${[...sets.keys()].join(', ')}`);
    const scores: Record<string, number> = {};
    for (const [name, log] of [...sets].sort()) {
      const truth = readCsv(`${log}_structured.csv`).map((r) => r.EventId!);
      const r = await runCommand('opsctl', ['logs', 'analyze', '--records', log], {}, 120_000);
      assert.equal(r.code, 0, r.stderr);
      const recs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { line: number; template_id: string | null });
      // Every line must parse (else it has no template id): unparsed lines get a unique group.
      const pred = truth.map((_, i) => `unparsed:${i}`);
      for (const rec of recs) {
        assert.ok(rec.template_id, `${name} line ${rec.line} has a template id`);
        pred[rec.line - 1] = rec.template_id;
      }
      scores[name] = groupingAccuracy(pred, truth);
    }
    const avg = Object.values(scores).reduce((a, b) => a + b, 0) / Object.keys(scores).length;
    console.log(`GA ${JSON.stringify(scores)} average ${avg.toFixed(3)}`);
    for (const [name, ga] of Object.entries(scores)) assert.ok(ga >= 0.5, `${name} GA ${ga}`);
    assert.ok(avg >= 0.9, `average GA ${avg.toFixed(3)} (${JSON.stringify(scores)})`);
  });

  it('the summary lists the same template ids the records carry, with matching counts', async () => {
    const log = join(REPO_ROOT, 'test', 'fixtures', 'loghub', 'OpenSSH', 'OpenSSH_2k.log');
    const rec = await runCommand('opsctl', ['logs', 'analyze', '--records', log], {}, 120_000);
    const sum = await runCommand('opsctl', ['logs', 'analyze', '--json', '--top', '1000', log], {}, 120_000);
    assert.equal(rec.code, 0, rec.stderr);
    assert.equal(sum.code, 0, sum.stderr);
    const counts = new Map<string, number>();
    for (const l of rec.stdout.trim().split('\n')) {
      const id = (JSON.parse(l) as { template_id: string }).template_id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const s = JSON.parse(sum.stdout) as { templates: Array<{ id: string; count: number; template: string }> };
    assert.equal(s.templates.length, counts.size);
    for (const t of s.templates) assert.equal(counts.get(t.id), t.count, `template ${t.id} ${t.template}`);
  });
});

