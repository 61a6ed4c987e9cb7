#!/usr/bin/env bash
# Stops and removes the registry container init-registry.sh started (sealos runs the label
# `clean-registry` on the registry hosts when it deletes the cluster, before `clean`:
# lifecycle/pkg/bootstrap/registry.go). Nothing to do when no container tool is left.
#
#   clean-registry.sh  (no arguments)
#
# The container tool is $SEALBUILD_CONTAINER_CLI when set, else the first of nerdctl, docker,
# ctr found in PATH: the same choice init-registry.sh makes.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ "$#" -eq 0 ] || die "clean-registry.sh takes no arguments"

cli="${SEALBUILD_CONTAINER_CLI:-}"
if [ -z "$cli" ]; then
  for candidate in nerdctl docker ctr; do
    if command -v "$candidate" >/dev/null 2>&1; then cli="$candidate"; break; fi
  done
fi
if [ -z "$cli" ]; then
  log "no container tool (nerdctl, docker or ctr): no registry container to remove"
  exit 0
fi
read -r -a tool <<< "$cli"
stop_registry "${tool[@]}"
log "the registry container is removed ($cli)"
