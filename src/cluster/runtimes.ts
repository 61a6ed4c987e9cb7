import type { ClusterRuntime } from '../runtime/runtimes.js';
import { K0sRuntime } from './runtime-k0s.js';
import { K3sRuntime } from './runtime-k3s.js';
import { KubernetesRuntime } from './runtime-kubernetes.js';
import type { Runtime } from './runtime.js';

/** The implementation for an image's Metadata.clusterRuntime. */
export function runtimeFor(name: ClusterRuntime): Runtime {
  switch (name) {
    case 'k3s':
      return new K3sRuntime();
    case 'k0s':
      return new K0sRuntime();
    case 'kubernetes':
      return new KubernetesRuntime();
  }
}
