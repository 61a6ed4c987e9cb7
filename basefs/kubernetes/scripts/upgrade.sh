#!/usr/bin/env bash
# Upgrades one node to this ClusterImage's Kubernetes version, the way kubeadm documents it
# (kubeadm-upgrade: the new kubeadm; `kubeadm upgrade apply` on the first control plane,
# `kubeadm upgrade node` on every other node; then the kubelet and kubectl, and a kubelet
# restart). containerd, runc, crictl and the CNI plugins are replaced too, and containerd
# restarted (its containers keep running: they belong to their shims). Run it on the first
# control plane, then the other control planes one at a time, then the workers. It does not
# drain: drain a node first (`kubectl drain`) when its pods must not see the kubelet restart.
#
#   upgrade.sh [init|join-control-plane|join] [--with-registry]   (the role init.sh was given)
#     --with-registry   this node runs the registry: serve the new image's registry/ folder
#                       (first, so that kubeadm pulls the new images from it)
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

parse_upgrade_args init join-control-plane join -- "$@"
[ -f "$DEST/etc/kubernetes/kubelet.conf" ] || die "this node is not in a cluster (no /etc/kubernetes/kubelet.conf): run init.sh $role first"
kube_version="$(metadata kubeVersion)"
socket=/run/containerd/containerd.sock

log "upgrading kubernetes ($role) to $kube_version from $ROOTFS"
tar -xzf "$ROOTFS/cri/containerd.tar.gz" -C "$DEST/usr/local"
tar -xzf "$ROOTFS/cri/crictl.tar.gz" -C "$DEST/usr/local/bin"
tar -xzf "$ROOTFS/cni/cni-plugins.tgz" -C "$DEST/opt/cni/bin"
put 0755 bin/runc /usr/local/sbin/runc
systemctl restart containerd.service
wait_for_socket "$socket" containerd "see journalctl -u containerd"
if $with_registry; then
  SEALBUILD_CONTAINER_CLI=ctr "$(dirname "${BASH_SOURCE[0]}")/init-registry.sh" "$REGISTRY_PORT" "$ROOTFS/registry" "$REGISTRY_DOMAIN"
fi

put 0755 bin/kubeadm /usr/local/bin/kubeadm
if [ "$role" = init ]; then
  kubeadm upgrade apply "$kube_version" --yes
else
  kubeadm upgrade node
fi
for tool in kubelet kubectl; do put 0755 "bin/$tool" "/usr/local/bin/$tool"; done
systemctl daemon-reload
systemctl restart kubelet.service
log "kubernetes $role upgraded to $kube_version"
