#!/usr/bin/env node
// The web dashboard (web/): Preact pages and uPlot charts bundled by esbuild into three static
// files (index.html, app.js, app.css) that the controller serves at / (controller/web/). No CDN:
// servers often have no internet. `npm run build` calls this; the browser tests call buildUi()
// themselves so a fresh clone needs no build step before `npm test`.
// Usage: node scripts/build-ui.mjs [--outdir DIR]   (default dist/web)
import { copyFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;

/** Builds into a fresh folder beside `outdir`, then swaps it in: a controller reading it meanwhile sees the old or the new files, never half. */
export async function buildUi(outdir = join(root, 'dist', 'web')) {
  const tmp = `${outdir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(tmp, { recursive: true });
  const r = await build({
    absWorkingDir: root,
    entryPoints: { app: 'web/src/main.tsx' },
    outdir: tmp,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  copyFileSync(join(root, 'web', 'index.html'), join(tmp, 'index.html'));
  const old = `${outdir}.old-${process.pid}-${Date.now()}`;
  try {
    renameSync(outdir, old);
  } catch {
    /* first build */
  }
  renameSync(tmp, outdir);
  rmSync(old, { recursive: true, force: true });
  const bytes = Object.fromEntries(Object.entries(r.metafile.outputs).filter(([k]) => !k.endsWith('.map')).map(([k, v]) => [k.split('/').pop(), v.bytes]));
  return { outdir, bytes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--outdir');
  const started = Date.now();
  const r = await buildUi(i > 0 ? process.argv[i + 1] : undefined);
  console.log(`build-ui: ${JSON.stringify(r.bytes)} in ${r.outdir} (${Date.now() - started} ms)`);
}
