#!/usr/bin/env bash
# Undoes init.sh on one node: `kubeadm reset`, stops the kubelet, containerd and the registry,
# and removes what init.sh installed.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ -x "$DEST/usr/local/bin/kubeadm" ]; then kubeadm reset --force --cri-socket unix:///run/containerd/containerd.sock; fi
if [ -x "$DEST/usr/local/bin/ctr" ]; then
  ctr -n sealbuild tasks kill -s SIGKILL sealbuild-registry >/dev/null 2>&1 || true
  ctr -n sealbuild containers delete sealbuild-registry >/dev/null 2>&1 || true
fi
for unit in kubelet.service containerd.service; do
  [ ! -f "$DEST/etc/systemd/system/$unit" ] || systemctl disable --now "$unit" || true
done
rm -rf "$DEST/etc/systemd/system/kubelet.service" "$DEST/etc/systemd/system/kubelet.service.d" "$DEST/etc/systemd/system/containerd.service"
systemctl daemon-reload
for tool in kubeadm kubelet kubectl crictl containerd containerd-shim-runc-v2 containerd-stress ctr; do rm -f "$DEST/usr/local/bin/$tool"; done
rm -f "$DEST/usr/local/sbin/runc" "$DEST/etc/crictl.yaml" "$DEST/etc/modules-load.d/sealbuild-kubernetes.conf" "$DEST/etc/sysctl.d/99-sealbuild-kubernetes.conf"
rm -rf "$DEST/etc/containerd" "$DEST/etc/kubernetes" "$DEST/var/lib/kubelet" "$DEST/var/lib/containerd" "$DEST/opt/cni/bin"
if [ -f "$DEST/etc/hosts" ]; then
  sed -i '/# sealbuild registry$/d' "$DEST/etc/hosts"
fi
log "kubernetes removed"
