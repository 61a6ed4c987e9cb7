#!/usr/bin/env bash
# Shared by the install scripts of every basefs (kept identical in basefs/*/scripts/common.sh;
# a test checks they do not drift). Sourced, never run.
#
# Where things are:
#   SEALBUILD_ROOTFS  the ClusterImage rootfs (default: the directory above scripts/)
#   DESTDIR           the root of the machine being installed (default: /); tests point it
#                     at a temporary directory and put recording stubs first in PATH
#   REGISTRY_DOMAIN, REGISTRY_PORT   the image's registry (ENV of the image; sea.hub:5000)

ROOTFS="${SEALBUILD_ROOTFS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
DEST="${DESTDIR:-}"
REGISTRY_DOMAIN="${REGISTRY_DOMAIN:-sea.hub}"
REGISTRY_PORT="${REGISTRY_PORT:-5000}"

log() { echo "[sealbuild] $*" >&2; }
die() { echo "[sealbuild] error: $*" >&2; exit 1; }

# The value of the option being parsed: `--flag VALUE`, or fail naming the flag.
need_value() {
  if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value"; fi
  printf '%s' "$2"
}

# A string field of the image's Metadata, which sealbuild writes one field per line.
metadata() {
  [ -f "$ROOTFS/Metadata" ] || die "$ROOTFS/Metadata is missing: not a ClusterImage rootfs"
  sed -n "s/^ *\"$1\": *\"\([^\"]*\)\".*/\1/p" "$ROOTFS/Metadata" | head -n 1
}

# Installs a file of the rootfs into the target root, creating parent directories.
put() {
  local mode="$1" src="$2" dest="$3"
  install -D -m "$mode" "$ROOTFS/$src" "$DEST$dest"
}

# Renders a *.tmpl of the rootfs: {{ .RegistryDomain }}, {{ .RegistryPort }} and the extra
# KEY=VALUE pairs given ({{ .KEY }}) are replaced; nothing else is touched.
render() {
  local src="$1" dest="$2"
  shift 2
  local script="s|{{ \.RegistryDomain }}|${REGISTRY_DOMAIN}|g; s|{{ \.RegistryPort }}|${REGISTRY_PORT}|g"
  local pair value
  for pair in "$@"; do
    value="${pair#*=}"
    value="${value//\\/\\\\}"
    value="${value//&/\\&}"
    value="${value//|/\\|}"
    script="${script}; s|{{ \.${pair%%=*} }}|${value}|g"
  done
  mkdir -p "$(dirname "$DEST$dest")"
  sed -e "$script" "$ROOTFS/$src" > "$DEST$dest"
}

# Seconds to wait for a service to come up (containerd's socket, an API).
WAIT_SECONDS="${SEALBUILD_WAIT_SECONDS:-300}"

# Points the registry's domain at addresses in /etc/hosts, one line each (once), unless the
# machine has its own line for the domain. Several lines for one name are all used: Go's
# resolver (containerd, k3s, k0s) returns every address /etc/hosts gives a name, and its
# dialer tries them in turn, so a registry on several nodes survives one of them going down.
#   hosts_entry IP[,IP...]
hosts_entry() {
  local hosts="$DEST/etc/hosts" domain="${REGISTRY_DOMAIN//./\\.}" ip
  mkdir -p "$DEST/etc"
  touch "$hosts"
  if grep -E "[[:space:]]${domain}([[:space:]]|\$)" "$hosts" | grep -v '# sealbuild registry$' >/dev/null; then return 0; fi
  for ip in ${1//,/ }; do
    grep -qE "^${ip//./\\.}[[:space:]]+${domain} # sealbuild registry\$" "$hosts" || printf '%s %s # sealbuild registry\n' "$ip" "$REGISTRY_DOMAIN" >> "$hosts"
  done
}

# Copies the image's YAML manifests where the runtime applies them by itself.
deploy_manifests() {
  local dir="$1" file
  [ -d "$ROOTFS/manifests" ] || return 0
  mkdir -p "$DEST$dir"
  for file in "$ROOTFS"/manifests/*.yaml "$ROOTFS"/manifests/*.yml; do
    [ -f "$file" ] && install -m 0644 "$file" "$DEST$dir/"
  done
  return 0
}

# This node's first global IPv4 address: where the registry it runs is reached (a registry
# started with --with-registry listens on the host network).
node_ip() {
  local ip
  ip="$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub(/\/.*/, "", $4); print $4; exit }')"
  echo "${ip:-127.0.0.1}"
}

# The registry domain's /etc/hosts entries from --registry-ip and --with-registry: the
# addresses given (comma-separated, tried in that order), else this node when it runs the
# registry. Nothing when neither is given.
registry_hosts_entry() {
  local registry_ip="$1" with_registry="$2"
  if [ -n "$registry_ip" ]; then
    hosts_entry "$registry_ip"
  elif $with_registry; then
    hosts_entry "$(node_ip)"
  fi
}

# Waits until a unix socket exists: a service started in the background is up.
#   wait_for_socket PATH WHAT HINT
wait_for_socket() {
  local socket="$1" what="$2" hint="$3" waited=0
  until [ -S "$DEST$socket" ]; do
    [ "$waited" -lt "$WAIT_SECONDS" ] || die "$what did not come up: no $socket after ${WAIT_SECONDS}s ($hint)"
    sleep 1
    waited=$((waited + 1))
  done
}

