#!/usr/bin/env bash
# Starts the ClusterImage's registry: the registry container image shipped as
# images/registry.tar.gz, serving the image's registry/ folder (formats.md §3).
#
#   init-registry.sh [PORT [DATA_DIR [DOMAIN]]]      (sealer's argument order)
#
# PORT defaults to $REGISTRY_PORT (5000), DATA_DIR to the rootfs' registry/ folder, DOMAIN to
# $REGISTRY_DOMAIN (sea.hub). The container tool is $SEALBUILD_CONTAINER_CLI when set (e.g.
# "k3s ctr", which init.sh passes), else the first of nerdctl, docker, ctr found in PATH.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

port="${1:-$REGISTRY_PORT}"
data="${2:-$ROOTFS/registry}"
REGISTRY_DOMAIN="${3:-$REGISTRY_DOMAIN}"
image="${REGISTRY_IMAGE:-docker.io/library/registry:2.8.3}"
name=sealbuild-registry
archive="$ROOTFS/images/registry.tar.gz"

[ -f "$archive" ] || die "$archive is missing: the image carries no registry container image"
if head -c 21 "$archive" | grep -q '^SEALBUILD-PLACEHOLDER'; then
  die "$archive is a placeholder, not the registry image (build the image again after basefs/registry-image.sh)"
fi
mkdir -p "$data"

cli="${SEALBUILD_CONTAINER_CLI:-}"
if [ -z "$cli" ]; then
  for candidate in nerdctl docker ctr; do
    if command -v "$candidate" >/dev/null 2>&1; then cli="$candidate"; break; fi
  done
fi
[ -n "$cli" ] || die "no container tool to run the registry with (nerdctl, docker or ctr)"
read -r -a tool <<< "$cli"

log "starting $image on port $port with $cli, serving $data as $REGISTRY_DOMAIN"
case "${tool[-1]}" in
  ctr)
    # ctr runs containers in its own namespace, with the host network: no port mapping.
    gzip -dc "$archive" | "${tool[@]}" -n sealbuild images import -
    "${tool[@]}" -n sealbuild tasks kill -s SIGKILL "$name" >/dev/null 2>&1 || true
    "${tool[@]}" -n sealbuild containers delete "$name" >/dev/null 2>&1 || true
    "${tool[@]}" -n sealbuild run -d --net-host \
      --env "REGISTRY_HTTP_ADDR=0.0.0.0:${port}" \
      --mount "type=bind,src=${data},dst=/var/lib/registry,options=rbind:rw" \
      "$image" "$name"
    ;;
  *)
    gzip -dc "$archive" | "${tool[@]}" load
    "${tool[@]}" rm -f "$name" >/dev/null 2>&1 || true
    "${tool[@]}" run -d --restart=always --name "$name" -p "${port}:5000" -v "${data}:/var/lib/registry" "$image"
    ;;
esac
