// Owns the HMAC key of bypass approvals: 32 random bytes in the Secret genops-bypass-key of the
// operator's namespace, created by the first replica and read by the others, so every replica's webhook
// signs and every leader verifies with the same key. Only the operator's ServiceAccount can read it.

import { randomBytes } from 'node:crypto';
import type { KubeApi } from '../../cluster/api.ts';
import { isAlreadyExists } from '../../cluster/errors.ts';
import type { ResourceType } from '../../cluster/resources.ts';

export const BYPASS_KEY_SECRET = 'genops-bypass-key';

const SECRET: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'secrets',
  kind: 'Secret',
  namespaced: true,
};

interface SecretObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

function keyOf(secret: SecretObject | undefined): Buffer | undefined {
  const b64 = secret?.data?.['key'];
  if (b64 === undefined) return undefined;
  const key = Buffer.from(b64, 'base64');
  return key.length >= 32 ? key : undefined;
}

/** Reads the key, creating the Secret when it does not exist yet (a race with another replica is fine). */
export async function loadBypassKey(
  api: Pick<KubeApi, 'get' | 'create'>,
  namespace: string,
  name = BYPASS_KEY_SECRET,
): Promise<Buffer> {
  const existing = keyOf(await api.get<SecretObject & { metadata: object }>(SECRET, namespace, name));
  if (existing) return existing;
  const fresh = randomBytes(32);
  try {
    await api.create(SECRET, namespace, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace, labels: { 'app.kubernetes.io/name': 'genops-operator' } },
      type: 'Opaque',
      data: { key: fresh.toString('base64') },
    } as never);
    return fresh;
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    const winner = keyOf(await api.get<SecretObject & { metadata: object }>(SECRET, namespace, name));
    if (!winner) throw new Error(`Secret ${namespace}/${name} has no usable key`, { cause: err });
    return winner;
  }
}
