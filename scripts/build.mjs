#!/usr/bin/env node
// npm run build: one esbuild bundle per program in dist/ (opsfleet-agent.js,
// opsfleet-controller.js, opsctl.js, and the agent's snapshot-child.js, with the agent's
// on-demand chunks in dist/chunks/), which bin/*.js run when present. Chosen over tsc's one-file-per-module output by measurement (docs/BENCHMARKS.md,
// "Compiled programs"): module resolution of ~150 files was most of opsctl's start-up.
// Type checking stays with `npm run typecheck`; esbuild only strips types.
// Usage: node scripts/build.mjs [--outdir DIR]
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { buildUi } from './build-ui.mjs';

const root = new URL('..', import.meta.url).pathname;
const i = process.argv.indexOf('--outdir');
const outdir = i > 0 ? process.argv[i + 1] : join(root, 'dist');

/** Program entry points: output name (the bin's name) → source. */
export const PROGRAMS = {
  'opsfleet-agent': 'agent/main.ts',
  'opsfleet-controller': 'controller/main.ts',
  opsctl: 'cli/opsctl.ts',
  // Forked by agent/backup/build-in-child.ts from beside the agent bundle.
  'snapshot-child': 'agent/backup/snapshot-child.ts',
  // Forked by agent/facts/gather-in-child.ts from beside the agent bundle (host facts).
  'facts-child': 'agent/facts/facts-child.ts',
  // Worker threads of `opsctl logs analyze` on large files (shared/logs/parallel-analyze.ts
  // starts it from beside the opsctl bundle).
  'analyze-worker': 'shared/logs/analyze-worker.ts',
};

// Native addons and packages that load files beside themselves stay in node_modules.
// systeminformation is loaded per facts gathering through createRequire (agent/facts/gather.ts), never bundled.
const EXTERNAL = ['better-sqlite3', 'ssh2', 'ssh2-sftp-client', 'cpu-features', '@parcel/watcher', 'systeminformation'];

const started = Date.now();
// dist/release (npm run release's bundles, which the controller serves by default) survives a rebuild.
for (const e of existsSync(outdir) ? readdirSync(outdir) : []) if (e !== 'release') rmSync(join(outdir, e), { recursive: true, force: true });
const common = {
  absWorkingDir: root,
  outdir,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  external: EXTERNAL,
  // CommonJS packages inside an ESM bundle call require() for node built-ins.
  banner: { js: "import { createRequire as __opsfleetRequire } from 'node:module'; const require = __opsfleetRequire(import.meta.url);" },
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
};
// The agent (with its snapshot child) is split: what it loads only on demand (the S3 and SFTP
// backup targets, the file watchers) stays in chunk files it never reads unless configured,
// measured 85 MB idle RSS against 106 MB as one file. The controller is split the same way
// for the same targets (its scheduled self_backup, shared/backup/targets); opsctl is one file:
// a shared chunk made its start slower, and it has nothing to load lazily.
await build({ ...common, entryPoints: { 'opsfleet-agent': PROGRAMS['opsfleet-agent'], 'snapshot-child': PROGRAMS['snapshot-child'], 'facts-child': PROGRAMS['facts-child'] }, splitting: true, chunkNames: 'chunks/agent-[name]-[hash]' });
await build({ ...common, entryPoints: { 'opsfleet-controller': PROGRAMS['opsfleet-controller'] }, splitting: true, chunkNames: 'chunks/controller-[name]-[hash]' });
await build({ ...common, entryPoints: { opsctl: PROGRAMS.opsctl }, splitting: false });
// Beside opsctl.js, where parallel-analyze.ts looks for it: workers then start on a bundle
// instead of registering tsx and compiling the sources in every thread.
await build({ ...common, entryPoints: { 'analyze-worker': PROGRAMS['analyze-worker'] }, splitting: false });
// The dashboard's static files beside the controller bundle (dist/web/), where it looks first.
await buildUi(join(outdir, 'web'));
console.log(`build: ${Object.keys(PROGRAMS).length} programs and the dashboard in ${outdir} (${Date.now() - started} ms)`);
