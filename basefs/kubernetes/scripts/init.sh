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
#     --registry-ip IP[,IP]                resolve the registry domain to IP(s) in /etc/hosts
#     --with-registry                      start the image's registry here (before kubeadm)
#                                          and, without --registry-ip, resolve the registry
#                                          domain to this node
#
# containerd pulls every image through the ClusterImage's registry (hosts.toml in
# /etc/containerd/certs.d/_default). The Kubernetes version comes from the image's Metadata.
# Before anything is installed, the host tools kubeadm's preflight requires are checked and
# every missing one named in one message. `init` applies the pod network (flannel, with the
# pod subnet) after `kubeadm init`, then the image's manifests/.
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

# The host tools kubeadm's preflight looks for in PATH (cmd/kubeadm/app/preflight/
# checks_linux.go: addExecChecks): conntrack is required below v1.32 only, the second list
# gives warnings. This script also runs modprobe, sysctl and tar.
required=(ip iptables mount nsenter modprobe sysctl tar)
minor="$(echo "$kube_version" | sed -n 's/^v\{0,1\}1\.\([0-9]*\)\..*/\1/p')"
[ -z "$minor" ] || [ "$minor" -ge 32 ] || required=(conntrack "${required[@]}")
missing=() absent=()
for tool in "${required[@]}"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
for tool in ebtables ethtool socat tc touch; do command -v "$tool" >/dev/null 2>&1 || absent+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  die "missing host tools for kubernetes $kube_version: ${missing[*]} (install them first, e.g. apt-get install conntrack iproute2 iptables mount util-linux kmod procps tar)"
fi
[ "${#absent[@]}" -eq 0 ] || log "warning: kubeadm's preflight will warn about these missing host tools: ${absent[*]}"

# kubeadm's install guide: swap must be off, or tolerated by the kubelet. It is tolerated
# (failSwapOn: false in etc/kubeadm.yaml.tmpl) rather than turned off behind the admin's back.
preflight_flags=()
if [ "$(wc -l < /proc/swaps)" -gt 1 ]; then
  log "swap is on: the kubelet tolerates it (failSwapOn: false) and gives pods none (swapBehavior: NoSwap)"
  preflight_flags=(--ignore-preflight-errors=Swap)
fi

log "installing containerd and kubernetes $kube_version from $ROOTFS into ${DEST:-/}"
mkdir -p "$DEST/usr/local" "$DEST/usr/local/bin" "$DEST/opt/cni/bin"
tar -xzf "$ROOTFS/cri/containerd.tar.gz" -C "$DEST/usr/local"
tar -xzf "$ROOTFS/cri/crictl.tar.gz" -C "$DEST/usr/local/bin"
tar -xzf "$ROOTFS/cni/cni-plugins.tgz" -C "$DEST/opt/cni/bin"
put 0755 bin/runc /usr/local/sbin/runc
for tool in kubeadm kubelet kubectl; do put 0755 "bin/$tool" "/usr/local/bin/$tool"; done

# A containerd configuration of the machine's own is kept aside for clean.sh to put back.
saved="$DEST/etc/containerd/config.toml.sealbuild-saved"
if [ -f "$DEST/etc/containerd/config.toml" ] && [ ! -f "$saved" ] && ! cmp -s "$DEST/etc/containerd/config.toml" "$ROOTFS/etc/containerd-config.toml"; then
  cp -p "$DEST/etc/containerd/config.toml" "$saved"
fi
put 0644 etc/containerd-config.toml /etc/containerd/config.toml
render etc/hosts.toml.tmpl /etc/containerd/certs.d/_default/hosts.toml
put 0644 etc/crictl.yaml /etc/crictl.yaml
put 0644 etc/containerd.service /etc/systemd/system/containerd.service
put 0644 etc/kubelet.service /etc/systemd/system/kubelet.service
put 0644 etc/10-kubeadm.conf /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
put 0644 etc/modules-load.conf /etc/modules-load.d/sealbuild-kubernetes.conf
put 0644 etc/sysctl.conf /etc/sysctl.d/99-sealbuild-kubernetes.conf
registry_hosts_entry "$registry_ip" "$with_registry"

# containerd needs overlay and the kubelet br_netfilter (kubeadm's install guide). A kernel may
# have them built in or loaded already, with no module to load (no /lib/modules at all in a
# container or a minimal VM): what counts is the feature, so modprobe may fail when it is there
# (k3s' unit runs modprobe the same forgiving way).
modprobe overlay 2>/dev/null || [ -d /sys/module/overlay ] || grep -qw overlay /proc/filesystems \
  || die "the kernel has no overlay filesystem (not in /proc/filesystems) and \`modprobe overlay\` failed: load the module or use a kernel with CONFIG_OVERLAY_FS"
modprobe br_netfilter 2>/dev/null || [ -d /sys/module/br_netfilter ] || [ -d /proc/sys/net/bridge ] \
  || die "the kernel has no br_netfilter (no /proc/sys/net/bridge) and \`modprobe br_netfilter\` failed: load the module or use a kernel with CONFIG_BRIDGE_NETFILTER"
# Only this file: the machine's other sysctl settings are not ours to re-apply.
sysctl -p "$DEST/etc/sysctl.d/99-sealbuild-kubernetes.conf" >/dev/null
systemctl daemon-reload
systemctl enable --now containerd.service
systemctl enable kubelet.service
wait_for_socket /run/containerd/containerd.sock containerd "see journalctl -u containerd"

if $with_registry; then
  SEALBUILD_CONTAINER_CLI=ctr "$(dirname "${BASH_SOURCE[0]}")/init-registry.sh" "$REGISTRY_PORT" "$ROOTFS/registry" "$REGISTRY_DOMAIN"
fi

case "$role" in
  install) ;;
  init)
    render etc/kubeadm.yaml.tmpl /etc/kubernetes/kubeadm.yaml KubeVersion="$kube_version" ControlPlaneEndpoint="$endpoint" PodSubnet="$pod_subnet" ServiceSubnet="$service_subnet"
    kubeadm init --config "$DEST/etc/kubernetes/kubeadm.yaml" --upload-certs "${preflight_flags[@]}"
    render etc/kube-flannel.yaml.tmpl /etc/kubernetes/sealbuild/kube-flannel.yaml PodSubnet="$pod_subnet"
    for manifest in "$DEST/etc/kubernetes/sealbuild/kube-flannel.yaml" "$ROOTFS"/manifests/*.yaml "$ROOTFS"/manifests/*.yml; do
      [ ! -f "$manifest" ] || kubectl --kubeconfig "$DEST/etc/kubernetes/admin.conf" apply -f "$manifest"
    done
    ;;
  join | join-control-plane)
    args=(join "$endpoint" --token "$token" --discovery-token-ca-cert-hash "$ca_hash" --cri-socket unix:///run/containerd/containerd.sock "${preflight_flags[@]}")
    [ "$role" = join ] || args+=(--control-plane --certificate-key "$cert_key")
    kubeadm "${args[@]}"
    ;;
esac
log "kubernetes $role done"
