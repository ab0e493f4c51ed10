// Owns the webhook as one component for the composition root: handler + HTTPS server + (optionally) the
// built-in certificate manager, started in the right order (certificate, listen, register) and stopped
// in reverse. This is the only entry point the operator needs (`genops operator` wires it).

import type { KubeConfig } from '@kubernetes/client-node';
import { createKubeApi, type KubeApi } from '../cluster/api.ts';
import type { Clock } from '../kernel/clock.ts';
import type { Component } from '../kernel/lifecycle.ts';
import type { Logger } from '../kernel/logger.ts';
import {
  createKubeWebhookRegistrar,
  createSecretCertificateStore,
  DEFAULT_CERT_SECRET,
} from './certs/kube.ts';
import type { CertificateStore, SelfSignedCertificates, WebhookRegistrar } from './certs/manager.ts';
import { createSelfSignedCertificates } from './certs/manager.ts';
import type { Validity } from './certs/x509.ts';
import { namesForHost } from './certs/x509.ts';
import type { SchemaCheck } from './genops/validate.ts';
import { createAdmissionHandler } from './handler.ts';
import type { InjectionOptions } from './inject/config.ts';
import { injectionConfig } from './inject/config.ts';
import type { FailurePolicy, WebhookEndpoint } from './manifests.ts';
import { DEFAULT_OPERATOR_NAMESPACE, DEFAULT_SERVICE_NAME } from './manifests.ts';
import type { WebhookMetrics } from './metrics.ts';
import { noopWebhookMetrics } from './metrics.ts';
import type { CertificatePair, CertificateSource, WebhookServer } from './server.ts';
import { createWebhookServer } from './server.ts';
import type { AdmissionView } from './view.ts';
import type { BypassGate } from './bypass/gate.ts';

export type WebhookCertificates =
  /** cert-manager mode: a mounted Secret (tls.crt, tls.key in certDir), watched for renewals. */
  | { readonly mode: 'files'; readonly certDir: string }
  /** Built-in mode: CA + serving certificate in a Secret, webhooks registered with its CA bundle. */
  | {
      readonly mode: 'self-signed';
      /** Kubernetes access for the Secret and the registrations (unless store/registrar are given). */
      readonly kubeConfig?: KubeConfig;
      /** Or the operator's own cluster access (wins over kubeConfig; not closed here). */
      readonly api?: KubeApi;
      /** Where the API server reaches us (base URL, paths appended); default the in-cluster Service. */
      readonly url?: string;
      readonly secretName?: string;
      readonly register?: boolean;
      readonly workloadFailurePolicy?: FailurePolicy;
      readonly validity?: Validity;
      readonly checkIntervalMs?: number;
      /** Overrides of the Kubernetes ports (tests). */
      readonly store?: CertificateStore;
      readonly registrar?: WebhookRegistrar;
    }
  /** A fixed pair in memory (tests, benchmarks). */
  | { readonly mode: 'memory'; readonly pair: CertificatePair };

export interface AdmissionWebhookOptions {
  readonly view: AdmissionView;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics?: WebhookMetrics;
  /** 0.0.0.0 in a pod; 127.0.0.1 out of cluster and in tests. */
  readonly host: string;
  /** Default 9443 (the Service's targetPort); 0 picks a free one. */
  readonly port?: number;
  /** The operator's namespace: Secret location, Service namespace, never gated. Default genops-system. */
  readonly namespace?: string;
  readonly certificates: WebhookCertificates;
  readonly injection?: InjectionOptions;
  /** Requests by these users are never refused (the operator's own ServiceAccount user name). */
  readonly exemptUsernames?: readonly string[];
  /** Validating answers when the webhook cannot judge (internal error, view not synced). Default false (refuse). */
  readonly failOpen?: boolean;
  /** /readyz says 503 this long before the listener closes, at shutdown. Default 0. */
  readonly drainDelayMs?: number;
  readonly schema?: SchemaCheck;
  /** Approves bypass annotations and relabelling by holders of the bypass permission. */
  readonly bypassGate?: BypassGate;
}

export interface AdmissionWebhook extends Component {
  /** The bound port, after start. */
  port(): number;
  readonly server: WebhookServer;
  /** Present in self-signed mode. */
  readonly certificates: SelfSignedCertificates | undefined;
}

