#!/usr/bin/env bash
# Takes one node out of the kubeadm cluster, as kubeadm documents it (kubeadm reset:
# "Remove the node"); clean.sh on that node then removes kubernetes from it.
#
#   delete.sh node NAME    on a control-plane node that stays: drain NAME, delete its Node
#   delete.sh leave        on the node leaving, after `node`: `kubeadm reset`, which on a
#                          control-plane member also removes its etcd member
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
parse_delete_args "$@"

case "$1" in
  node)
    drain_and_delete_node "$2" kubectl --kubeconfig "$DEST/etc/kubernetes/admin.conf"
    log "node $2 drained and deleted"
    ;;
  leave)
    kubeadm reset --force --cri-socket unix:///run/containerd/containerd.sock
    log "this node left the cluster; run clean.sh"
    ;;
esac
