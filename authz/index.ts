// Owns the public face of gateway authorization: one factory the composition roots (genops operator,
// genops local) call with their view of the decisions, and the price estimate behind the per-request
// limit. See docs/gateway.md for the protocol, the answers and the failure mode.

import type { AIPolicy } from '../crds/index.ts';
import type { Clock } from '../kernel/clock.ts';
import type { Logger } from '../kernel/logger.ts';
import type { Micros } from '../kernel/money.ts';
import type { Attributor } from '../pipeline/attribution/attributor.ts';
import { createPriceBook } from '../pipeline/pricing/price-book.ts';
import type { PriceTableConfig } from '../pipeline/pricing/overrides.ts';
import { costMicros } from '../pipeline/pricing/price.ts';
import { costOverrideFromPolicies } from '../pipeline/windows/cost-override.ts';
import type { AuthzView, OutputCostEstimator } from './decide.ts';
import { createIdentityResolver } from './identity.ts';
import type { AuthzMetrics } from './metrics.ts';
import { createAuthzServer, type AuthzServer } from './server.ts';
import { createAuthzThread } from './thread.ts';

export { DEFAULT_AUTHZ_PORT, CHECK_PATH, HTTP_CHECK_PATH } from './server.ts';
export type { AuthzServer } from './server.ts';
export type { AuthzView } from './decide.ts';

export interface GatewayAuthzOptions {
  readonly host: string;
  readonly port: number;
  readonly view: AuthzView;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: AuthzMetrics;
  /** The operator's span attributor (pods); absent in `genops local`, where headers name the caller. */
  readonly attributor?: Attributor;
  /** Forwarders (gateways) whose headers and stated caller addresses are believed. */
  readonly trustedPeers?: readonly string[];
  /** The operator's price overrides (`--price-file`), for the per-request limit. */
  readonly pricing?: PriceTableConfig;
  readonly ready?: () => boolean;
  /**
   * Serve from the authz thread (authz/thread.ts): checks never wait behind ingest on the main event
   * loop, at the price of a thread more and a message per check. Default false: on 2 cores shared with
   * ingest it measured worse than the main thread (docs/gateway.md#latency); for more cores.
   */
  readonly thread?: boolean;
}

/**
 * The most the output of a call can cost: max_tokens output tokens at the workload's AIPolicy
 * costPerToken price, else the price table's (overrides first). Input tokens are not counted: the
 * check does not tokenize prompts, so the estimate is a lower bound of the call's cost.
 */
export function createOutputCostEstimator(
  policies: () => readonly AIPolicy[],
  pricing: PriceTableConfig | undefined,
  clock: Clock,
): OutputCostEstimator {
  const book = createPriceBook({ clock, ...(pricing === undefined ? {} : { config: pricing }) });
  let seen: readonly AIPolicy[] | undefined;
  let override: ReturnType<typeof costOverrideFromPolicies>;
  return (identity, provider, model, outputTokens): Micros | undefined => {
    const list = policies();
    if (list !== seen) {
      seen = list;
      override = costOverrideFromPolicies(list);
    }
    const fn = override?.({
      ref: identity.ref,
      key: identity.key,
      labels: identity.labels,
      via: 'attributes',
      spoofed: false,
    });
    const tokens = { inputTokens: 0, outputTokens, cacheTokens: 0, reasoningTokens: 0 };
    if (fn) return fn(tokens, provider ?? 'unknown', model);
    const price = book.lookup(provider ?? 'unknown', model, clock.now());
    if (price === undefined) return undefined;
    return costMicros(
      { inputTokens: 0, outputTokens, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
      price,
    );
  };
}

export function createGatewayAuthz(options: GatewayAuthzOptions): AuthzServer {
  if (options.thread ?? false) {
    return createAuthzThread({
      host: options.host,
      port: options.port,
      view: options.view,
      clock: options.clock,
      logger: options.logger,
      metrics: options.metrics,
      ...(options.attributor === undefined ? {} : { attributor: options.attributor }),
      ...(options.trustedPeers === undefined ? {} : { trustedPeers: options.trustedPeers }),
      ...(options.pricing === undefined ? {} : { pricing: options.pricing }),
      ...(options.ready === undefined ? {} : { ready: options.ready }),
    });
  }
  return createAuthzServer({
    host: options.host,
    port: options.port,
    view: options.view,
    clock: options.clock,
    logger: options.logger,
    metrics: options.metrics,
    identity: createIdentityResolver({
      ...(options.attributor === undefined ? {} : { attributor: options.attributor }),
      ...(options.trustedPeers === undefined ? {} : { trustedPeers: options.trustedPeers }),
    }),
    estimate: createOutputCostEstimator(() => options.view.policies(), options.pricing, options.clock),
    ...(options.ready === undefined ? {} : { ready: options.ready }),
  });
}