export function createAdmissionWebhook(options: AdmissionWebhookOptions): AdmissionWebhook {
  const metrics = options.metrics ?? noopWebhookMetrics;
  const namespace = options.namespace ?? DEFAULT_OPERATOR_NAMESPACE;
  const handler = createAdmissionHandler({
    view: options.view,
    // The OTLP Service (config/manager/service.yaml) lives in the operator's namespace.
    injection: injectionConfig({ receiverHost: `http://genops-otlp.${namespace}.svc`, ...options.injection }),
    ...(options.schema ? { schema: options.schema } : {}),
    clock: options.clock,
    logger: options.logger,
    metrics,
    ...(options.exemptUsernames ? { exemptUsernames: options.exemptUsernames } : {}),
    ...(options.failOpen !== undefined ? { failOpen: options.failOpen } : {}),
    ...(options.bypassGate ? { bypassGate: options.bypassGate } : {}),
  });

  const certs = options.certificates;
  let certificates: SelfSignedCertificates | undefined;
  let pending: CertificatePair | undefined;
  // The server is built now but reads its first certificate at start; in self-signed mode it comes from
  // prepare() just before.
  const source: CertificateSource =
    certs.mode === 'files'
      ? { type: 'files', certFile: `${certs.certDir}/tls.crt`, keyFile: `${certs.certDir}/tls.key` }
      : {
          type: 'memory',
          get pair(): CertificatePair {
            const pair = certs.mode === 'memory' ? certs.pair : pending;
            if (!pair) throw new Error('no serving certificate prepared');
            return pair;
          },
        };
  const server = createWebhookServer({
    handler,
    host: options.host,
    port: options.port ?? 9443,
    certificate: source,
    logger: options.logger,
    metrics,
    ...(options.view.synced ? { isReady: () => options.view.synced?.() !== false } : {}),
    ...(options.drainDelayMs !== undefined ? { drainDelayMs: options.drainDelayMs } : {}),
  });

  let ownApi: KubeApi | undefined;
  if (certs.mode === 'self-signed') {
    const service = `${DEFAULT_SERVICE_NAME}.${namespace}.svc`;
    const urlHost = certs.url ? new URL(certs.url).hostname : undefined;
    const hostNames = urlHost ? namesForHost(urlHost) : { dnsNames: [], ipAddresses: [] };
    const endpoint: WebhookEndpoint = certs.url
      ? { url: certs.url }
      : { service: { name: DEFAULT_SERVICE_NAME, namespace } };
    // One cluster access for the Secret and the registrations, made only when one of them needs it.
    let api: KubeApi | undefined = certs.api;
    const clusterAccess = (): KubeApi => {
      if (api === undefined) {
        api = createKubeApi({ kubeConfig: required(certs.kubeConfig), logger: options.logger });
        ownApi = api;
      }
      return api;
    };
    const store =
      certs.store ??
      createSecretCertificateStore({
        api: clusterAccess(),
        namespace,
        name: certs.secretName ?? DEFAULT_CERT_SECRET,
      });
    const registrar =
      certs.register === false
        ? undefined
        : (certs.registrar ?? createKubeWebhookRegistrar({ api: clusterAccess() }));
    certificates = createSelfSignedCertificates({
      store,
      ...(registrar ? { registrar } : {}),
      registration: {
        endpoint,
        operatorNamespace: namespace,
        ...(certs.workloadFailurePolicy ? { workloadFailurePolicy: certs.workloadFailurePolicy } : {}),
      },
      names: {
        dnsNames: [...new Set([...hostNames.dnsNames, service, `${service}.cluster.local`])],
        ipAddresses: hostNames.ipAddresses,
      },
      onCertificate: (pair) => {
        if (pending === undefined) pending = pair;
        else server.setCertificate(pair);
      },
      clock: options.clock,
      logger: options.logger,
      metrics,
      ...(certs.validity ? { validity: certs.validity } : {}),
      ...(certs.checkIntervalMs ? { checkIntervalMs: certs.checkIntervalMs } : {}),
    });
  }

  let stopping: Promise<void> | undefined;
  return {
    server,
    certificates,
    port: () => server.port(),
    async start(signal) {
      if (certificates) await certificates.prepare();
      await server.start(signal);
      try {
        // Register only once we listen, so the API server never calls a webhook that is not there.
        await certificates?.start(signal);
      } catch (err) {
        await server.shutdown();
        throw err;
      }
    },
    shutdown(deadlineMs) {
      stopping ??= (async () => {
        await certificates?.shutdown(deadlineMs);
        await server.shutdown(deadlineMs);
        ownApi?.close();
      })();
      return stopping;
    },
  };
}

function required(kubeConfig: KubeConfig | undefined): KubeConfig {
  if (!kubeConfig)
    throw new Error('self-signed webhook certificates need a kubeConfig or api (or a store and registrar)');
  return kubeConfig;
}

export { createStaticAdmissionView } from './view.ts';
export type { AdmissionView, StaticAdmissionView } from './view.ts';
export type { WebhookMetrics } from './metrics.ts';
export { noopWebhookMetrics } from './metrics.ts';
