#!/usr/bin/env bash
# The host check sealos runs on every host before it installs anything (label `check`:
# lifecycle/pkg/bootstrap/bootstrap.go, defaultChecker; lifecycle/pkg/constants/bash.go).
# Names every problem in one message and changes nothing:
#   - not root (the scripts write /etc and /usr/local and run systemctl)
#   - no systemd (the runtime and the registry's runtime run as units)
#   - a CPU architecture other than the image's (Metadata arch)
#   - a tool the scripts run missing from PATH
#
#   check.sh           (no arguments)
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ "$#" -eq 0 ] || die "check.sh takes no arguments"

problems=()
# DESTDIR (a test's root) needs no root.
[ -n "$DEST" ] || [ "$(id -u)" -eq 0 ] || problems+=("not running as root")
command -v systemctl >/dev/null 2>&1 || problems+=("no systemctl: the runtime runs as systemd units")
image_arch="$(metadata arch)"
case "$(uname -m)" in
  x86_64) host_arch=amd64 ;;
  aarch64 | arm64) host_arch=arm64 ;;
  *) host_arch="$(uname -m)" ;;
esac
[ "$host_arch" = "$image_arch" ] || problems+=("this host is $host_arch but the image is for $image_arch (install the $host_arch image)")
missing=()
for tool in awk grep gzip install sed tar; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[ "${#missing[@]}" -eq 0 ] || problems+=("missing tools: ${missing[*]}")

if [ "${#problems[@]}" -gt 0 ]; then
  message="${problems[0]}"
  for problem in "${problems[@]:1}"; do message="$message; $problem"; done
  die "this host cannot take the image: $message"
fi
log "host check passed ($host_arch)"
