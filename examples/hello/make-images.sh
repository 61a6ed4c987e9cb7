#!/usr/bin/env bash
# Makes the example's two container images from the text files in web/ and registry/, for
# amd64 and arm64, as a vendor would ship them: vendor/hello-web.tar (an OCI archive, named
# in manifests/imageList) and images/registry.tar.gz (the registry image the install starts).
# Builds in a scratch store, so the example's own store reads them from the files.
#   bash examples/hello/make-images.sh [SEALBUILD...]     (default: sealbuild from PATH)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ "$#" -gt 0 ] || set -- sealbuild
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
platforms=linux/amd64,linux/arm64
mkdir -p "$here/vendor" "$here/images"
"$@" --root "$scratch" --progress quiet -t example/hello-web:v1 --platform "$platforms" "$here/web" > /dev/null
"$@" --root "$scratch" --progress quiet save example/hello-web:v1 -o "$here/vendor/hello-web.tar" > /dev/null
"$@" --root "$scratch" --progress quiet -t example/registry:v1 --platform "$platforms" "$here/registry" > /dev/null
"$@" --root "$scratch" --progress quiet save example/registry:v1 -o "$here/images/registry.tar.gz" > /dev/null
echo "made $here/vendor/hello-web.tar and $here/images/registry.tar.gz"
