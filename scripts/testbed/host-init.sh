#!/usr/bin/env bash
# pid 1 of one test-bed host (run by testbed.sh up, inside the host's new namespaces).
#   host-init.sh STATE_DIR HOSTNAME PASSWORD SYSTEMCTL_SHIM
# Mounts the host's own filesystem view, starts its sshd, then reaps orphans until killed.
set -euo pipefail
dir="$1" name="$2" password="$3" shim="$4"
tb_state="$(dirname "$dir")"

hostname "$name"

# Overlays: writes to these trees stay in this host's upper directory, reads fall through
# to the machine's own files, so a host starts as a copy of this machine.
for d in etc var usr/local opt root; do
  key="${d//\//_}"
  mkdir -p "$dir/ovl/$key/upper" "$dir/ovl/$key/work"
  mount -t overlay "testbed-$key" -o "lowerdir=/$d,upperdir=$dir/ovl/$key/upper,workdir=$dir/ovl/$key/work" "/$d"
done
# A host resolves its own name, as a Debian install writes it: without the line, every sudo
# waits ~20 s for DNS ("unable to resolve host") before it runs the command.
printf '127.0.1.1\t%s\n' "$name" >> /etc/hosts

# cgroups seen from this host's cgroup namespace: its own subtree is the root, so runc's
# cgroups for the host's containers never collide with another host's.
first_mount=true
while read -r type opts mnt; do
  if [ "$type" = cgroup2 ]; then
    mkdir -p "$mnt"
    mount -t cgroup2 cgroup2 "$mnt"
    continue
  fi
  if $first_mount; then
    mount -t tmpfs -o mode=0755 cgroup-root /sys/fs/cgroup
    first_mount=false
  fi
  clean=""
  IFS=, read -r -a parts <<< "$opts"
  for p in "${parts[@]}"; do
    case "$p" in release_agent=* | none) ;; *) clean="${clean:+$clean,}$p" ;; esac
  done
  case "$clean" in name=*) clean="none,$clean" ;; esac
  mkdir -p "$mnt"
  mount -t cgroup -o "$clean" cgroup "$mnt"
done < "$dir/cgroups"
# cgroup v2 forbids processes in a cgroup whose children get controllers: this host's own
# processes live in a leaf.
if [ -f /sys/fs/cgroup/cgroup.procs ] && [ -f /sys/fs/cgroup/cgroup.subtree_control ]; then
  mkdir -p /sys/fs/cgroup/init
  echo $$ > /sys/fs/cgroup/init/cgroup.procs
  sed 's/\([^ ]*\)/+\1/g' /sys/fs/cgroup/cgroup.controllers > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
fi

# The host's identity, before /run is replaced (the key pair lives under it).
install -m 0755 "$shim" /usr/local/sbin/systemctl
install -m 0600 "$tb_state/id_ed25519.pub" /etc/ssh/testbed_authorized_keys
rm -f /etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N "" -C "$name" -f /etc/ssh/ssh_host_ed25519_key
echo "root:$password" | chpasswd

# A checkout under /tmp (a CI clone, say) stays visible at its own path under the host's own
# /tmp: tests run the checkout's CLI inside hosts, with a store inside the checkout.
checkout="$(cd "$(dirname "$shim")/../.." && pwd)"
if [[ "$checkout" == /tmp/* ]]; then
  mount --bind "$checkout" /mnt
  mount -t tmpfs -o mode=1777 testbed-tmp /tmp
  mkdir -p "$checkout"
  mount --move /mnt "$checkout"
else
  mount -t tmpfs -o mode=1777 testbed-tmp /tmp
fi

# One directory every host of the test bed shares (fakes keep their "cluster" there): bound
# on /mnt (in this mount namespace only) while /run is replaced, then moved under it.
mkdir -p "$tb_state/shared"
mount --bind "$tb_state/shared" /mnt
mount -t tmpfs -o mode=0755 testbed-run /run
mkdir -p /run/testbed-shared
mount --move /mnt /run/testbed-shared
mkdir -p /run/sshd /run/lock
chmod 0755 /run/sshd

/usr/sbin/sshd -D -e \
  -o PermitRootLogin=yes -o PasswordAuthentication=yes -o KbdInteractiveAuthentication=no \
  -o "AuthorizedKeysFile=/etc/ssh/testbed_authorized_keys .ssh/authorized_keys" \
  -o HostKey=/etc/ssh/ssh_host_ed25519_key -o PidFile=/run/sshd.pid -o UseDNS=no \
  -o MaxStartups=100:30:200 -o MaxSessions=50 \
  2> /run/sshd.log &
for _ in $(seq 100); do
  [ -s /run/sshd.pid ] && break
  sleep 0.05
done
touch /run/testbed-ready

# As pid 1, adopt and reap whatever the host's services leave behind.
while :; do
  wait || true
  sleep 1
done
