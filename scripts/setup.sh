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
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
