#!/usr/bin/env bash
# Takes one node out of the k3s cluster; clean.sh on that node then removes k3s from it.
#
#   delete.sh node NAME    on a server that stays: drain NAME and delete its Node object. A
#                          server's embedded-etcd member goes with its Node: k3s' member
#                          controller removes it on delete (pkg/etcd/member_controller.go)
#   delete.sh leave        on the node leaving, after `node`: nothing is left to do for k3s
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
parse_delete_args "$@"

case "$1" in
  node)
    drain_and_delete_node "$2" k3s kubectl
    log "node $2 drained and deleted"
    ;;
  leave) log "k3s: the node left the cluster when its Node was deleted; run clean.sh" ;;
esac
