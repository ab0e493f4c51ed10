// Owns the component contract shared by every long-lived piece (receivers, pools, informers, servers).

export interface Component {
  /** Resolves once the component serves; rejects if it cannot start (fail fast at startup). */
  start(signal?: AbortSignal): Promise<void>;
  /** Idempotent and safe without start; resolves once resources are released or the deadline passed. */
  shutdown(deadlineMs?: number): Promise<void>;
}

/** Starts components in order; if one fails, shuts down those already started (reverse order) and rethrows. */
export async function startAll(components: readonly Component[], signal?: AbortSignal): Promise<void> {
  const started: Component[] = [];
  try {
    for (const c of components) {
      await c.start(signal);
      started.push(c);
    }
  } catch (err) {
    await shutdownAll(started.reverse());
    throw err;
  }
}

/** Shuts components down in the given order, continuing past failures. */
export async function shutdownAll(components: readonly Component[], deadlineMs?: number): Promise<void> {
  for (const c of components) {
    try {
      await c.shutdown(deadlineMs);
    } catch {
      // Shutdown must go on for the rest; the component logs its own failure.
    }
  }
}
