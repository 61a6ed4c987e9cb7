#!/usr/bin/env bash
# sealer removes the container runtime with scripts/uninstall-<type>.sh after its own
# `kubeadm reset` (pkg/container-runtime/default.go). clean.sh removes containerd and
# everything else init.sh installed.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/clean.sh" "$@"
