#!/usr/bin/env node
// Finds every *.test.ts (unit tests beside the code, integration tests under test/) and runs
// them with node's test runner through tsx. Node 20 does not expand globs itself.
// Usage: node scripts/run-tests.mjs [substring-filter ...]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dirs = ['shared', 'agent', 'controller', 'cli', 'test'];
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'gen') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(relative(root, p));
  }
}
for (const d of dirs) walk(join(root, d));
const filters = process.argv.slice(2);
const selected = files.sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '1';
// Readable spec output on stdout; a TAP copy in a temp file gives the exact totals for the
// closing line "tests: N passed, N failed, N skipped" that CI reads.
const tapDir = mkdtempSync(join(tmpdir(), 'opsfleet-tap-'));
const tapFile = join(tapDir, 'report.tap');
const args = [
  '--import', 'tsx', '--test', `--test-concurrency=${concurrency}`,
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
  ...selected,
];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
child.on('exit', (code, signal) => {
  let tap = '';
  try {
    tap = readFileSync(tapFile, 'utf8');
  } catch {
    /* runner died before writing */
  }
  rmSync(tapDir, { recursive: true, force: true });
  const total = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(tap)?.[1] ?? 0);
  const passed = total('pass');
  const failed = total('fail') + total('cancelled');
  const skipped = total('skipped') + total('todo');
  const exit = code ?? (signal ? 1 : 0);
  console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(exit !== 0 ? exit : failed > 0 || passed === 0 ? 1 : 0);
});
