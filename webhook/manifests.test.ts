import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderWebhookManifests, WEBHOOK_MANIFEST } from './generate.ts';
import { mutatingWebhookConfiguration, validatingWebhookConfiguration } from './manifests.ts';

interface Hook {
  name: string;
  failurePolicy: string;
  timeoutSeconds: number;
  sideEffects: string;
  admissionReviewVersions: string[];
  clientConfig: { url?: string; caBundle?: string };
  namespaceSelector: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> };
}

describe('webhook registrations', () => {
  it('config/webhook/webhooks.yaml is generated from webhook/manifests.ts (run node webhook/generate.ts)', () => {
    expect(readFileSync(WEBHOOK_MANIFEST, 'utf8')).toBe(renderWebhookManifests());
  });

  it('fail open for injection, closed for workloads, never gate system namespaces, short timeouts', () => {
    const options = { endpoint: { url: 'https://127.0.0.1:9443/' }, caBundle: 'Q0E=' };
    const mutating = mutatingWebhookConfiguration(options)['webhooks'] as Hook[];
    const validating = validatingWebhookConfiguration(options)['webhooks'] as Hook[];
    // The third mutating webhook approves bypass annotations (issue 12): failing open leaves them unapproved.
    expect(mutating.map((h) => h.failurePolicy)).toEqual(['Ignore', 'Ignore', 'Ignore']);
    expect(validating.map((h) => h.failurePolicy)).toEqual(['Fail', 'Ignore']);
    for (const h of [...mutating, ...validating]) {
      expect(h.timeoutSeconds).toBeLessThanOrEqual(5);
      expect(h.sideEffects).toBe('None');
      expect(h.admissionReviewVersions).toEqual(['v1']);
      expect(h.clientConfig.caBundle).toBe('Q0E=');
      expect(h.clientConfig.url).toMatch(
        /^https:\/\/127\.0\.0\.1:9443\/(mutate-pods|mutate-bypass|validate-workloads|validate-genops)$/,
      );
      expect(h.namespaceSelector.matchExpressions).toContainEqual({
        key: 'kubernetes.io/metadata.name',
        operator: 'NotIn',
        values: ['kube-system', 'genops-system'],
      });
    }
  });
});
