// Owns JSON Patch (RFC 6902) as the mutating webhook emits it: JSON Pointer escaping (RFC 6901: "~" -> "~0",
// "/" -> "~1") and a small applier for the operations we emit, so tests and the idempotency check can run
// a patch the way the API server does.

export type PatchOperation =
  | { readonly op: 'add'; readonly path: string; readonly value: unknown }
  | { readonly op: 'replace'; readonly path: string; readonly value: unknown }
  | { readonly op: 'remove'; readonly path: string }
  | { readonly op: 'test'; readonly path: string; readonly value: unknown };

/** Escapes one reference token of a JSON Pointer. Order matters: "~" first, or "/" -> "~1" -> "~01". */
export function escapeToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

export function unescapeToken(token: string): string {
  return token.replaceAll('~1', '/').replaceAll('~0', '~');
}

/** Builds a JSON Pointer from raw tokens, e.g. pointer('metadata', 'annotations', 'a/b') = /metadata/annotations/a~1b. */
export function pointer(...tokens: readonly (string | number)[]): string {
  return tokens.map((t) => '/' + escapeToken(String(t))).join('');
}

/**
 * Applies a patch to a deep copy of `doc` and returns it. Supports add/replace/remove/test with object keys,
 * array indices and "-" (append), which is all the webhook emits. Throws on a path that does not resolve.
 */
export function applyPatch<T>(doc: T, ops: readonly PatchOperation[]): T {
  const root = { value: structuredClone(doc) as unknown };
  for (const op of ops) {
    const tokens = op.path === '' ? [] : op.path.slice(1).split('/').map(unescapeToken);
    if (!op.path.startsWith('/') && op.path !== '') throw new Error(`bad pointer ${op.path}`);
    let parent: unknown = root;
    let key: string = 'value';
    for (const token of tokens) {
      parent = child(parent, key, op.path);
      key = token;
    }
    apply(parent, key, op);
  }
  return root.value as T;
}

function child(container: unknown, key: string, path: string): unknown {
  if (Array.isArray(container)) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= container.length)
      throw new Error(`no element ${key} in ${path}`);
    return container[i] as unknown;
  }
  if (typeof container === 'object' && container !== null && Object.hasOwn(container, key)) {
    return (container as Record<string, unknown>)[key];
  }
  throw new Error(`no member ${key} in ${path}`);
}

function apply(parent: unknown, key: string, op: PatchOperation): void {
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(i) || i < 0 || i > parent.length) throw new Error(`bad index ${key} in ${op.path}`);
    switch (op.op) {
      case 'add':
        parent.splice(i, 0, structuredClone(op.value));
        return;
      case 'replace':
        if (i >= parent.length) throw new Error(`no element ${key} in ${op.path}`);
        parent[i] = structuredClone(op.value);
        return;
      case 'remove':
        if (i >= parent.length) throw new Error(`no element ${key} in ${op.path}`);
        parent.splice(i, 1);
        return;
      case 'test':
        if (JSON.stringify(parent[i]) !== JSON.stringify(op.value))
          throw new Error(`test failed at ${op.path}`);
        return;
    }
  }
  if (typeof parent !== 'object' || parent === null)
    throw new Error(`cannot ${op.op} into a scalar at ${op.path}`);
  const obj = parent as Record<string, unknown>;
  switch (op.op) {
    case 'add':
      obj[key] = structuredClone(op.value);
      return;
    case 'replace':
      if (!Object.hasOwn(obj, key)) throw new Error(`no member ${key} in ${op.path}`);
      obj[key] = structuredClone(op.value);
      return;
    case 'remove':
      if (!Object.hasOwn(obj, key)) throw new Error(`no member ${key} in ${op.path}`);
      delete obj[key];
      return;
    case 'test':
      if (JSON.stringify(obj[key]) !== JSON.stringify(op.value)) throw new Error(`test failed at ${op.path}`);
      return;
  }
}
