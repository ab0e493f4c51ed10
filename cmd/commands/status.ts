// `genops status`: budgets and policies with their status, from a cluster (the AIBudget/AIPolicy
// resources the operator writes) or from a running `genops local` (its /status endpoint).

import { Command, Option } from 'commander';
import { GenOpsError } from '../../kernel/errors.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { createKubeApi } from '../../cluster/api.ts';
import { KubeApiError } from '../../cluster/errors.ts';
import { RESOURCES, type KubeObject, type ResourceType } from '../../cluster/resources.ts';
import type { AIBudget, AIPolicy } from '../../crds/index.ts';
import type { CommandContext } from '../context.ts';
import { EXIT } from '../context.ts';
import { renderStatus, type OutputFormat, type StatusDocument } from '../status/document.ts';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

interface StatusOptions {
  local?: string | true;
  kubeconfig?: string;
  namespace?: string;
  output: OutputFormat;
}

const DEFAULT_LOCAL = 'http://127.0.0.1:8081';

export function command(ctx: CommandContext, setExit: (code: number) => void): Command {
  return new Command('status')
    .description('show budgets and policies with spend, utilization and enforcement state')
    .option('--local [url]', `read a running genops local instead of a cluster (default ${DEFAULT_LOCAL})`)
    .option(
      '--kubeconfig <file>',
      'kubeconfig of the cluster (default: $KUBECONFIG, ~/.kube/config, in-cluster)',
    )
    .option('-n, --namespace <ns>', 'only this namespace (default: all namespaces)')
    .addOption(
      new Option('-o, --output <format>', 'output format')
        .choices(['table', 'json', 'yaml'])
        .default('table'),
    )
    .action(async (opts: StatusOptions) => {
      try {
        const doc =
          opts.local !== undefined
            ? await fromLocal(opts.local === true ? DEFAULT_LOCAL : opts.local)
            : await fromCluster(opts.kubeconfig ?? (ctx.env.kubeconfig || undefined), opts.namespace, {
                inCluster: ctx.env.inCluster,
              });
        const filtered = opts.namespace === undefined ? doc : onlyNamespace(doc, opts.namespace);
        ctx.stdout(renderStatus(filtered, opts.output, ctx.clock.now()));
        setExit(EXIT.ok);
      } catch (err) {
        ctx.stderr(`genops status: ${err instanceof Error ? err.message : String(err)}\n`);
        setExit(EXIT.unavailable);
      }
    });
}

function onlyNamespace(doc: StatusDocument, ns: string): StatusDocument {
  const inNs = (r: { metadata: { namespace?: string | undefined } }): boolean =>
    (r.metadata.namespace ?? 'default') === ns;
  return { budgets: doc.budgets.filter(inNs), policies: doc.policies.filter(inNs) };
}

async function fromLocal(base: string): Promise<StatusDocument> {
  const url = `${base.replace(/\/$/, '')}/status`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new GenOpsError(
      'retryable',
      'local-unreachable',
      `cannot reach ${url} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}); is \`genops local\` running? Its health port serves /status.`,
    );
  }
  if (!res.ok) throw new GenOpsError('retryable', 'local-status', `${url} answered ${res.status}`);
  return (await res.json()) as StatusDocument;
}

async function fromCluster(
  kubeconfig: string | undefined,
  namespace: string | undefined,
  where: { inCluster: boolean },
): Promise<StatusDocument> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (kubeconfig !== undefined) {
    try {
      kc.loadFromFile(kubeconfig);
    } catch (err) {
      throw new GenOpsError(
        'invalid',
        'kubeconfig-unreadable',
        `cannot read kubeconfig ${kubeconfig}: ${(err as Error).message}`,
      );
    }
  } else {
    // Without any config the client falls back to http://localhost:8080 and the error then blames TLS;
    // name the real cause instead.
    const defaultFile = join(homedir(), '.kube', 'config');
    if (!where.inCluster && !existsSync(defaultFile)) {
      throw new GenOpsError(
        'invalid',
        'no-kubeconfig',
        `no kubeconfig found: KUBECONFIG is not set, ${defaultFile} does not exist and this is not a pod in a ` +
          'cluster; pass --kubeconfig FILE or set KUBECONFIG (or read a running genops local with --local)',
      );
    }
    kc.loadFromDefault();
  }
  // The cluster access layer: its transport, error type, and its backoff on 429 (e.g. right after a
  // CRD is installed) and 5xx, a few tries.
  const api = createKubeApi({
    kubeConfig: kc,
    logger: silentLogger,
    maxAttempts: 5,
    retryBackoff: { initialMs: 500, maxMs: 2_500 },
  });
  const list = async (rt: ResourceType): Promise<unknown[]> => {
    try {
      const res = await api.list<KubeObject>(rt, namespace === undefined ? {} : { namespace });
      return res.items ?? [];
    } catch (err) {
      const server = kc.getCurrentCluster()?.server ?? 'the cluster';
      const why =
        err instanceof KubeApiError && err.status > 0
          ? `HTTP ${err.status}`
          : err instanceof KubeApiError && err.cause instanceof Error
            ? err.cause.message
            : (err as Error).message;
      throw new GenOpsError(
        'retryable',
        'cluster-unreachable',
        `cannot list ${rt.plural} on ${server}: ${why}`,
      );
    }
  };
  try {
    const [budgets, policies] = await Promise.all([list(RESOURCES.aiBudget), list(RESOURCES.aiPolicy)]);
    return { budgets: budgets as AIBudget[], policies: policies as AIPolicy[] };
  } finally {
    api.close();
  }
}
