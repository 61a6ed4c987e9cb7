#!/usr/bin/env bash
# Puts images/registry.tar.gz, the registry container image a ClusterImage starts at install
# (formats.md §3), into basefs contexts. It is not kept in git: it is a 10 MB binary per
# architecture, and it comes from a registry, not from a release URL ADD could fetch.
#
#   bash basefs/registry-image.sh [CONTEXT...]                 (network: pulls the image)
#   bash basefs/registry-image.sh --placeholder [CONTEXT...]   (offline: a marked stand-in)
#
# CONTEXT defaults to basefs/k3s, basefs/k0s and basefs/kubernetes. The image is pinned by
# digest (distribution's registry 2.8.3, every platform) and saved once as an OCI archive
# that `ctr images import`, `nerdctl load` and `docker load` accept.
#
# The placeholder lets a context build without network access (CI, tests). It starts with
# the text SEALBUILD-PLACEHOLDER: `sealbuild verify` reports it as a failure and
# init-registry.sh refuses it, so an image built with one is never mistaken for complete.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="docker.io/library/registry:2.8.3@sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373"
NAME="docker.io/library/registry:2.8.3"

placeholder=false
if [ "${1:-}" = --placeholder ]; then placeholder=true; shift; fi
contexts=("$@")
[ "${#contexts[@]}" -gt 0 ] || contexts=(basefs/k3s basefs/k0s basefs/kubernetes)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
archive="$work/registry.tar.gz"

if $placeholder; then
  printf 'SEALBUILD-PLACEHOLDER: not the registry image. Run basefs/registry-image.sh with network access and build again.\n' > "$archive"
else
  [ -d node_modules ] || npm ci --no-audit --no-fund
  sealbuild() { node dist/src/cli/main.js --root "$work/store" "$@"; }
  sealbuild pull --all-platforms "$IMAGE"
  sealbuild tag "$IMAGE" "$NAME"
  sealbuild save -o "$work/registry.tar" "$NAME"
  gzip -n -9 < "$work/registry.tar" > "$archive"
fi

for context in "${contexts[@]}"; do
  mkdir -p "$context/images"
  install -m 0644 "$archive" "$context/images/registry.tar.gz"
  echo "$context/images/registry.tar.gz: $($placeholder && echo placeholder || echo "$NAME")"
done
