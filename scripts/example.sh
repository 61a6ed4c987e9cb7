#!/usr/bin/env bash
# The main job: build the offline example ClusterImage for amd64 and arm64, then show it.
# Works on a fresh clone: installs the npm packages if they are missing. Needs no network
# beyond that (the example context holds everything it copies).
set -euo pipefail
cd "$(dirname "$0")/.."
# npm ci compiles through the prepare script; otherwise recompile so dist/ matches the source.
if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; else npm run --silent build; fi
export SEALBUILD_ROOT="${SEALBUILD_ROOT:-$PWD/.sealbuild-example}"
# --build-mode lite: the example's manifests name docker.io/library/nginx, and caching it
# into registry/ would need the network. Drop the flag on a connected machine.
npx sealbuild -t example/hello:v0.1.0 --build-mode lite --platform linux/amd64,linux/arm64 examples/hello
npx sealbuild images
echo "store: $SEALBUILD_ROOT/oci (an OCI layout: try skopeo inspect oci:$SEALBUILD_ROOT/oci:docker.io/example/hello:v0.1.0)"
