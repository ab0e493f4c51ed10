// The gateway examples for Istio and Envoy Gateway cannot run here (no mesh, no gateway controller):
// what they promise is checked against what the operator serves. They must point at the Service of
// examples/gateway/authz-service.yaml, which must select the operator pods of config/manager on the
// port the operator listens on by default; the failure mode they set must be the documented one; the
// names that tie two resources together must agree; and `genops validate` must still pass on examples/.
// (The nginx example is run as written by nginx.test.ts; Envoy's CheckRequest, with the body these
// examples ask for, by envoy-grpc.test.ts.)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_AUTHZ_PORT } from '../../authz/index.ts';
import { loadResources } from '../../crds/load.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function docs(path: string): Doc[] {
  return parseAllDocuments(readFileSync(join(ROOT, path), 'utf8')).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as Doc;
  });
}
const one = (path: string, kind: string): Doc => {
  const found = docs(path).filter((d) => d['kind'] === kind);
  expect(found).toHaveLength(1);
  return found[0]!;
};

const service = one('examples/gateway/authz-service.yaml', 'Service');
const serviceHost = `${service['metadata'].name}.${service['metadata'].namespace}.svc.cluster.local`;

describe('examples/gateway', () => {
  it('the Service selects the operator pods on the default --authz-port, and the NetworkPolicy opens it', () => {
    const manager = one('config/manager/manager.yaml', 'Deployment');
    const podLabels = manager['spec'].template.metadata.labels as Record<string, string>;
    for (const [k, v] of Object.entries(service['spec'].selector as Record<string, string>)) {
      expect(podLabels[k]).toBe(v);
    }
    expect(service['spec'].ports).toEqual([
      expect.objectContaining({ port: DEFAULT_AUTHZ_PORT, targetPort: DEFAULT_AUTHZ_PORT }),
    ]);
    const netpol = one('examples/gateway/authz-service.yaml', 'NetworkPolicy');
    expect(netpol['metadata'].namespace).toBe(service['metadata'].namespace);
    expect(netpol['spec'].podSelector.matchLabels).toEqual(service['spec'].selector);
    expect(netpol['spec'].ingress[0].ports).toEqual([{ port: DEFAULT_AUTHZ_PORT, protocol: 'TCP' }]);
  });

  it('Istio: the CUSTOM policy names the provider that points at the Service, failing open', () => {
    const operator = one('examples/gateway/istio/extension-provider.yaml', 'IstioOperator');
    const providers = operator['spec'].meshConfig.extensionProviders as Doc[];
    expect(providers).toHaveLength(1);
    const provider = providers[0]!;
    expect(provider['envoyExtAuthzGrpc']).toMatchObject({
      service: serviceHost,
      port: DEFAULT_AUTHZ_PORT,
      failOpen: true,
      includeRequestBodyInCheck: { maxRequestBytes: expect.any(Number) },
    });
    const policy = one('examples/gateway/istio/authorization-policy.yaml', 'AuthorizationPolicy');
    expect(policy['apiVersion']).toBe('security.istio.io/v1');
    expect(policy['spec'].action).toBe('CUSTOM');
    expect(policy['spec'].provider.name).toBe(provider['name']);
    expect(policy['spec'].rules[0].to[0].operation.hosts).toContain('api.openai.com');
  });

  it('Envoy Gateway: the SecurityPolicy calls the Service over gRPC, granted across namespaces, failing open', () => {
    const policy = one('examples/gateway/envoy-gateway/security-policy.yaml', 'SecurityPolicy');
    expect(policy['apiVersion']).toBe('gateway.envoyproxy.io/v1alpha1');
    expect(policy['spec'].extAuth.failOpen).toBe(true);
    expect(policy['spec'].extAuth.grpc.backendRefs).toEqual([
      { name: service['metadata'].name, namespace: service['metadata'].namespace, port: DEFAULT_AUTHZ_PORT },
    ]);
    expect(policy['spec'].extAuth.bodyToExtAuth.maxRequestBytes).toBeGreaterThan(0);
    const grant = one('examples/gateway/envoy-gateway/security-policy.yaml', 'ReferenceGrant');
    expect(grant['metadata'].namespace).toBe(service['metadata'].namespace);
    expect(grant['spec'].from).toEqual([
      { group: 'gateway.envoyproxy.io', kind: 'SecurityPolicy', namespace: policy['metadata'].namespace },
    ]);
    expect(grant['spec'].to).toEqual([{ group: '', kind: 'Service', name: service['metadata'].name }]);
  });

  it('leaves examples/ valid for genops validate (gateway documents are skipped, none invalid)', async () => {
    const result = await loadResources([join(ROOT, 'examples/gateway')]);
    expect(result.problems).toEqual([]);
    expect(result.resources).toEqual([]);
    expect(result.skipped).toBe(6);
    const cli = spawnSync(process.execPath, [join(ROOT, 'cmd/genops.ts'), 'validate', 'examples/'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(cli.status).toBe(0);
  });
});
