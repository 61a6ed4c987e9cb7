#!/usr/bin/env bash
# Runs on each node to move it to this image's version: puts the new binaries in place.
set -euo pipefail
rootfs="$(cd "$(dirname "$0")/.." && pwd)"
install -m 0755 "$rootfs/bin/hello" "${DESTDIR:-}/usr/local/bin/hello"
