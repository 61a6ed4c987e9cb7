#!/usr/bin/env bash
# Installs k3s from this ClusterImage on one node, offline, and starts it.
#
#   init.sh [server|agent|install] [options]  (default: server)
#     install                        only install k3s, its airgap images, registries.yaml and
#                                    k3s.service, enabled but not started: the host
#                                    preparation sealos runs as the `init` label, before it
#                                    writes /etc/rancher/k3s/config.yaml and starts k3s
#     --server URL                   join the cluster at URL (https://HOST:6443)
#     --token TOKEN                  the cluster's join token
#     --cluster-init                 HA with embedded etcd (first server)
#     --datastore-endpoint DSN       HA with an external datastore (mysql://, postgres://, etcd)
#     --container-runtime-endpoint SOCKET | --docker
#                                    use an external CRI instead of the embedded containerd
#                                    (registries.yaml then does not apply: k3s ignores it)
#     --registry-ip IP[,IP]          resolve the registry domain to IP(s) in /etc/hosts
#     --with-registry                start the image's registry on this node (after k3s's
#                                    containerd is up) and, without --registry-ip, resolve
#                                    the registry domain to this node
#
# Writes /etc/rancher/k3s/config.yaml and registries.yaml (every registry mirrored by the
# image's own), puts the airgap images where k3s imports them, and runs k3s under systemd.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

role=server
if [ "$#" -gt 0 ] && [[ "$1" != -* ]]; then role="$1"; shift; fi
case "$role" in server | agent | install) ;; *) die "unknown role \"$role\" (use server, agent or install)" ;; esac

server_url="" token="" cluster_init=false datastore="" cri_endpoint="" docker=false registry_ip="" with_registry=false
while [ "$#" -gt 0 ]; do
  case "$1" in
    --server) server_url="$(need_value "$@")"; shift 2 ;;
    --token) token="$(need_value "$@")"; shift 2 ;;
    --cluster-init) cluster_init=true; shift ;;
    --datastore-endpoint) datastore="$(need_value "$@")"; shift 2 ;;
    --container-runtime-endpoint) cri_endpoint="$(need_value "$@")"; shift 2 ;;
    --docker) docker=true; shift ;;
    --registry-ip) registry_ip="$(need_value "$@")"; shift 2 ;;
    --with-registry) with_registry=true; shift ;;
    *) die "unknown option $1" ;;
  esac
done
[ "$role" != agent ] || [ -n "$server_url" ] || die "an agent needs --server URL"
if [ "$role" = install ] && $with_registry; then
  die "install --with-registry: the registry runs in k3s' containerd, which install does not start (run init-registry.sh with SEALBUILD_CONTAINER_CLI once a container tool is up)"
fi
[ -z "$server_url" ] || [ -n "$token" ] || die "joining with --server needs --token"
! $cluster_init || [ -z "$datastore" ] || die "--cluster-init (embedded etcd) and --datastore-endpoint exclude each other"
! $docker || [ -z "$cri_endpoint" ] || die "--docker and --container-runtime-endpoint exclude each other"
if $with_registry && { $docker || [ -n "$cri_endpoint" ]; }; then
  die "--with-registry runs the registry in k3s' own containerd, which --docker and --container-runtime-endpoint turn off (start it with init-registry.sh and SEALBUILD_CONTAINER_CLI)"
fi

log "installing k3s ($role) from $ROOTFS into ${DEST:-/}"
put 0755 bin/k3s /usr/local/bin/k3s
for tool in kubectl crictl ctr; do
  [ -e "$DEST/usr/local/bin/$tool" ] || ln -s k3s "$DEST/usr/local/bin/$tool"
done

# k3s imports every tarball in agent/images at start: the system images, offline.
mkdir -p "$DEST/var/lib/rancher/k3s/agent/images"
for archive in "$ROOTFS"/images/k3s-airgap-images*; do
  [ -f "$archive" ] && install -m 0644 "$archive" "$DEST/var/lib/rancher/k3s/agent/images/"
done

if $docker || [ -n "$cri_endpoint" ]; then
  log "external container runtime: registries.yaml is not used, configure the runtime's mirrors for ${REGISTRY_DOMAIN}:${REGISTRY_PORT}"
else
  render etc/registries.yaml.tmpl /etc/rancher/k3s/registries.yaml
fi

if [ "$role" = install ]; then
  registry_hosts_entry "$registry_ip" false
  put 0644 etc/k3s.service /etc/systemd/system/k3s.service
  systemctl daemon-reload
  systemctl enable k3s.service
  log "k3s is installed, not started: write /etc/rancher/k3s/config.yaml, then systemctl start k3s"
  exit 0
fi

config="$DEST/etc/rancher/k3s/config.yaml"
mkdir -p "$(dirname "$config")"
{
  echo "# written by the ClusterImage's init.sh"
  [ -z "$server_url" ] || echo "server: \"$server_url\""
  [ -z "$token" ] || echo "token: \"$token\""
  if [ "$role" = server ]; then
    ! $cluster_init || echo "cluster-init: true"
    [ -z "$datastore" ] || echo "datastore-endpoint: \"$datastore\""
  fi
  [ -z "$cri_endpoint" ] || echo "container-runtime-endpoint: \"$cri_endpoint\""
  ! $docker || echo "docker: true"
} > "$config"
chmod 0600 "$config"

registry_hosts_entry "$registry_ip" "$with_registry"
[ "$role" != server ] || deploy_manifests /var/lib/rancher/k3s/server/manifests/sealbuild

unit=k3s.service
[ "$role" = server ] || unit=k3s-agent.service
put 0644 "etc/$unit" "/etc/systemd/system/$unit"
systemctl daemon-reload
systemctl enable --now "$unit"

if $with_registry; then
  # k3s starts its containerd a moment after the unit: the registry needs it.
  wait_for_socket /run/k3s/containerd/containerd.sock "k3s' containerd" "see journalctl -u $unit"
  SEALBUILD_CONTAINER_CLI="k3s ctr" "$(dirname "${BASH_SOURCE[0]}")/init-registry.sh" "$REGISTRY_PORT" "$ROOTFS/registry" "$REGISTRY_DOMAIN"
fi
log "k3s $role is running"
