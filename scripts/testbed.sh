#!/usr/bin/env bash
# The installer's test bed: hosts that are network + mount + pid + uts + cgroup namespaces on a
# bridge, each with overlays over /etc, /var, /usr/local, /opt and /root, tmpfs /run and /tmp,
# and a real Debian sshd (root key and password auth). See docs/testbed.md.
#
#   testbed.sh up N          create hosts 1..N, print one IP per line
#   testbed.sh down          remove everything this test bed made
#   testbed.sh exec I CMD..  run CMD as root inside host I
#   testbed.sh ip I          print host I's address
#
# TESTBED (default sbtb) prefixes every namespace, bridge, veth and the state directory
# /run/sealbuild-testbed/$TESTBED; TESTBED_NET (default 198.18.0) is the /24 the hosts live in
# (198.18.0.0/15 is reserved for network tests; nothing else is ever a target).
set -euo pipefail

TB="${TESTBED:-sbtb}"
NET="${TESTBED_NET:-198.18.0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="/run/sealbuild-testbed/$TB"
BRIDGE="${TB}-br"
PASSWORD=sealbuild-testbed
STD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

die() { echo "testbed: $*" >&2; exit 1; }

[[ "$TB" =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "TESTBED must be 1-8 lower-case letters/digits (interface names are limited to 15 bytes), got \"$TB\""
[[ "$NET" =~ ^198\.1[89]\.[0-9]{1,3}$ ]] || die "TESTBED_NET must be three octets inside 198.18.0.0/15, got \"$NET\""
[ "$(id -u)" -eq 0 ] || die "needs root (namespaces, mounts, a bridge)"

# Whether PID runs (a zombie waiting for a parent that never reaps does not).
alive() {
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# The host-side pid of host I's init (pid 1 of its pid namespace), or nothing.
host_pid() {
  local file="$STATE/host$1/pid" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if alive "$pid"; then echo "$pid"; fi
  return 0
}

cmd_ip() {
  if ! [[ "${1:-}" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ] || [ "$1" -gt 200 ]; then die "host number must be 1..200, got \"${1:-}\""; fi
  echo "$NET.$1"
}

cmd_exec() {
  local i="${1:-}"
  [ -n "$i" ] || die "usage: testbed.sh exec I CMD..."
  shift
  [ "$#" -gt 0 ] || die "usage: testbed.sh exec I CMD..."
  local pid
  pid="$(host_pid "$i")"
  [ -n "$pid" ] || die "host $i of test bed $TB is not running"
  # Every namespace of the host; --pid forks so CMD is inside its pid namespace too.
  exec nsenter --target "$pid" --net --mount --uts --pid --cgroup --wdns=/ -- env PATH="$STD_PATH" HOME=/root "$@"
}

ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip address add "$NET.254/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
}

# The cgroup v1/v2 hierarchies mounted here, as "OPTIONS MOUNTPOINT" lines, for the host to
# mount again inside its cgroup namespace (runc needs them; their root is then the host's own).
cgroup_mounts() {
  # mountinfo: fields before " - " vary in number; the mount point is the 5th, and after the
  # separator come the type, the source and the super options.
  awk -F ' - ' '{ split($1, a, " "); split($2, b, " ")
         if (b[1] != "cgroup" && b[1] != "cgroup2") next
         n = split(b[3], o, ","); opts = ""
         for (k = 1; k <= n; k++) if (o[k] != "rw" && o[k] != "ro") opts = opts (opts ? "," : "") o[k]
         print b[1], (opts ? opts : "none"), a[5] }' /proc/self/mountinfo
}

# Puts PID into its own cgroup in every hierarchy, so the host's processes (and the cgroups
# runc makes for its containers) live under /sealbuild-testbed/$TB-I and never meet another
# test bed's.
own_cgroup() {
  local pid="$1" name="$2" dir
  while read -r _ _ mnt; do
    dir="$mnt/sealbuild-testbed/$name"
    mkdir -p "$dir"
    # cpuset needs its cpus/mems set before a task can join.
    for f in cpuset.cpus cpuset.mems; do
      if [ -f "$mnt/$f" ]; then
        [ -n "$(cat "$(dirname "$dir")/$f")" ] || cat "$mnt/$f" > "$(dirname "$dir")/$f"
        [ -n "$(cat "$dir/$f")" ] || cat "$mnt/$f" > "$dir/$f"
      fi
    done
    echo "$pid" > "$dir/cgroup.procs"
  done < <(cgroup_mounts)
}

up_host() {
  local i="$1" ns="${TB}-$1" veth="${TB}-v$1" dir="$STATE/host$1"
  local ip="$NET.$i"
  if [ -n "$(host_pid "$i")" ]; then echo "$ip"; return 0; fi
  rm -rf "$dir"
  mkdir -p "$dir"
  ip netns add "$ns" 2>/dev/null || true
  ip link del "$veth" 2>/dev/null || true
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" address add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$NET.254"

  cgroup_mounts > "$dir/cgroups"
  # The host's init runs host-init.sh as pid 1 of new pid/mount/uts namespaces inside the
  # network namespace. The subshell joins its own cgroup first, so everything under it
  # (sshd, containerd, containers) stays there; the cgroup namespace is unshared after.
  (
    own_cgroup "$BASHPID" "$ns"
    exec setsid nsenter --net="/run/netns/$ns" -- \
      unshare --pid --fork --kill-child --mount --uts --cgroup --propagation private --mount-proc -- \
      bash "$HERE/testbed/host-init.sh" "$dir" "$ns" "$PASSWORD" "$HERE/testbed/systemctl"
  ) </dev/null >"$dir/init.log" 2>&1 &
  local outer=$! pid="" n
  # pid 1 of the host is unshare's child (once the subshell has become unshare).
  local unshare_bin
  unshare_bin="$(readlink -f "$(command -v unshare)")"
  for n in $(seq 200); do
    if [ "$(readlink "/proc/$outer/exe" 2>/dev/null)" = "$unshare_bin" ]; then
      pid="$(awk '{print $1}' "/proc/$outer/task/$outer/children" 2>/dev/null)" || true
    fi
    [ -n "$pid" ] && break
    kill -0 "$outer" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$pid" ] || die "host $i did not start: $(cat "$dir/init.log")"
  echo "$outer" > "$dir/unshare.pid"
  echo "$pid" > "$dir/pid"
  for n in $(seq 200); do
    [ -f "/proc/$pid/root/run/testbed-ready" ] && break
    kill -0 "$pid" 2>/dev/null || die "host $i failed: $(cat "$dir/init.log")"
    sleep 0.05
  done
  [ -f "/proc/$pid/root/run/testbed-ready" ] || die "host $i: sshd not ready after 10 s: $(cat "$dir/init.log")"
  echo "$ip $(cut -d' ' -f1,2 "/proc/$pid/root/etc/ssh/ssh_host_ed25519_key.pub")" > "$dir/known_host"
  echo "$ip"
}

cmd_up() {
  local n="${1:-}"
  if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 200 ]; then die "usage: testbed.sh up N (1..200)"; fi
  mkdir -p "$STATE"
  [ -f "$STATE/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C "sealbuild-testbed-$TB" -f "$STATE/id_ed25519"
  echo "$PASSWORD" > "$STATE/password"
  ensure_bridge
  local i
  for i in $(seq "$n"); do up_host "$i"; done
  cat "$STATE"/host*/known_host > "$STATE/known_hosts.tmp" && mv "$STATE/known_hosts.tmp" "$STATE/known_hosts"
}

cmd_down() {
  local dir i pid outer
  for dir in "$STATE"/host*; do
    [ -d "$dir" ] || continue
    i="${dir##*/host}"
    pid="$(host_pid "$i")"
    # SIGKILL to a pid namespace's init ends every process in it; the mounts go with the
    # last process of the mount namespace.
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    outer="$(cat "$dir/unshare.pid" 2>/dev/null || true)"
    for _ in $(seq 100); do
      if { [ -z "$pid" ] || ! alive "$pid"; } && { [ -z "$outer" ] || ! alive "$outer"; }; then break; fi
      sleep 0.05
    done
    while read -r _ _ mnt; do
      rmdir "$mnt/sealbuild-testbed/${TB}-$i" 2>/dev/null || find "$mnt/sealbuild-testbed/${TB}-$i" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done < "$dir/cgroups"
    ip link del "${TB}-v$i" 2>/dev/null || true
    ip netns del "${TB}-$i" 2>/dev/null || true
    rm -rf "$dir"
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$STATE"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  exec) shift; cmd_exec "$@" ;;
  ip) shift; cmd_ip "$@" ;;
  *) die "usage: testbed.sh up N | down | exec I CMD... | ip I" ;;
esac
