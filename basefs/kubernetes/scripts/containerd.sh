#!/usr/bin/env bash
# sealer installs the container runtime the label cluster.alpha.sealer.io/container-runtime-type
# names by running scripts/<type>.sh on every host (pkg/container-runtime/default.go). containerd
# is installed by `init.sh install`, together with the kubelet; init-kube.sh runs it too.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/init.sh" install "$@"
