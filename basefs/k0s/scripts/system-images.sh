#!/usr/bin/env bash
# k0s' system images as a bundle in /var/lib/k0s/images, which k0s imports on every node that
# runs a worker before it starts the kubelet (k0s docs/airgap-install.md), as k3s imports its
# agent/images. The bundle is an OCI layout tar made from the image's own registry/ folder
# (the build cached the images of manifests/imageList there), each image named as k0s asks for
# it: spec.images.repository (the image's registry) in place of its registry host
# (pkg/apis/k0s/v1beta1/images.go). A worker then has them even when the registry is away.
# Sourced by init.sh and upgrade.sh (after common.sh), never run.

BUNDLE=/var/lib/k0s/images/sealbuild-system-images.tar

write_system_images_bundle() {
  local v2="$ROOTFS/registry/docker/registry/v2" list="$ROOTFS/manifests/imageList"
  local work ref path tag repo top name media link hex entries=""
  [ -f "$list" ] && [ -d "$v2" ] || return 0
  work="$(mktemp -d)"
  mkdir -p "$work/blobs/sha256"
  while read -r ref; do
    case "$ref" in '' | '#'*) continue ;; esac
    path="${ref#*/}"
    tag="${path##*:}"
    path="${path%:*}"
    repo="$v2/repositories/$path"
    [ -f "$repo/_manifests/tags/$tag/current/link" ] || die "$ref is in manifests/imageList but not in registry/: build the image again"
    top="$(cat "$repo/_manifests/tags/$tag/current/link")"
    # The tag's manifest or index, every manifest of the repository and its configs and layers.
    for link in "$repo"/_manifests/revisions/sha256/*/link "$repo"/_layers/sha256/*/link; do
      hex="$(cat "$link")"
      hex="${hex#sha256:}"
      cp "$v2/blobs/sha256/${hex:0:2}/$hex/data" "$work/blobs/sha256/$hex"
    done
    hex="${top#sha256:}"
    # The manifest's own mediaType comes first in it (a config's is nested further on).
    media="$(grep -o '"mediaType": *"[^"]*"' "$work/blobs/sha256/$hex" | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')"
    case "$media" in *manifest* | *index* | *list*) ;; *) media=application/vnd.oci.image.manifest.v1+json ;; esac
    name="$REGISTRY_DOMAIN:$REGISTRY_PORT/$path:$tag"
    entries="${entries:+$entries,}{\"mediaType\":\"$media\",\"digest\":\"$top\",\"size\":$(wc -c < "$work/blobs/sha256/$hex"),\"annotations\":{\"io.containerd.image.name\":\"$name\",\"org.opencontainers.image.ref.name\":\"$name\"}}"
  done < "$list"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$entries" > "$work/index.json"
  mkdir -p "$(dirname "$DEST$BUNDLE")"
  tar -C "$work" -cf "$DEST$BUNDLE.tmp" oci-layout index.json blobs
  mv "$DEST$BUNDLE.tmp" "$DEST$BUNDLE"
  rm -rf "$work"
}
