// Grants the operator's test identity the operator's real permissions. A client certificate
// cannot be a ServiceAccount, so the bindings in config/rbac (which name the controller's
// ServiceAccount) are mirrored with the test user as the subject; the roles are applied as they are.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeConfig, KubernetesObjectApi, PatchStrategy, loadAllYaml } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { OPERATOR_USER } from './start.ts';

const RBAC_GROUP = 'rbac.authorization.k8s.io';
const FIELD_MANAGER = 'genops-testenv';

interface RoleRef {
  apiGroup?: string;
  kind: string;
  name: string;
}

interface RbacObject extends KubernetesObject {
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  roleRef?: RoleRef;
  subjects?: unknown[];
}

export interface BindOperatorRbacOptions {
  /** Path of an admin kubeconfig. */
  kubeconfig: string;
  /** Parsed YAML documents of config/rbac (anything other than RBAC kinds is ignored). */
  docs: readonly unknown[];
  /** The user to bind; default the control plane's operator user. */
  user?: string;
  /** Namespace for namespaced Roles and RoleBindings that have none (kustomize sets it later). Default genops-system. */
  namespace?: string;
}

export interface BoundRbac {
  /** Applied Roles and ClusterRoles, as `Kind namespace/name` or `Kind name`. */
  roles: string[];
  /** Bindings created for the user, same format. */
  bindings: string[];
}

/** Reads every YAML document of a directory (config/rbac), skipping kustomization files. */
export async function loadRbacDocs(dir: string): Promise<unknown[]> {
  const names = (await readdir(dir))
    .filter((n) => /\.ya?ml$/.test(n) && !/^kustomization\.ya?ml$/.test(n))
    .sort();
  const docs: unknown[] = [];
  for (const name of names)
    docs.push(...loadAllYaml(await readFile(join(dir, name), 'utf8')).filter(Boolean));
  return docs;
}

function isRbacObject(doc: unknown): doc is RbacObject {
  const o = doc as Partial<RbacObject> | null;
  return (
    !!o &&
    typeof o === 'object' &&
    typeof o.apiVersion === 'string' &&
    o.apiVersion.startsWith(`${RBAC_GROUP}/`) &&
    typeof o.metadata?.name === 'string'
  );
}

function describe(o: RbacObject): string {
  return o.metadata.namespace
    ? `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`
    : `${o.kind} ${o.metadata.name}`;
}

function bindingName(base: string, user: string): string {
  return `${base}-${user}`
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .slice(0, 253);
}

/**
 * Applies the Roles and ClusterRoles in `docs` and binds them to the operator's test user:
 * every RoleBinding/ClusterRoleBinding in `docs` is mirrored for the user (same roleRef, same
 * namespace); when `docs` has no bindings at all, every role is bound directly. Idempotent
 * (server-side apply).
 */
export async function bindOperatorRbac(options: BindOperatorRbacOptions): Promise<BoundRbac> {
  const user = options.user ?? OPERATOR_USER;
  const defaultNamespace = options.namespace ?? 'genops-system';
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfig);
  const client = KubernetesObjectApi.makeApiClient(kc);
  const apply = (o: KubernetesObject) =>
    client.patch(o, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);

  const objects = options.docs.filter(isRbacObject).map((o) => structuredClone(o));
  const namespaced = (o: RbacObject) => o.kind === 'Role' || o.kind === 'RoleBinding';
  for (const o of objects) {
    if (namespaced(o)) o.metadata.namespace ??= defaultNamespace;
  }
  const roles = objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole');
  const bindings = objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding');

  const namespaces = new Set(objects.filter(namespaced).map((o) => o.metadata.namespace!));
  for (const name of namespaces) await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

  const result: BoundRbac = { roles: [], bindings: [] };
  for (const role of roles) {
    await apply(role);
    result.roles.push(describe(role));
  }

  const subject = { kind: 'User', apiGroup: RBAC_GROUP, name: user };
  const userBindings: RbacObject[] =
    bindings.length > 0
      ? bindings.map((b) => ({
          apiVersion: `${RBAC_GROUP}/v1`,
          kind: b.kind!,
          metadata: {
            name: bindingName(b.metadata.name, user),
            ...(b.metadata.namespace ? { namespace: b.metadata.namespace } : {}),
          },
          roleRef: b.roleRef!,
          subjects: [subject],
        }))
      : roles.map((r) => ({
          apiVersion: `${RBAC_GROUP}/v1`,
          kind: r.kind === 'Role' ? 'RoleBinding' : 'ClusterRoleBinding',
          metadata: {
            name: bindingName(r.metadata.name, user),
            ...(r.metadata.namespace ? { namespace: r.metadata.namespace } : {}),
          },
          roleRef: { apiGroup: RBAC_GROUP, kind: r.kind!, name: r.metadata.name },
          subjects: [subject],
        }));
  for (const binding of userBindings) {
    await apply(binding);
    result.bindings.push(describe(binding));
  }
  return result;
}
