// Owns the built-in certificate mode (`genops operator --webhook-self-signed`): keeps a CA and a serving
// certificate in one Secret of the operator's namespace so every replica serves the same, creates it if
// absent (a replica that loses the create race adopts the winner's), rotates before expiry with optimistic
// concurrency (resourceVersion; on conflict re-read and adopt), hands the serving pair to the HTTPS server,
// and server-side applies the webhook configurations with the CA bundle.
// Kubernetes access goes through two narrow ports (store, registrar) so tests can use memory fakes.

import type { Clock } from '../../kernel/clock.ts';
import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { KubeObject, WebhookRegistrationOptions } from '../manifests.ts';
import { mutatingWebhookConfiguration, validatingWebhookConfiguration } from '../manifests.ts';
import type { WebhookMetrics } from '../metrics.ts';
import type { CertificatePair } from '../server.ts';
import type { CertificateBundle, ServingNames, Validity } from './x509.ts';
import { DEFAULT_VALIDITY, ensureBundle, inspect } from './x509.ts';

export interface StoredBundle {
  readonly bundle: CertificateBundle;
  /** Opaque version for optimistic concurrency (the Secret's resourceVersion). */
  readonly version: string;
}

export interface CertificateStore {
  load(): Promise<StoredBundle | undefined>;
  /** 'exists' when someone else created it first. */
  create(bundle: CertificateBundle): Promise<'created' | 'exists'>;
  /** 'conflict' when it changed since `version` was read. */
  update(bundle: CertificateBundle, version: string): Promise<'updated' | 'conflict'>;
}

export interface WebhookRegistrar {
  /** Server-side applies the objects (idempotent). */
  apply(objects: readonly KubeObject[]): Promise<void>;
}

export interface SelfSignedCertificatesOptions {
  readonly store: CertificateStore;
  /** Omit to manage certificates only (e.g. configurations applied some other way). */
  readonly registrar?: WebhookRegistrar;
  /** Where the API server reaches the webhook, and registration choices (caBundle is filled in here). */
  readonly registration: Omit<WebhookRegistrationOptions, 'caBundle' | 'injectCaFrom'>;
  readonly names: ServingNames;
  /** Receives the serving pair at start and after every change (WebhookServer.setCertificate). */
  readonly onCertificate: (pair: CertificatePair) => void;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  readonly validity?: Validity;
  /** How often the Secret is checked for expiry and for another replica's rotation. Default 10 minutes. */
  readonly checkIntervalMs?: number;
}

export interface SelfSignedCertificates extends Component {
  /**
   * Settles the certificate (adopt, create or rotate) and hands it to onCertificate, without registering
   * the webhooks: call it before the server listens, then start() once it does.
   */
  prepare(): Promise<CertificatePair>;
  /** Checks and rotates now, and registers the webhooks if the CA bundle changed. Also run by the timer. */
  sync(): Promise<CertificateBundle>;
  /** The CA bundle (PEM) in force, after start. */
  caBundlePem(): string | undefined;
}

const MAX_ATTEMPTS = 5;

export function createSelfSignedCertificates(options: SelfSignedCertificatesOptions): SelfSignedCertificates {
  const logger = options.logger.child({ component: 'webhook-certs' });
  const validity = options.validity ?? DEFAULT_VALIDITY;
  let current: CertificateBundle | undefined;
  let appliedCaBundle: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<CertificateBundle> | undefined;
  let stopped = false;

  /** One round against the store: adopt, create or rotate; retried on lost races. */
  const settle = async (): Promise<CertificateBundle> => {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const stored = await options.store.load();
      const { bundle, change } = await ensureBundle(
        stored?.bundle,
        options.names,
        options.clock.now(),
        validity,
      );
      if (change === 'unchanged') return bundle;
      if (!stored) {
        if ((await options.store.create(bundle)) === 'created') {
          logger.info('webhook certificate authority created', {
            notAfter: iso(inspect(bundle.certPem).notAfter),
          });
          return bundle;
        }
      } else if ((await options.store.update(bundle, stored.version)) === 'updated') {
        logger.info('webhook certificate rotated', {
          change,
          notAfter: iso(inspect(bundle.certPem).notAfter),
        });
        return bundle;
      }
      // Another replica wrote first: read again and adopt theirs if it is good.
      logger.debug('webhook certificate write lost a race; rereading', { attempt });
    }
    throw new Error('webhook certificate Secret keeps changing under us');
  };

  const adopt = async (): Promise<CertificateBundle> => {
    const bundle = await settle();
    if (!current || current.certPem !== bundle.certPem || current.keyPem !== bundle.keyPem) {
      options.onCertificate({ certPem: bundle.certPem, keyPem: bundle.keyPem });
    }
    current = bundle;
    return bundle;
  };

  const syncOnce = async (): Promise<CertificateBundle> => {
    const bundle = await adopt();
    if (options.registrar && appliedCaBundle !== bundle.caBundlePem) {
      const registration: WebhookRegistrationOptions = {
        ...options.registration,
        caBundle: Buffer.from(bundle.caBundlePem).toString('base64'),
      };
      await options.registrar.apply([
        mutatingWebhookConfiguration(registration),
        validatingWebhookConfiguration(registration),
      ]);
      appliedCaBundle = bundle.caBundlePem;
      logger.info('webhook configurations applied');
    }
    return bundle;
  };

  const sync = (): Promise<CertificateBundle> => {
    // One round at a time: the timer and a caller never race each other.
    running ??= syncOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      sync().then(schedule, (err: unknown) => {
        // Keep serving the current certificate; try again at the next tick.
        options.metrics.certificateError('rotate');
        logger.error('webhook certificate check failed', { err });
        schedule();
      });
    }, options.checkIntervalMs ?? 600_000);
    timer.unref();
  };

  return {
    async prepare() {
      const bundle = await adopt();
      return { certPem: bundle.certPem, keyPem: bundle.keyPem };
    },
    sync,
    caBundlePem: () => current?.caBundlePem,
    async start() {
      await sync();
      schedule();
    },
    async shutdown() {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A store in memory, for tests, benchmarks and a single process without a cluster. */
export function createMemoryCertificateStore(): CertificateStore & { writes: number } {
  let stored: StoredBundle | undefined;
  let version = 0;
  const store = {
    writes: 0,
    load: () => Promise.resolve(stored),
    create(bundle: CertificateBundle) {
      if (stored) return Promise.resolve('exists' as const);
      stored = { bundle, version: String(++version) };
      store.writes++;
      return Promise.resolve('created' as const);
    },
    update(bundle: CertificateBundle, v: string) {
      if (stored?.version !== v) return Promise.resolve('conflict' as const);
      stored = { bundle, version: String(++version) };
      store.writes++;
      return Promise.resolve('updated' as const);
    },
  };
  return store;
}
