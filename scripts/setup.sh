#!/usr/bin/env bash
# Installs what sealbuild's tests need on a fresh Debian machine: the independent tools
# that check our output (quality.md) and the npm packages. Safe to run again: it installs
# only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package
declare -A tools=(
  [skopeo]=skopeo [umoci]=umoci [oci-image-tool]=oci-image-tool [docker-registry]=docker-registry
  [buildah]=buildah [bwrap]=bubblewrap [pigz]=pigz [zstd]=zstd [xz]=xz-utils [bzip2]=bzip2
  [shellcheck]=shellcheck [/usr/bin/time]=time [openssl]=openssl [htpasswd]=apache2-utils
  # the installer's test bed (scripts/testbed.sh): hosts with a real sshd, containerd and runc
  [/usr/sbin/sshd]=openssh-server [ssh-keygen]=openssh-client [/usr/bin/containerd]=containerd
  [/usr/sbin/runc]=runc [/usr/sbin/ip]=iproute2 [nsenter]=util-linux [unshare]=util-linux
)
missing=()
for cmd in "${!tools[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${tools[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  # sshd and containerd are for the test bed's hosts only: a policy-rc.d that denies every
  # start keeps the packages from starting them on this machine (invoke-rc.d and
  # deb-systemd-invoke honour it). One that is already there is left as it is.
  own_policy=false
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 0755 /usr/sbin/policy-rc.d
    own_policy=true
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if $own_policy; then $sudo rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
