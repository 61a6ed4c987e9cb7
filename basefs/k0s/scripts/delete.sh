#!/usr/bin/env bash
# Takes one node out of the k0s cluster, as k0s documents it (docs/remove_controller.md);
# clean.sh on that node then removes k0s from it.
#
#   delete.sh node NAME    on a controller that stays: drain NAME and delete its Node (a
#                          controller without a worker has none) and its autopilot ControlNode
#   delete.sh leave        on the node leaving, after `node`: a controller leaves etcd
#                          (`k0s etcd leave`); a worker has nothing more to do
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
parse_delete_args "$@"

case "$1" in
  node)
    if k0s kubectl get node "$2" >/dev/null 2>&1; then
      drain_and_delete_node "$2" k0s kubectl
    else
      log "no Node $2: a controller without a worker has none"
    fi
    k0s kubectl delete controlnode.autopilot.k0sproject.io "$2" --ignore-not-found
    log "node $2 drained and deleted"
    ;;
  leave)
    if [ -f "$DEST/etc/systemd/system/k0scontroller.service" ]; then
      k0s etcd leave
      log "this controller left etcd; run clean.sh"
    else
      log "a worker: nothing to leave; run clean.sh"
    fi
    ;;
esac
