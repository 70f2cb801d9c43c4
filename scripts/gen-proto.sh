#!/usr/bin/env bash
# Regenerates shared/gen from proto/ with buf + ts-proto (no system protoc, no network).
# --check: regenerate into a temp dir and fail when the committed code differs.
set -euo pipefail
cd "$(dirname "$0")/.."
buf=node_modules/.bin/buf
if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  "$buf" lint
  "$buf" generate --template buf.gen.yaml -o "$tmp"
  if ! diff -r "$tmp/shared/gen" shared/gen >/dev/null; then
    echo "proto: generated code in shared/gen is out of date with proto/; run: npm run proto" >&2
    diff -r "$tmp/shared/gen" shared/gen | head -20 >&2
    exit 1
  fi
  echo "proto: generated code is in sync"
else
  rm -rf shared/gen
  "$buf" lint
  "$buf" generate --template buf.gen.yaml
  echo "proto: generated shared/gen"
fi
