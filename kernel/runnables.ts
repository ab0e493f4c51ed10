// Owns the start and stop order of a composition root (controller-runtime's manager runnable
// groups): components are added to named groups, the groups start one after the other in the order
// given (the members of one group together), and stop in reverse, so an order is written once as a
// list instead of as a hand-kept sequence of starts and another of stops. A failed start stops the
// groups already started (reverse) and rethrows; a failed stop is logged and the rest goes on.

import type { Logger } from './logger.ts';

export interface Runnable {
  readonly name: string;
  start(signal?: AbortSignal): Promise<void>;
  /** Idempotent; resolves once released or at the deadline (ms epoch). */
  shutdown(deadlineMs?: number): Promise<void>;
}

export interface RunnableGroups<G extends string> {
  add(group: G, runnable: Runnable): void;
  /** Starts every group in order; rejects (after stopping what started) if a member fails. */
  start(signal?: AbortSignal): Promise<void>;
  /** Stops the started groups in reverse order. Idempotent. */
  shutdown(deadlineMs?: number): Promise<void>;
}

/** A component (kernel/lifecycle.ts) under a name for the logs. */
export function named(name: string, component: Omit<Runnable, 'name'>): Runnable {
  return {
    name,
    start: (signal) => component.start(signal),
    shutdown: (deadlineMs) => component.shutdown(deadlineMs),
  };
}

/** A runnable of two functions (a step of the start, such as restoring state, or a stop-only flush). */
export function runnable(
  name: string,
  start: (signal?: AbortSignal) => Promise<void> | void,
  shutdown: (deadlineMs?: number) => Promise<void> | void = () => undefined,
): Runnable {
  return {
    name,
    start: async (signal) => {
      await start(signal);
    },
    shutdown: async (deadlineMs) => {
      await shutdown(deadlineMs);
    },
  };
}

const FAILED_START_STOP_MS = 5_000;

export function createRunnableGroups<G extends string>(
  order: readonly G[],
  logger: Logger,
): RunnableGroups<G> {
  const members = new Map<G, Runnable[]>(order.map((g) => [g, []]));
  /** Groups whose start began (a partly started group is stopped whole: shutdown is safe without start). */
  const begun: G[] = [];
  let stopping: Promise<void> | undefined;

  const stopGroup = async (group: G, deadlineMs: number | undefined): Promise<void> => {
    await Promise.all(
      (members.get(group) ?? []).map(async (r) => {
        try {
          await r.shutdown(deadlineMs);
        } catch (err) {
          logger.warn('shutdown step failed', { group, step: r.name, err });
        }
      }),
    );
  };

  const shutdown = (deadlineMs?: number): Promise<void> => {
    stopping ??= (async () => {
      for (const group of [...begun].reverse()) await stopGroup(group, deadlineMs);
    })();
    return stopping;
  };

  return {
    add(group, r) {
      const list = members.get(group);
      if (list === undefined) throw new RangeError(`unknown runnable group ${group}`);
      if (begun.includes(group)) throw new RangeError(`runnable group ${group} already started`);
      list.push(r);
    },
    async start(signal) {
      for (const group of order) {
        if (stopping !== undefined) return;
        begun.push(group);
        try {
          await Promise.all((members.get(group) ?? []).map((r) => r.start(signal)));
        } catch (err) {
          // Nothing was served yet: a short stop, so the caller's exit follows the error at once.
          await shutdown(Date.now() + FAILED_START_STOP_MS);
          throw err;
        }
      }
    },
    shutdown,
  };
}
