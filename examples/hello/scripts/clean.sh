#!/usr/bin/env bash
# Undoes init.sh.
set -euo pipefail
rm -f "${DESTDIR:-}/usr/local/bin/hello"
