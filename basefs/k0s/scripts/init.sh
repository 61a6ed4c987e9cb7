#!/usr/bin/env bash
# Installs k0s from this ClusterImage on one node, offline, and starts it.
#
#   init.sh [controller|worker] [options]       (default: controller)
#     --single                 one node that is controller and worker (no join needed)
#     --enable-worker          a controller that also runs workloads
#     --token-file FILE        join an existing cluster with a token from `k0s token create`
#     --tokens-dir DIR         on the first controller: write worker-token and
#                              controller-token into DIR for the other nodes
#     --registry-ip IP[,IP]    resolve the registry domain to IP(s) in /etc/hosts
#     --with-registry          start the image's registry on this node, in k0s' containerd
#                              (once it is up) and, without --registry-ip, resolve the
#                              registry domain to this node. Needs a worker here: a
#                              controller alone (no --single, no --enable-worker) runs none
#
# Writes /etc/k0s/k0s.yaml (spec.images.repository = the image's registry) and a containerd
# drop-in that mirrors every registry through it; on a node with a worker, puts the system
# images into /var/lib/k0s/images (system-images.sh); then installs and starts the k0s service.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=system-images.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/system-images.sh"

role=controller
if [ "$#" -gt 0 ] && [[ "$1" != -* ]]; then role="$1"; shift; fi
case "$role" in controller | worker) ;; *) die "unknown role \"$role\" (use controller or worker)" ;; esac

single=false enable_worker=false token_file="" tokens_dir="" registry_ip="" with_registry=false
while [ "$#" -gt 0 ]; do
  case "$1" in
    --single) single=true; shift ;;
    --enable-worker) enable_worker=true; shift ;;
    --token-file) token_file="$(need_value "$@")"; shift 2 ;;
    --tokens-dir) tokens_dir="$(need_value "$@")"; shift 2 ;;
    --registry-ip) registry_ip="$(need_value "$@")"; shift 2 ;;
    --with-registry) with_registry=true; shift ;;
    *) die "unknown option $1" ;;
  esac
done
[ "$role" = controller ] || [ -n "$token_file" ] || die "a worker needs --token-file (from \`k0s token create --role=worker\` on a controller)"
! $single || [ -z "$token_file" ] || die "--single starts a new cluster: it takes no --token-file"
[ -z "$token_file" ] || [ -f "$token_file" ] || die "token file $token_file does not exist"
runs_worker=true
[ "$role" = worker ] || $single || $enable_worker || runs_worker=false
if $with_registry && ! $runs_worker; then
  die "--with-registry: a k0s controller without --single or --enable-worker runs no containerd, so it cannot run the registry (add --enable-worker, or pass --with-registry to a worker's init.sh and --registry-ip to the others)"
fi

log "installing k0s ($role) from $ROOTFS into ${DEST:-/}"
put 0755 bin/k0s /usr/local/bin/k0s

render etc/k0s.yaml.tmpl /etc/k0s/k0s.yaml
put 0644 etc/containerd.d/cri-registry.toml /etc/k0s/containerd.d/cri-registry.toml
render etc/hosts.toml.tmpl /etc/k0s/containerd.d/certs.d/_default/hosts.toml
registry_hosts_entry "$registry_ip" "$with_registry"

args=(install "$role")
if [ "$role" = controller ]; then
  args+=(--config "$DEST/etc/k0s/k0s.yaml")
  ! $single || args+=(--single)
  ! $enable_worker || args+=(--enable-worker)
  deploy_manifests /var/lib/k0s/manifests/sealbuild
fi
[ -z "$token_file" ] || args+=(--token-file "$token_file")
! $runs_worker || write_system_images_bundle
k0s "${args[@]}"
# `k0s start` only starts the service and returns (k0s cmd/start/start.go); the service
# starts containerd later, with its worker part.
k0s start

if $with_registry; then
  wait_for_socket /run/k0s/containerd.sock "k0s' containerd" "see k0s status and journalctl -u k0s$role"
  SEALBUILD_CONTAINER_CLI="k0s ctr" "$(dirname "${BASH_SOURCE[0]}")/init-registry.sh" "$REGISTRY_PORT" "$ROOTFS/registry" "$REGISTRY_DOMAIN"
fi

if [ -n "$tokens_dir" ]; then
  [ "$role" = controller ] || die "--tokens-dir is for a controller"
  mkdir -p "$tokens_dir"
  for token_role in worker controller; do
    # The API needs a moment after `k0s start`: retry for up to two minutes.
    for attempt in $(seq 1 60); do
      if k0s token create --role="$token_role" > "$tokens_dir/$token_role-token"; then break; fi
      [ "$attempt" -lt 60 ] || die "could not create a $token_role token"
      sleep 2
    done
    chmod 0600 "$tokens_dir/$token_role-token"
  done
  log "join tokens written to $tokens_dir (worker-token, controller-token)"
fi
log "k0s $role is running"
