#!/usr/bin/env bash
# Undoes init.sh on one node: stops k3s and the registry, removes what was installed and the
# cluster's state (/var/lib/rancher/k3s, /etc/rancher/k3s).
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

for unit in k3s.service k3s-agent.service; do
  if [ -f "$DEST/etc/systemd/system/$unit" ]; then
    systemctl disable --now "$unit" || true
    rm -f "$DEST/etc/systemd/system/$unit"
  fi
done
systemctl daemon-reload

if [ -x "$DEST/usr/local/bin/k3s" ]; then
  k3s ctr -n sealbuild tasks kill -s SIGKILL sealbuild-registry >/dev/null 2>&1 || true
  k3s ctr -n sealbuild containers delete sealbuild-registry >/dev/null 2>&1 || true
fi
for tool in kubectl crictl ctr; do
  [ "$(readlink "$DEST/usr/local/bin/$tool" 2>/dev/null)" != k3s ] || rm -f "$DEST/usr/local/bin/$tool"
done
rm -f "$DEST/usr/local/bin/k3s"
rm -rf "$DEST/etc/rancher/k3s" "$DEST/var/lib/rancher/k3s"
if [ -f "$DEST/etc/hosts" ]; then
  sed -i '/# sealbuild registry$/d' "$DEST/etc/hosts"
fi
log "k3s removed"
