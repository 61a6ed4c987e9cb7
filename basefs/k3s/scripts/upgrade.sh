#!/usr/bin/env bash
# Upgrades k3s on one node to this ClusterImage's version, in place: the way k3s documents a
# manual upgrade (the new binary and airgap images, then a restart; the cluster's state and
# config.yaml stay). Run it on the servers one at a time, then on the agents.
#
#   upgrade.sh [server|agent] [--with-registry]       (the role init.sh was given)
#     --with-registry   this node runs the registry: serve the new image's registry/ folder
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

parse_upgrade_args server agent -- "$@"
unit=k3s.service
[ "$role" = server ] || unit=k3s-agent.service
[ -f "$DEST/etc/systemd/system/$unit" ] || die "$unit is not installed: run init.sh $role first"

log "upgrading k3s ($role) to $(metadata version) from $ROOTFS"
# The registry runs in k3s' containerd, which the restart takes down: stop it cleanly first.
! $with_registry || [ ! -S "$DEST/run/k3s/containerd/containerd.sock" ] || stop_registry k3s ctr
put 0755 bin/k3s /usr/local/bin/k3s
rm -f "$DEST/var/lib/rancher/k3s/agent/images/"k3s-airgap-images*
for archive in "$ROOTFS"/images/k3s-airgap-images*; do
  [ -f "$archive" ] && install -m 0644 "$archive" "$DEST/var/lib/rancher/k3s/agent/images/"
done
put 0644 "etc/$unit" "/etc/systemd/system/$unit"
systemctl daemon-reload
systemctl restart "$unit"

if $with_registry; then
  wait_for_socket /run/k3s/containerd/containerd.sock "k3s' containerd" "see journalctl -u $unit"
  SEALBUILD_CONTAINER_CLI="k3s ctr" "$(dirname "${BASH_SOURCE[0]}")/init-registry.sh" "$REGISTRY_PORT" "$ROOTFS/registry" "$REGISTRY_DOMAIN"
fi
log "k3s $role upgraded"
