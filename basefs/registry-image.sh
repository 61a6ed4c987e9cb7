#!/usr/bin/env bash
# Puts images/registry.tar.gz, the registry container image a ClusterImage starts at install
# (docs/formats.md §3), into basefs contexts. It is not kept in git: it is a 10 MB binary per
# architecture, and it comes from a registry, not from a release URL ADD could fetch.
#
#   bash basefs/registry-image.sh [CONTEXT...]                 (network: pulls the image)
#   bash basefs/registry-image.sh --offline [CONTEXT...]       (no network: Debian's registry)
#   bash basefs/registry-image.sh --placeholder [CONTEXT...]   (offline: a marked stand-in)
#
# CONTEXT defaults to basefs/k3s, basefs/k0s and basefs/kubernetes. The image is pinned by
# digest (distribution's registry 2.8.3, every platform) and saved once as an OCI archive
# that `ctr images import`, `nerdctl load` and `docker load` accept.
#
# --offline builds a real, runnable registry image from this machine's Debian package
# `docker-registry` (/usr/bin/docker-registry and the libraries it links against), for this
# machine's architecture only: the tests use it, and so can a build for one architecture on
# a machine without network access. It has the paths of distribution's image
# (/bin/registry, /etc/docker/registry/config.yml, data in /var/lib/registry), so
# init-registry.sh runs both the same way.
#
# The placeholder lets a context build without network access (CI, tests). It starts with
# the text SEALBUILD-PLACEHOLDER: `sealbuild verify` reports it as a failure and
# init-registry.sh refuses it, so an image built with one is never mistaken for complete.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="docker.io/library/registry:2.8.3@sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373"
NAME="docker.io/library/registry:2.8.3"

mode=pull
case "${1:-}" in
  --placeholder) mode=placeholder; shift ;;
  --offline) mode=offline; shift ;;
esac
contexts=("$@")
[ "${#contexts[@]}" -gt 0 ] || contexts=(basefs/k3s basefs/k0s basefs/kubernetes)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
archive="$work/registry.tar.gz"

sealbuild() {
  [ -d node_modules ] || npm ci --no-audit --no-fund
  node dist/src/cli/main.js --root "$work/store" "$@"
}

# The registry binary, the shared libraries ldd names for it, and a configuration with the
# official image's paths, as a build context of one COPY.
offline_context() {
  local ctx="$1" binary=/usr/bin/docker-registry lib
  [ -x "$binary" ] || { echo "registry-image.sh: $binary is missing (apt-get install docker-registry)" >&2; exit 1; }
  mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/etc/docker/registry" "$ctx/rootfs/var/lib/registry"
  install -m 0755 "$binary" "$ctx/rootfs/bin/registry"
  for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
    install -D -m 0755 "$lib" "$ctx/rootfs$lib"
  done
  cat > "$ctx/rootfs/etc/docker/registry/config.yml" <<'YAML'
version: 0.1
log:
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
YAML
  printf 'FROM scratch\nCOPY rootfs/ /\n' > "$ctx/Kubefile"
}

case "$mode" in
  placeholder)
    printf 'SEALBUILD-PLACEHOLDER: not the registry image. Run basefs/registry-image.sh with network access and build again.\n' > "$archive"
    ;;
  offline)
    NAME="sealbuild.local/registry:debian-$(docker-registry --version | awk '{print $3}' | tr -c 'A-Za-z0-9_.\n-' -)"
    offline_context "$work/ctx"
    sealbuild build -t "$NAME" --build-mode lite "$work/ctx" >&2
    sealbuild save -o "$work/registry.tar" "$NAME"
    gzip -n -9 < "$work/registry.tar" > "$archive"
    ;;
  pull)
    sealbuild pull --all-platforms "$IMAGE"
    sealbuild tag "$IMAGE" "$NAME"
    sealbuild save -o "$work/registry.tar" "$NAME"
    gzip -n -9 < "$work/registry.tar" > "$archive"
    ;;
esac

for context in "${contexts[@]}"; do
  mkdir -p "$context/images"
  install -m 0644 "$archive" "$context/images/registry.tar.gz"
  echo "$context/images/registry.tar.gz: $([ "$mode" = placeholder ] && echo placeholder || echo "$NAME")"
done
