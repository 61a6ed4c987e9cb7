#!/usr/bin/env bash
# Runs on the registry node at install time. In a real ClusterImage (basefs/k3s) it starts the
# container image images/registry.tar.gz serving registry/; the example's image is a stand-in,
# so this only says what it would serve.
set -euo pipefail
rootfs="$(cd "$(dirname "$0")/.." && pwd)"
echo "would serve $rootfs/registry as ${REGISTRY_DOMAIN:-sea.hub}:${REGISTRY_PORT:-5000} with $rootfs/images/registry.tar.gz"
