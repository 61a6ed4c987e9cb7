#!/usr/bin/env bash
# Shared by the install scripts of every basefs (kept identical in basefs/*/scripts/common.sh;
# a test checks they do not drift). Sourced, never run.
#
# Where things are:
#   SEALBUILD_ROOTFS  the ClusterImage rootfs (default: the directory above scripts/)
#   DESTDIR           the root of the machine being installed (default: /); tests point it
#                     at a temporary directory and put recording stubs first in PATH
#   REGISTRY_DOMAIN, REGISTRY_PORT   the image's registry (ENV of the image; sea.hub:5000)

ROOTFS="${SEALBUILD_ROOTFS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
DEST="${DESTDIR:-}"
REGISTRY_DOMAIN="${REGISTRY_DOMAIN:-sea.hub}"
REGISTRY_PORT="${REGISTRY_PORT:-5000}"

log() { echo "[sealbuild] $*" >&2; }
die() { echo "[sealbuild] error: $*" >&2; exit 1; }

# The value of the option being parsed: `--flag VALUE`, or fail naming the flag.
need_value() {
  if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value"; fi
  printf '%s' "$2"
}

# A string field of the image's Metadata, which sealbuild writes one field per line.
metadata() {
  [ -f "$ROOTFS/Metadata" ] || die "$ROOTFS/Metadata is missing: not a ClusterImage rootfs"
  sed -n "s/^ *\"$1\": *\"\([^\"]*\)\".*/\1/p" "$ROOTFS/Metadata" | head -n 1
}

# Installs a file of the rootfs into the target root, creating parent directories.
put() {
  local mode="$1" src="$2" dest="$3"
  install -D -m "$mode" "$ROOTFS/$src" "$DEST$dest"
}

# Renders a *.tmpl of the rootfs: {{ .RegistryDomain }}, {{ .RegistryPort }} and the extra
# KEY=VALUE pairs given ({{ .KEY }}) are replaced; nothing else is touched.
render() {
  local src="$1" dest="$2"
  shift 2
  local script="s|{{ \.RegistryDomain }}|${REGISTRY_DOMAIN}|g; s|{{ \.RegistryPort }}|${REGISTRY_PORT}|g"
  local pair value
  for pair in "$@"; do
    value="${pair#*=}"
    value="${value//\\/\\\\}"
    value="${value//&/\\&}"
    value="${value//|/\\|}"
    script="${script}; s|{{ \.${pair%%=*} }}|${value}|g"
  done
  mkdir -p "$(dirname "$DEST$dest")"
  sed -e "$script" "$ROOTFS/$src" > "$DEST$dest"
}

# Points the registry's domain at an address in /etc/hosts (once).
hosts_entry() {
  local ip="$1" hosts="$DEST/etc/hosts"
  mkdir -p "$DEST/etc"
  touch "$hosts"
  grep -qE "[[:space:]]${REGISTRY_DOMAIN//./\\.}([[:space:]]|\$)" "$hosts" || printf '%s %s # sealbuild registry\n' "$ip" "$REGISTRY_DOMAIN" >> "$hosts"
}

# Copies the image's YAML manifests where the runtime applies them by itself.
deploy_manifests() {
  local dir="$1" file
  [ -d "$ROOTFS/manifests" ] || return 0
  mkdir -p "$DEST$dir"
  for file in "$ROOTFS"/manifests/*.yaml "$ROOTFS"/manifests/*.yml; do
    [ -f "$file" ] && install -m 0644 "$file" "$DEST$dir/"
  done
  return 0
}
