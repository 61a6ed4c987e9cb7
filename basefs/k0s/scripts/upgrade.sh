#!/usr/bin/env bash
# Upgrades k0s on one node to this ClusterImage's version, in place, as k0s documents a
# manual upgrade (docs/upgrade.md: stop, replace the binary, start; config and state stay).
# Run it on the controllers one at a time, then on the workers.
#
#   upgrade.sh [controller|worker] [--with-registry]    (the role init.sh was given)
#     --with-registry   this node runs the registry: serve the new image's registry/ folder
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=system-images.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/system-images.sh"

parse_upgrade_args controller worker -- "$@"
[ -f "$DEST/etc/systemd/system/k0s$role.service" ] || die "k0s$role.service is not installed: run init.sh $role first"

log "upgrading k0s ($role) to $(metadata version) from $ROOTFS"
! $with_registry || [ ! -S "$DEST/run/k0s/containerd.sock" ] || stop_registry k0s ctr
k0s stop
# A containerd that was killed leaves its socket behind; without it, the wait below waits for
# the new containerd instead of dialing the dead one.
rm -f "$DEST/run/k0s/containerd.sock"
put 0755 bin/k0s /usr/local/bin/k0s
# A node with a worker gets the new version's system images before k0s starts again.
if [ "$role" = worker ] || grep -qE -- '--single|--enable-worker' "$DEST/etc/systemd/system/k0s$role.service"; then
  write_system_images_bundle
fi
k0s start

if $with_registry; then
  wait_for_socket /run/k0s/containerd.sock "k0s' containerd" "see k0s status and journalctl -u k0s$role"
  SEALBUILD_CONTAINER_CLI="k0s ctr" "$(dirname "${BASH_SOURCE[0]}")/init-registry.sh" "$REGISTRY_PORT" "$ROOTFS/registry" "$REGISTRY_DOMAIN"
fi
log "k0s $role upgraded"
