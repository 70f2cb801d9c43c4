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
  # Lint and generate into a temp dir first: a bad proto must never leave shared/gen empty.
  "$buf" lint
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  "$buf" generate --template buf.gen.yaml -o "$tmp"
  rm -rf shared/gen
  mv "$tmp/shared/gen" shared/gen
  echo "proto: generated shared/gen"
fi
