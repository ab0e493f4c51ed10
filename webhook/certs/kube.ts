// Owns the Kubernetes side of the built-in certificate mode: the Secret that holds the CA and serving
// certificate (type kubernetes.io/tls plus ca.crt/ca.key), and server-side apply of the webhook
// configurations, through the cluster access layer (cluster/api.ts: its transport, error type and
// retry backoff on 429/5xx/network faults, and its client-side write limiter). Permissions (config/rbac/role.yaml): secrets get/update on this one name and create in
// the operator namespace; mutating/validatingwebhookconfigurations get/patch on our two names, and create.

import type { KubeApi } from '../../cluster/api.ts';
import { isAlreadyExists, isConflict } from '../../cluster/errors.ts';
import { RESOURCES, type KubeObject, type ResourceType } from '../../cluster/resources.ts';
import type { CertificateStore, WebhookRegistrar } from './manager.ts';
import type { CertificateBundle } from './x509.ts';

export const DEFAULT_CERT_SECRET = 'genops-webhook-ca';

interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

const WEBHOOK_CONFIGURATIONS: Record<string, ResourceType> = {
  MutatingWebhookConfiguration: RESOURCES.mutatingWebhookConfiguration,
  ValidatingWebhookConfiguration: RESOURCES.validatingWebhookConfiguration,
};

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

function toSecret(
  name: string,
  namespace: string,
  bundle: CertificateBundle,
  resourceVersion?: string,
): SecretObject {
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

export function createSecretCertificateStore(options: {
  api: KubeApi;
  namespace: string;
  name?: string;
}): CertificateStore {
  const { api } = options;
  const name = options.name ?? DEFAULT_CERT_SECRET;
  const namespace = options.namespace;
  return {
    async load() {
      const secret = await api.get<SecretObject>(RESOURCES.secret, namespace, name);
      if (secret === undefined) return undefined;
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
        await api.create(RESOURCES.secret, namespace, toSecret(name, namespace, bundle));
        return 'created';
      } catch (err) {
        if (isAlreadyExists(err) || isConflict(err)) return 'exists';
        throw err;
      }
    },
    async update(bundle, version) {
      try {
        await api.replace(RESOURCES.secret, namespace, name, toSecret(name, namespace, bundle, version));
        return 'updated';
      } catch (err) {
        if (isConflict(err)) return 'conflict';
        throw err;
      }
    },
  };
}

export function createKubeWebhookRegistrar(options: { api: KubeApi }): WebhookRegistrar {
  return {
    async apply(list) {
      for (const o of list) {
        const object = o as KubeObject;
        const rt = WEBHOOK_CONFIGURATIONS[object.kind ?? ''];
        const name = object.metadata?.name;
        if (rt === undefined || name === undefined)
          throw new RangeError(`not a webhook configuration: ${object.kind ?? '?'}/${name ?? '?'}`);
        await options.api.patch(rt, undefined, name, object, { type: 'apply', force: true });
      }
    },
  };
}
