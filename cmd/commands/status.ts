// `genops status`: budgets and policies with their status, from a cluster (the AIBudget/AIPolicy
// resources the operator writes) or from a running `genops local` (its /status endpoint).

import { Command, Option } from 'commander';
import { GenOpsError } from '../../kernel/errors.ts';
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
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const list = async (plural: string): Promise<unknown[]> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const group = { group: 'genops.ai', version: 'v1alpha1', plural };
        const res = (await (namespace === undefined
          ? api.listClusterCustomObject(group)
          : api.listNamespacedCustomObject({ ...group, namespace }))) as { items?: unknown[] };
        return res.items ?? [];
      } catch (err) {
        // The API server asks to come back (429, e.g. right after a CRD is installed, or 5xx): a few tries.
        const code = (err as { code?: number }).code ?? 0;
        if ((code === 429 || code >= 500) && attempt < 5) {
          await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
          continue;
        }
        const server = kc.getCurrentCluster()?.server ?? 'the cluster';
        const why = code > 0 ? `HTTP ${code}` : (err as Error).message;
        throw new GenOpsError(
          'retryable',
          'cluster-unreachable',
          `cannot list ${plural} on ${server}: ${why}`,
        );
      }
    }
  };
  const [budgets, policies] = await Promise.all([list('aibudgets'), list('aipolicies')]);
  return { budgets: budgets as AIBudget[], policies: policies as AIPolicy[] };
}
