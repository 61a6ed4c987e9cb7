#!/usr/bin/env bash
# Starts the ClusterImage's registry: the registry container image shipped as
# images/registry.tar.gz, serving the image's registry/ folder (docs/formats.md §3).
#
#   init-registry.sh [PORT [DATA_DIR [DOMAIN]]]      (sealer's argument order)
#
# PORT defaults to $REGISTRY_PORT (5000), DATA_DIR to the rootfs' registry/ folder, DOMAIN to
# $REGISTRY_DOMAIN (sea.hub). The container tool is $SEALBUILD_CONTAINER_CLI when set (e.g.
# "k3s ctr", which init.sh passes), else the first of nerdctl, docker, ctr found in PATH.
# The container is named sealbuild-registry and comes back after a reboot: docker and nerdctl
# with --restart=always, ctr with containerd's restart monitor label. Running it again
# replaces it (upgrade.sh does, to serve a new image's registry/).
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

port="${1:-$REGISTRY_PORT}"
data="${2:-$ROOTFS/registry}"
REGISTRY_DOMAIN="${3:-$REGISTRY_DOMAIN}"
name=sealbuild-registry
archive="$ROOTFS/images/registry.tar.gz"

[ -f "$archive" ] || die "$archive is missing: the image carries no registry container image"
if head -c 21 "$archive" | grep -q '^SEALBUILD-PLACEHOLDER'; then
  die "$archive is a placeholder, not the registry image (build the image again after basefs/registry-image.sh)"
fi
# The archive is an OCI layout (sealbuild save): the image's name is its ref.name annotation.
image="$(gzip -dc "$archive" | tar -xO index.json 2>/dev/null | tr -d '\n' | sed -n 's/.*"org\.opencontainers\.image\.ref\.name": *"\([^"]*\)".*/\1/p')"
[ -n "$image" ] || die "$archive names no image (no org.opencontainers.image.ref.name in its index.json)"
mkdir -p "$data"

cli="${SEALBUILD_CONTAINER_CLI:-}"
if [ -z "$cli" ]; then
  for candidate in nerdctl docker ctr; do
    if command -v "$candidate" >/dev/null 2>&1; then cli="$candidate"; break; fi
  done
fi
[ -n "$cli" ] || die "no container tool to run the registry with (nerdctl, docker or ctr)"
read -r -a tool <<< "$cli"
# distribution's image and the one registry-image.sh --offline builds both have these paths;
# the official image's entrypoint passes a command it does not know through.
command=(/bin/registry serve /etc/docker/registry/config.yml)

log "starting $image on port $port with $cli, serving $data as $REGISTRY_DOMAIN"
stop_registry "${tool[@]}"
case "${tool[-1]}" in
  ctr)
    # ctr runs containers in its own namespace, with the host network: no port mapping.
    gzip -dc "$archive" | "${tool[@]}" -n sealbuild images import -
    "${tool[@]}" -n sealbuild run -d --net-host \
      --label containerd.io/restart.status=running \
      --env "REGISTRY_HTTP_ADDR=0.0.0.0:${port}" \
      --mount "type=bind,src=${data},dst=/var/lib/registry,options=rbind:rw" \
      "$image" "$name" "${command[@]}"
    ;;
  *)
    gzip -dc "$archive" | "${tool[@]}" load
    "${tool[@]}" run -d --restart=always --name "$name" -p "${port}:5000" -v "${data}:/var/lib/registry" "$image" "${command[@]}"
    ;;
esac

# The container runs in the background: it is up when its port answers. What comes next
# (kubeadm's image pull, k3s' and k0s' kubelets) pulls from it at once.
waited=0
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  [ "$waited" -lt "$WAIT_SECONDS" ] || die "the registry does not answer on port $port after ${WAIT_SECONDS}s (its container: $cli -n sealbuild tasks ls, or $cli ps)"
  sleep 1
  waited=$((waited + 1))
done
log "the registry answers on port $port"
