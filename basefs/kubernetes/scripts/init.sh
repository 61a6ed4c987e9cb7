#!/usr/bin/env bash
# Installs containerd and kubeadm/kubelet/kubectl from this ClusterImage on one node, offline,
# then creates or joins the cluster with kubeadm.
#
#   init.sh [init|join|join-control-plane|install] [options]      (default: init)
#     install                              only install and start containerd and the kubelet
#     --control-plane-endpoint HOST:PORT   a stable address for the API (HA: a load balancer)
#     --pod-subnet CIDR                    pod network (default 10.244.0.0/16)
#     --service-subnet CIDR                service network (default 10.96.0.0/12)
#     --token TOKEN --discovery-token-ca-cert-hash sha256:HASH    join credentials
#     --certificate-key KEY                join-control-plane: decrypts the uploaded certs
#     --registry-ip IP                     resolve the registry domain to IP in /etc/hosts
#     --with-registry                      start the image's registry here (before kubeadm)
#
# containerd pulls every image through the ClusterImage's registry (hosts.toml in
# /etc/containerd/certs.d/_default). The Kubernetes version comes from the image's Metadata.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

role=init
if [ "$#" -gt 0 ] && [[ "$1" != -* ]]; then role="$1"; shift; fi
case "$role" in init | join | join-control-plane | install) ;; *) die "unknown role \"$role\" (use init, join, join-control-plane or install)" ;; esac

endpoint="" pod_subnet=10.244.0.0/16 service_subnet=10.96.0.0/12 token="" ca_hash="" cert_key="" registry_ip="" with_registry=false
while [ "$#" -gt 0 ]; do
  case "$1" in
    --control-plane-endpoint) endpoint="$(need_value "$@")"; shift 2 ;;
    --pod-subnet) pod_subnet="$(need_value "$@")"; shift 2 ;;
    --service-subnet) service_subnet="$(need_value "$@")"; shift 2 ;;
    --token) token="$(need_value "$@")"; shift 2 ;;
    --discovery-token-ca-cert-hash) ca_hash="$(need_value "$@")"; shift 2 ;;
    --certificate-key) cert_key="$(need_value "$@")"; shift 2 ;;
    --registry-ip) registry_ip="$(need_value "$@")"; shift 2 ;;
    --with-registry) with_registry=true; shift ;;
    *) die "unknown option $1" ;;
  esac
done
if [[ "$role" == join* ]]; then
  if [ -z "$endpoint" ] || [ -z "$token" ] || [ -z "$ca_hash" ]; then die "$role needs --control-plane-endpoint, --token and --discovery-token-ca-cert-hash (from \`kubeadm token create --print-join-command\`)"; fi
  [ "$role" = join ] || [ -n "$cert_key" ] || die "join-control-plane needs --certificate-key (from \`kubeadm init phase upload-certs --upload-certs\`)"
fi
kube_version="$(metadata kubeVersion)"

log "installing containerd and kubernetes $kube_version from $ROOTFS into ${DEST:-/}"
mkdir -p "$DEST/usr/local" "$DEST/usr/local/bin" "$DEST/opt/cni/bin"
tar -xzf "$ROOTFS/cri/containerd.tar.gz" -C "$DEST/usr/local"
tar -xzf "$ROOTFS/cri/crictl.tar.gz" -C "$DEST/usr/local/bin"
tar -xzf "$ROOTFS/cni/cni-plugins.tgz" -C "$DEST/opt/cni/bin"
put 0755 bin/runc /usr/local/sbin/runc
for tool in kubeadm kubelet kubectl; do put 0755 "bin/$tool" "/usr/local/bin/$tool"; done

put 0644 etc/containerd-config.toml /etc/containerd/config.toml
render etc/hosts.toml.tmpl /etc/containerd/certs.d/_default/hosts.toml
put 0644 etc/crictl.yaml /etc/crictl.yaml
put 0644 etc/containerd.service /etc/systemd/system/containerd.service
put 0644 etc/kubelet.service /etc/systemd/system/kubelet.service
put 0644 etc/10-kubeadm.conf /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
put 0644 etc/modules-load.conf /etc/modules-load.d/sealbuild-kubernetes.conf
put 0644 etc/sysctl.conf /etc/sysctl.d/99-sealbuild-kubernetes.conf
[ -z "$registry_ip" ] || hosts_entry "$registry_ip"

modprobe overlay
modprobe br_netfilter
sysctl --system >/dev/null
systemctl daemon-reload
systemctl enable --now containerd.service
systemctl enable kubelet.service

if $with_registry; then
  SEALBUILD_CONTAINER_CLI=ctr "$(dirname "${BASH_SOURCE[0]}")/init-registry.sh" "$REGISTRY_PORT" "$ROOTFS/registry" "$REGISTRY_DOMAIN"
fi

case "$role" in
  install) ;;
  init)
    render etc/kubeadm.yaml.tmpl /etc/kubernetes/kubeadm.yaml KubeVersion="$kube_version" ControlPlaneEndpoint="$endpoint" PodSubnet="$pod_subnet" ServiceSubnet="$service_subnet"
    kubeadm init --config "$DEST/etc/kubernetes/kubeadm.yaml" --upload-certs
    for manifest in "$ROOTFS"/manifests/*.yaml "$ROOTFS"/manifests/*.yml; do
      [ -f "$manifest" ] && kubectl --kubeconfig "$DEST/etc/kubernetes/admin.conf" apply -f "$manifest"
    done
    ;;
  join | join-control-plane)
    args=(join "$endpoint" --token "$token" --discovery-token-ca-cert-hash "$ca_hash" --cri-socket unix:///run/containerd/containerd.sock)
    [ "$role" = join ] || args+=(--control-plane --certificate-key "$cert_key")
    kubeadm "${args[@]}"
    ;;
esac
log "kubernetes $role done"
