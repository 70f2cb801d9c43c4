import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkDependencyRule, importsOf, runtimeCodeOf, scanTree, twoWayFolderTies, WIRE_MODULE, type ImportEdge } from './imports.js';

const root = new URL('../..', import.meta.url).pathname;
const PROGRAMS = ['agent', 'controller', 'cli', 'shared', 'web'];
const show = (e: ImportEdge) => `${e.from}:${e.line} imports ${e.to}`;

test('the tree keeps the dependency rule (agent and controller side by side on shared, cli on shared and the wire types)', () => {
  const edges = scanTree(root, PROGRAMS);
  assert.ok(edges.length > 300, `the scan found only ${edges.length} imports: is it reading the tree?`);
  const violations = checkDependencyRule(edges);
  assert.deepEqual(violations.map((v) => `${show(v.edge)}: ${v.rule}`), []);
});

test('no two folders of one program import each other', () => {
  assert.deepEqual(twoWayFolderTies(scanTree(root, PROGRAMS)), []);
});

test('the event sink interface does not import its implementation (or any other agent folder)', () => {
  const edges = scanTree(root, ['agent/events']).filter((e) => e.to.startsWith('agent/') && !e.to.startsWith('agent/events/'));
  assert.deepEqual(edges.map(show), []);
});

test('the wire module holds types only: it compiles to nothing', () => {
  const file = `${WIRE_MODULE}.ts`;
  const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
  assert.equal(runtimeCodeOf(file, text), '');
  for (const e of importsOf(file, text)) assert.ok(e.typeOnly, `${show(e)} without "type"`);
});

// The scanner must catch what it is there to catch: each synthetic import below breaks the rule.
test('the scanner reports each kind of violation with file and line', () => {
  const bad: Array<[string, string, string]> = [
    ['agent/health/x.ts', "import { Ingest } from '../../controller/ingest/ingest.js';", 'agent/ never imports controller/'],
    ['agent/x.ts', "const m = await import('../cli/opsctl.js');", 'agent/ never imports cli/'],
    ['controller/api/x.ts', "export { sweep } from '../../agent/sweep/sweep-handler.js';", 'controller/ never imports agent/'],
    ['shared/x.ts', "import type { HostView } from '../controller/api/wire.js';", 'shared/ never imports controller/'],
    ['cli/x.ts', "import { parseMatcher } from '../controller/alerts/matchers.js';", 'cli/ imports only shared/ and controller/api/wire.ts'],
    ['cli/x.ts', "import type { HostView } from '../controller/store/hosts-store.js';", 'cli/ imports only shared/ and controller/api/wire.ts'],
    ['cli/x.ts', "import { HostView } from '../controller/api/wire.js';", 'cli/ imports controller/api/wire.ts with "import type" only'],
    ['web/src/x.tsx', "import { compileTarget } from '../../controller/dispatch/target.js';", 'web/ imports only web/ (and controller/api/wire.ts with "import type")'],
    ['controller/web/x.ts', "import { en } from '../../web/src/i18n/en.js';", 'controller/ never imports web/ (browser code)'],
  ];
  for (const [file, line, rule] of bad) {
    const edges = importsOf(file, `// header\n${line}\n`);
    const v = checkDependencyRule(edges);
    assert.equal(v.length, 1, `${file}: ${line}`);
    assert.equal(v[0]!.rule, rule);
    assert.equal(v[0]!.edge.line, 2);
    assert.equal(v[0]!.edge.from, file);
  }
});

test('the scanner accepts what the rule allows', () => {
  const ok: Array<[string, string]> = [
    ['cli/x.ts', "import type { HostView } from '../controller/api/wire.js';"],
    ['cli/x.ts', "import { type HostView, type CheckView } from '../controller/api/wire.js';"],
    ['cli/x.ts', "import { parseMatcher } from '../shared/alerts/matchers.js';"],
    ['agent/x.ts', "import { sleep } from '../shared/lifecycle.js';"],
    ['controller/x.ts', "import pino from 'pino';"],
  ];
  for (const [file, line] of ok) assert.deepEqual(checkDependencyRule(importsOf(file, line)), [], line);
});

test('two folders importing each other are reported as a tie, one direction is not', () => {
  const edges = [
    ...importsOf('agent/metrics/exporter.ts', "import type { CheckSnapshot } from '../health/check-runner.js';"),
    ...importsOf('agent/health/disk.ts', "import { readFsUsage } from '../metrics/proc.js';"),
  ];
  assert.deepEqual(twoWayFolderTies(edges), [['agent/health', 'agent/metrics']]);
  assert.deepEqual(twoWayFolderTies(edges.slice(0, 1)), []);
});

test('a wire module with runtime code is caught', () => {
  assert.notEqual(runtimeCodeOf('w.ts', "export const LIMIT = 5;\nexport type { A } from './a.js';"), '');
  assert.equal(runtimeCodeOf('w.ts', "export type { A } from './a.js';\nexport interface B { x: number }"), '');
});
