#!/usr/bin/env bash
# sealer's kubernetes runtime runs this on every host before its own kubeadm steps
# (pkg/runtime/kubernetes/init.go: `cd ROOTFS/scripts && export RegistryURL=... && bash
# init-kube.sh`): the host preparation, which is `init.sh install` (containerd, runc, CNI
# plugins, kubeadm, kubelet, kubectl, their units and kernel settings). Running it again
# after containerd.sh, which does the same, changes nothing.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/init.sh" install "$@"
