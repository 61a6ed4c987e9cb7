#!/usr/bin/env bash
# Runs on each node at install time: puts the binaries in place.
set -euo pipefail
rootfs="$(cd "$(dirname "$0")/.." && pwd)"
install -m 0755 "$rootfs/bin/hello" "${DESTDIR:-}/usr/local/bin/hello"
