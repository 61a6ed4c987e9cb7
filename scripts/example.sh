#!/usr/bin/env bash
# The main job: build the example ClusterImage (examples/hello) for amd64 and arm64, complete
# and offline, check it with `sealbuild verify`, and print what to do with it next.
# Works on a fresh clone: installs the npm packages if they are missing. Needs no network
# beyond that: the example's container images are made here from its text files.
set -euo pipefail
cd "$(dirname "$0")/.."
# npm ci compiles through the prepare script; otherwise recompile so dist/ matches the source.
if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; else npm run --silent build; fi
export SEALBUILD_ROOT="${SEALBUILD_ROOT:-$PWD/.sealbuild-example}"
sealbuild() { node "$PWD/dist/cli/sealbuild.cjs" "$@"; }

# The app's image as a vendor ships it (an OCI archive) and the registry image, from text files.
bash examples/hello/make-images.sh node "$PWD/dist/cli/sealbuild.cjs"
sealbuild -t example/hello:v0.1.0 --platform linux/amd64,linux/arm64 examples/hello
sealbuild verify example/hello:v0.1.0
sealbuild images
cat <<NEXT

Built and verified example/hello:v0.1.0 in $SEALBUILD_ROOT (an OCI layout:
  skopeo inspect oci:$SEALBUILD_ROOT/oci:docker.io/example/hello:v0.1.0).
Next:
  sealbuild save example/hello:v0.1.0 -o hello-bundle.tar.zst   # one file for the airgapped site, every platform
  sealbuild load -i hello-bundle.tar.zst                         # there: every checksum verified first
  sealbuild export example/hello:v0.1.0 -o rootfs/               # the rootfs the installer copies to each host
  sealer run docker.io/example/hello:v0.1.0 --masters 10.0.0.2   # or sealos: run it on hosts
(set SEALBUILD_ROOT=$SEALBUILD_ROOT to use this store.) The example's bin/k3s and registry
image are text stand-ins; for a cluster that runs, build on basefs/k3s (see README).
NEXT
