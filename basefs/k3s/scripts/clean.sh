#!/usr/bin/env bash
# Undoes init.sh on one node, in the order of k3s' own k3s-killall.sh and k3s-uninstall.sh
# (k3s install.sh: create_killall, create_uninstall), so nothing of the cluster survives:
#   1. the registry container, while k3s' containerd still answers (stopping k3s kills its
#      containerd: pkg/agent/containerd/command.go runs it with Pdeathsig)
#   2. the k3s units
#   3. the containerd shims and their containers (KillMode=process leaves them running)
#   4. every mount under /run/k3s, /var/lib/kubelet and /var/lib/rancher/k3s, and what the
#      shims and ctr left in /run/containerd (unless a containerd of the machine serves it)
#   5. the pod network: cni- namespaces, cni0 and flannel interfaces, KUBE-/CNI-/flannel rules
#   6. the files: units, binary and its links, /etc/rancher/k3s, /var/lib/rancher/k3s,
#      /var/lib/kubelet, /run/k3s, /run/flannel, the registry's /etc/hosts entry
#
#   clean.sh           (no arguments)
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ "$#" -eq 0 ] || die "clean.sh takes no arguments"

if [ -x "$DEST/usr/local/bin/k3s" ] && [ -S "$DEST/run/k3s/containerd/containerd.sock" ]; then
  stop_registry k3s ctr
fi

units=()
for unit in k3s.service k3s-agent.service; do
  [ ! -f "$DEST/etc/systemd/system/$unit" ] || units+=("$unit")
done
if [ "${#units[@]}" -gt 0 ]; then
  systemctl stop "${units[@]}" || true
  systemctl disable "${units[@]}" || true
fi

kill_shims /run/k3s/containerd/containerd.sock
for dir in /run/k3s /var/lib/kubelet/pods /var/lib/kubelet/plugins; do unmount_and_remove "$dir"; done
remove_containerd_run_leftovers
remove_pod_network

for unit in "${units[@]}"; do rm -f "$DEST/etc/systemd/system/$unit"; done
systemctl daemon-reload
for tool in kubectl crictl ctr; do
  [ "$(readlink "$DEST/usr/local/bin/$tool" 2>/dev/null)" != k3s ] || rm -f "$DEST/usr/local/bin/$tool"
done
unmount_and_remove /var/lib/rancher/k3s
unmount_and_remove /var/lib/kubelet
rm -rf "$DEST/usr/local/bin/k3s" "$DEST/etc/rancher/k3s" "$DEST/run/flannel"
rmdir "$DEST/etc/rancher" "$DEST/var/lib/rancher" 2>/dev/null || true
remove_hosts_entry
log "k3s removed"
