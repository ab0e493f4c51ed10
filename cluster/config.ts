// Owns where the API server's address and credentials come from: a kubeconfig file, or the pod's
// service account when running in a cluster.

import { KubeConfig } from '@kubernetes/client-node';
import { GenOpsError } from '../kernel/errors.ts';

export interface KubeConfigSource {
  /** A kubeconfig file; wins over in-cluster config. */
  readonly kubeconfig?: string | undefined;
  /** Use the pod's service account (KUBERNETES_SERVICE_HOST was set). */
  readonly inCluster: boolean;
  /** A context of the kubeconfig other than its current one. */
  readonly context?: string | undefined;
}

export function loadKubeConfig(source: KubeConfigSource): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (source.kubeconfig !== undefined && source.kubeconfig !== '') {
      kc.loadFromFile(source.kubeconfig);
      if (source.context !== undefined) kc.setCurrentContext(source.context);
    } else if (source.inCluster) {
      kc.loadFromCluster();
    } else {
      throw new Error(
        'no kubeconfig given and not running in a cluster (use --kubeconfig FILE or KUBECONFIG)',
      );
    }
  } catch (err) {
    throw new GenOpsError('invalid', 'KUBECONFIG', `cannot load Kubernetes config: ${String(err)}`, {
      cause: err,
    });
  }
  if (kc.getCurrentCluster() === null) {
    throw new GenOpsError('invalid', 'KUBECONFIG', 'the Kubernetes config names no current cluster');
  }
  return kc;
}