# Stops and removes the registry container with the container tool given as words (e.g.
# k3s ctr). With ctr its restart label goes first, or containerd's restart monitor would
# start it again.
stop_registry() {
  local name=sealbuild-registry
  case "${*: -1}" in
    ctr)
      "$@" -n sealbuild containers label "$name" containerd.io/restart.status=stopped >/dev/null 2>&1 || true
      "$@" -n sealbuild tasks delete -f "$name" >/dev/null 2>&1 || true
      "$@" -n sealbuild containers delete "$name" >/dev/null 2>&1 || true
      ;;
    *) "$@" rm -f "$name" >/dev/null 2>&1 || true ;;
  esac
}

# Kills every containerd shim serving SOCKET and what runs under it: stopping a runtime
# whose unit has KillMode=process leaves them running (k3s' k3s-killall.sh does the same,
# install.sh: getshims/killtree).
kill_shims() {
  local socket="$1" pids="" pid
  [ -z "$DEST" ] || return 0  # processes belong to the running system, not to a DESTDIR
  for pid in $(ps -e -o pid= -o args= | awk -v s="$socket" 'index($0, "containerd-shim") && index($0, s) { print $1 }'); do
    pids="$pids $(process_tree "$pid")"
  done
  # shellcheck disable=SC2086  # a list of pids
  [ -z "${pids// /}" ] || kill -9 $pids 2>/dev/null || true
}
process_tree() {
  local child
  echo "$1"
  for child in $(ps -e -o ppid= -o pid= | awk -v p="$1" '$1 == p { print $2 }'); do process_tree "$child"; done
}

# Unmounts every mount below DIR, deepest first (k3s-killall.sh's do_unmount_and_remove).
unmount_below() {
  local dir="$DEST$1" mount
  while read -r mount; do
    umount -f "$mount" 2>/dev/null || umount -l "$mount"
  done < <(awk -v d="$dir" 'index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r)
}

# Unmounts every mount below DIR, then removes DIR; a DIR that is itself a mount point (a disk
# of its own) stays mounted and is emptied (as k3s-uninstall.sh's clean_mounted_directory does).
unmount_and_remove() {
  local dir="$DEST$1"
  unmount_below "$1"
  if awk -v d="$dir" '$2 == d { found = 1 } END { exit !found }' /proc/self/mounts; then
    find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  else
    rm -rf "$dir"
  fi
}

# What a pod network leaves on a node: the cni- network namespaces (ip netns delete unmounts
# them), the bridge and flannel
# interfaces (and every interface enslaved to cni0), /var/lib/cni, and the KUBE-, CNI- and
# flannel iptables rules. The list is k3s-killall.sh's (k3s install.sh: remove_interfaces).
remove_pod_network() {
  local iface tables
  [ -z "$DEST" ] || return 0  # the network belongs to the running system, not to a DESTDIR
  for iface in $(ip netns list 2>/dev/null | awk '/^cni-/ { print $1 }'); do ip netns delete "$iface" || true; done
  for iface in $(ip -o link show master cni0 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do ip link delete "$iface" || true; done
  for iface in cni0 flannel.1 flannel-v6.1 kube-ipvs0 flannel-wg flannel-wg-v6; do
    ! ip link show "$iface" >/dev/null 2>&1 || ip link delete "$iface"
  done
  rm -rf "$DEST/var/lib/cni"
  for tables in iptables ip6tables; do
    if command -v "$tables-save" >/dev/null 2>&1 && command -v "$tables-restore" >/dev/null 2>&1; then
      "$tables-save" 2>/dev/null | sed -e '/KUBE-/d' -e '/CNI-/d' -e '/flannel/Id' | "$tables-restore" || log "$tables: could not remove the cluster's rules"
    fi
  done
}

# Removes the registry domain's /etc/hosts entry that hosts_entry wrote.
remove_hosts_entry() {
  [ ! -f "$DEST/etc/hosts" ] || sed -i '/# sealbuild registry$/d' "$DEST/etc/hosts"
}

# Drains NODE and deletes its Node object, with the kubectl given as words. The flags are
# those of the kubeadm and k0s guides for removing a node (kubeadm: "Remove the node";
# k0s docs/remove_controller.md).
drain_and_delete_node() {
  local node="$1"
  shift
  "$@" drain "$node" --ignore-daemonsets --delete-emptydir-data --force --timeout="${WAIT_SECONDS}s"
  "$@" delete node "$node"
}

# The arguments of delete.sh: `node NAME` on a node that stays, `leave` on the one leaving.
parse_delete_args() {
  local usage="usage: delete.sh node NAME (on a control-plane node that stays) | delete.sh leave (on the node leaving)"
  case "${1:-} $#" in
    "node 2") [ -n "$2" ] || die "$usage" ;;
    "leave 1") ;;
    *) die "$usage" ;;
  esac
}

# The arguments of upgrade.sh: ROLE, one of the words before `--` (the first is the default),
# then --with-registry. Sets $role and $with_registry.
#   parse_upgrade_args server agent -- "$@"
parse_upgrade_args() {
  local roles=()
  while [ "$1" != -- ]; do roles+=("$1"); shift; done
  shift
  role="${roles[0]}"
  if [ "$#" -gt 0 ] && [[ "$1" != -* ]]; then role="$1"; shift; fi
  [[ " ${roles[*]} " == *" $role "* ]] || die "unknown role \"$role\" (use ${roles[*]})"
  with_registry=false
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --with-registry) with_registry=true; shift ;;
      *) die "unknown option $1" ;;
    esac
  done
}

# What containerd's shims, runc and ctr keep under /run/containerd whatever containerd's own
# state directory (shim sockets in s/, runc state in runc/, ctr's fifo/): once the runtime's
# shims are gone it is litter, unless a containerd of the machine's own serves that directory.
remove_containerd_run_leftovers() {
  [ -S "$DEST/run/containerd/containerd.sock" ] || unmount_and_remove /run/containerd
}
