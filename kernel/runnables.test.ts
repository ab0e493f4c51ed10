import { describe, expect, it } from 'vitest';
import { createRecordingLogger } from './logger.ts';
import { createRunnableGroups, runnable } from './runnables.ts';

/** Records start/stop calls; `failStart`/`failStop` make one member fail. */
function recorder(log: string[], name: string, opts: { failStart?: boolean; failStop?: boolean } = {}) {
  return runnable(
    name,
    () => {
      log.push(`start ${name}`);
      if (opts.failStart) throw new Error(`${name} cannot start`);
    },
    () => {
      log.push(`stop ${name}`);
      if (opts.failStop) throw new Error(`${name} cannot stop`);
    },
  );
}

describe('runnable groups', () => {
  it('starts groups in order and stops them in reverse; members of a group start together', async () => {
    const log: string[] = [];
    const groups = createRunnableGroups(['servers', 'caches', 'intake'] as const, createRecordingLogger());
    groups.add('intake', recorder(log, 'receiver'));
    groups.add('servers', recorder(log, 'health'));
    groups.add('caches', recorder(log, 'view'));
    groups.add('caches', recorder(log, 'pods'));
    await groups.start();
    expect(log).toEqual(['start health', 'start view', 'start pods', 'start receiver']);
    log.length = 0;
    await groups.shutdown();
    await groups.shutdown(); // idempotent
    expect(log).toEqual(['stop receiver', 'stop view', 'stop pods', 'stop health']);
  });

  it('a failed start stops what began (reverse), never starts later groups, and rethrows', async () => {
    const log: string[] = [];
    const groups = createRunnableGroups(['a', 'b', 'c'] as const, createRecordingLogger());
    groups.add('a', recorder(log, 'a1'));
    groups.add('b', recorder(log, 'b1', { failStart: true }));
    groups.add('c', recorder(log, 'c1'));
    await expect(groups.start()).rejects.toThrow('b1 cannot start');
    expect(log).toEqual(['start a1', 'start b1', 'stop b1', 'stop a1']);
    expect(log).not.toContain('start c1');
    expect(log).not.toContain('stop c1');
  });

  it('a failed stop is logged and the others still stop', async () => {
    const log: string[] = [];
    const logger = createRecordingLogger();
    const groups = createRunnableGroups(['a', 'b'] as const, logger);
    groups.add('a', recorder(log, 'a1'));
    groups.add('b', recorder(log, 'b1', { failStop: true }));
    await groups.start();
    await groups.shutdown();
    expect(log.slice(2)).toEqual(['stop b1', 'stop a1']);
    expect(logger.records.some((r) => r['msg'] === 'shutdown step failed' && r['step'] === 'b1')).toBe(true);
  });

  it('refuses unknown groups and additions to a started group', async () => {
    const groups = createRunnableGroups(['a'] as const, createRecordingLogger());
    expect(() =>
      groups.add(
        'x' as 'a',
        runnable('x', () => undefined),
      ),
    ).toThrow(RangeError);
    await groups.start();
    expect(() =>
      groups.add(
        'a',
        runnable('late', () => undefined),
      ),
    ).toThrow(RangeError);
  });
});
