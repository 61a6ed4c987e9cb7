#!/usr/bin/env bash
# Undoes init.sh on one node, leaving nothing of the cluster behind:
#   1. the registry container, while containerd still answers
#   2. `kubeadm reset` (stops the kubelet, removes the node's containers, its etcd member on a
#      control plane, and /etc/kubernetes' state); it leaves the CNI configuration, iptables
#      rules and the installed files, as its own output says
#   3. the kubelet and containerd units, the shims and containers left running, every mount
#      under /run/containerd and /var/lib/kubelet
#   4. the pod network (flannel's interfaces, cni- namespaces, KUBE-/CNI-/flannel rules)
#   5. what init.sh installed and wrote (a containerd config.toml of the machine's own, which
#      init.sh kept aside, is put back; other files in /etc/cni and /opt/cni stay)
#
#   clean.sh           (no arguments)
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ "$#" -eq 0 ] || die "clean.sh takes no arguments"

socket=/run/containerd/containerd.sock
if [ -x "$DEST/usr/local/bin/ctr" ] && [ -S "$DEST$socket" ]; then stop_registry ctr; fi
if [ -x "$DEST/usr/local/bin/kubeadm" ]; then kubeadm reset --force --cri-socket "unix://$socket"; fi
for unit in kubelet.service containerd.service; do
  [ ! -f "$DEST/etc/systemd/system/$unit" ] || systemctl disable --now "$unit" || true
done
kill_shims "$socket"
for dir in /run/containerd /var/lib/kubelet; do unmount_and_remove "$dir"; done
remove_pod_network

rm -rf "$DEST/etc/systemd/system/kubelet.service" "$DEST/etc/systemd/system/kubelet.service.d" "$DEST/etc/systemd/system/containerd.service"
systemctl daemon-reload
for tool in kubeadm kubelet kubectl crictl containerd containerd-shim containerd-shim-runc-v1 containerd-shim-runc-v2 containerd-stress ctr; do rm -f "$DEST/usr/local/bin/$tool"; done
rm -f "$DEST/usr/local/sbin/runc" "$DEST/etc/crictl.yaml" "$DEST/etc/modules-load.d/sealbuild-kubernetes.conf" "$DEST/etc/sysctl.d/99-sealbuild-kubernetes.conf"
unmount_and_remove /var/lib/containerd
# Only what init.sh and the pod network wrote: the machine's own files there stay.
rm -f "$DEST/etc/containerd/certs.d/_default/hosts.toml" "$DEST/etc/cni/net.d/10-flannel.conflist" "$DEST/opt/cni/bin/flannel"
# config.toml is ours only when init.sh wrote it: on a node where init.sh never ran (a failed
# run being reset), the machine's own file stays.
if [ -f "$DEST/etc/containerd/config.toml.sealbuild-saved" ]; then
  mv "$DEST/etc/containerd/config.toml.sealbuild-saved" "$DEST/etc/containerd/config.toml"
elif cmp -s "$DEST/etc/containerd/config.toml" "$ROOTFS/etc/containerd-config.toml"; then
  rm -f "$DEST/etc/containerd/config.toml"
fi
for plugin in $(tar -tzf "$ROOTFS/cni/cni-plugins.tgz"); do
  [ -d "$DEST/opt/cni/bin/$plugin" ] || rm -f "$DEST/opt/cni/bin/$plugin"
done
rmdir "$DEST/etc/containerd/certs.d/_default" "$DEST/etc/containerd/certs.d" "$DEST/etc/containerd" "$DEST/etc/cni/net.d" "$DEST/etc/cni" "$DEST/opt/cni/bin" "$DEST/opt/cni" 2>/dev/null || true
rm -rf "$DEST/etc/kubernetes" "$DEST/run/flannel"
remove_hosts_entry
log "kubernetes removed"
