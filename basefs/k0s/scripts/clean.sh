#!/usr/bin/env bash
# Undoes init.sh on one node: stops k0s and the registry, `k0s reset` removes the service and
# the cluster's state, then the files init.sh wrote go.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ -x "$DEST/usr/local/bin/k0s" ]; then
  k0s ctr -n sealbuild tasks kill -s SIGKILL sealbuild-registry >/dev/null 2>&1 || true
  k0s ctr -n sealbuild containers delete sealbuild-registry >/dev/null 2>&1 || true
  k0s stop || true
  k0s reset
fi
rm -f "$DEST/usr/local/bin/k0s"
rm -rf "$DEST/etc/k0s"
if [ -f "$DEST/etc/hosts" ]; then
  sed -i '/# sealbuild registry$/d' "$DEST/etc/hosts"
fi
log "k0s removed"
