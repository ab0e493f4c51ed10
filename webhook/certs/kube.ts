// Owns the Kubernetes side of the built-in certificate mode: the Secret that holds the CA and serving
// certificate (type kubernetes.io/tls plus ca.crt/ca.key), and server-side apply of the webhook
// configurations. Permissions (config/rbac/role.yaml): secrets get/update on this one name and create in
// the operator namespace; mutating/validatingwebhookconfigurations get/patch on our two names, and create.

import { ApiException, CoreV1Api, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import type { CertificateStore, WebhookRegistrar } from './manager.ts';
import type { CertificateBundle } from './x509.ts';

export const DEFAULT_CERT_SECRET = 'genops-webhook-ca';
const FIELD_MANAGER = 'genops-operator';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

function toSecret(
  name: string,
  namespace: string,
  bundle: CertificateBundle,
  resourceVersion?: string,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/name': 'genops-operator', 'app.kubernetes.io/component': 'webhook' },
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': b64(bundle.certPem),
      'tls.key': b64(bundle.keyPem),
      'ca.crt': b64(bundle.caBundlePem),
      'ca.key': b64(bundle.caKeyPem),
    },
  };
}

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

export function createSecretCertificateStore(options: {
  kubeConfig: KubeConfig;
  namespace: string;
  name?: string;
}): CertificateStore {
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const name = options.name ?? DEFAULT_CERT_SECRET;
  const namespace = options.namespace;
  return {
    async load() {
      let secret: V1Secret;
      try {
        secret = await core.readNamespacedSecret({ name, namespace });
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
      const data = secret.data ?? {};
      return {
        version: secret.metadata?.resourceVersion ?? '',
        bundle: {
          certPem: unb64(data['tls.crt']),
          keyPem: unb64(data['tls.key']),
          caBundlePem: unb64(data['ca.crt']),
          caKeyPem: unb64(data['ca.key']),
        },
      };
    },
    async create(bundle) {
      try {
        await core.createNamespacedSecret({
          namespace,
          body: toSecret(name, namespace, bundle),
          fieldManager: FIELD_MANAGER,
        });
        return 'created';
      } catch (err) {
        if (statusOf(err) === 409) return 'exists';
        throw err;
      }
    },
    async update(bundle, version) {
      try {
        await core.replaceNamespacedSecret({
          name,
          namespace,
          body: toSecret(name, namespace, bundle, version),
          fieldManager: FIELD_MANAGER,
        });
        return 'updated';
      } catch (err) {
        if (statusOf(err) === 409) return 'conflict';
        throw err;
      }
    },
  };
}

export function createKubeWebhookRegistrar(options: { kubeConfig: KubeConfig }): WebhookRegistrar {
  const objects = KubernetesObjectApi.makeApiClient(options.kubeConfig);
  return {
    async apply(list) {
      for (const o of list) {
        await objects.patch(o, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
      }
    },
  };
}
