#!/usr/bin/env bash
# Undoes init.sh on one node: stops the registry while k0s' containerd still answers, stops
# k0s and its shims, unmounts what is mounted below /run/k0s and /var/lib/k0s, `k0s reset`
# removes the service, the containers and the cluster's state, then what the shims and ctr
# left in /run/containerd and the files init.sh wrote go.
#
#   clean.sh           (no arguments)
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ "$#" -eq 0 ] || die "clean.sh takes no arguments"

if [ -x "$DEST/usr/local/bin/k0s" ]; then
  [ ! -S "$DEST/run/k0s/containerd.sock" ] || stop_registry k0s ctr
  k0s stop || true
  # k0s reset removes its containers, mounts and state dirs itself (docs/k0s-reset.md), but a
  # container still running or a sandbox rootfs still mounted makes its rm fail ("device or
  # resource busy"): the shims go and the mounts below k0s' dirs come off first, as
  # k3s-killall.sh does for k3s.
  kill_shims /run/k0s/containerd.sock
  unmount_below /run/k0s
  unmount_below /var/lib/k0s
  k0s reset
fi
remove_containerd_run_leftovers
rm -f "$DEST/usr/local/bin/k0s"
rm -rf "$DEST/etc/k0s"
remove_hosts_entry
log "k0s removed"
