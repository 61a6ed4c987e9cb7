#!/usr/bin/env bash
# Runs every test file (unit and end-to-end) on the `node` first on PATH; npm test runs it on the
# machine's Node, then scripts/test-node24.sh on Node 24. Expects a built dist/ (npm run build)
# and examples/hello's images (examples/hello/make-images.sh).
#
# Four files at a time on two cores: most of the suite's wall time is waiting (test-bed hosts
# booting, installs, registries that stall on purpose, timeouts under test), so four keep both
# cores busy where two left them half idle. The slowest files start first, so the last minutes
# are not one long file running alone. SEALBUILD_TEST_CONCURRENCY overrides the four.
set -euo pipefail
cd "$(dirname "$0")/.."
# The slowest files in CI, slowest first (the order only: every file runs either way).
slow=(install-access hostile-registry install-faults install-k3s install-kubernetes basefs-node
  install-k0s install-registry-ha registry hostile-layers run-cache basefs runtime-contract)
files=()
for name in "${slow[@]}"; do
  [ -f "dist/test/e2e/$name.test.js" ] && files+=("dist/test/e2e/$name.test.js")
done
for file in dist/test/e2e/*.test.js dist/test/unit/*.test.js; do
  [[ " ${files[*]} " == *" $file "* ]] || files+=("$file")
done
echo "test-suite: $(node --version), ${#files[@]} files" >&2
exec node --test --test-concurrency="${SEALBUILD_TEST_CONCURRENCY:-4}" "${files[@]}"
