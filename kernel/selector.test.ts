import { describe, expect, it } from 'vitest';
import type { LabelSelector } from '../crds/index.ts';
import { matchesSelector } from './selector.ts';

const labels = { team: 'ai-platform', environment: 'production', tier: 'gold' };

const cases: Array<[string, LabelSelector | undefined, Record<string, string> | undefined, boolean]> = [
  ['missing selector matches all', undefined, labels, true],
  ['missing selector matches unlabelled', undefined, undefined, true],
  ['empty selector matches all', {}, labels, true],
  ['empty selector matches unlabelled', {}, {}, true],
  [
    'matchLabels all present',
    { matchLabels: { team: 'ai-platform', environment: 'production' } },
    labels,
    true,
  ],
  ['matchLabels one differs', { matchLabels: { team: 'ai-platform', environment: 'dev' } }, labels, false],
  ['matchLabels key missing', { matchLabels: { owner: 'x' } }, labels, false],
  ['matchLabels vs no labels', { matchLabels: { team: 'a' } }, undefined, false],
  ['empty value must be present', { matchLabels: { flag: '' } }, { flag: '' }, true],
  ['empty value absent', { matchLabels: { flag: '' } }, {}, false],
  [
    'In hit',
    { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold', 'silver'] }] },
    labels,
    true,
  ],
  ['In miss', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['bronze'] }] }, labels, false],
  ['In on absent key', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, labels, false],
  ['NotIn hit', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gold'] }] }, labels, false],
  [
    'NotIn miss',
    { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['bronze'] }] },
    labels,
    true,
  ],
  [
    'NotIn absent key',
    { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] },
    labels,
    true,
  ],
  ['Exists', { matchExpressions: [{ key: 'team', operator: 'Exists' }] }, labels, true],
  ['Exists absent', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels, false],
  ['DoesNotExist', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels, true],
  ['DoesNotExist present', { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, labels, false],
  [
    'labels AND expressions',
    {
      matchLabels: { team: 'ai-platform' },
      matchExpressions: [{ key: 'tier', operator: 'In', values: ['x'] }],
    },
    labels,
    false,
  ],
  [
    'two expressions both hold',
    {
      matchExpressions: [
        { key: 'team', operator: 'Exists' },
        { key: 'environment', operator: 'NotIn', values: ['development'] },
      ],
    },
    labels,
    true,
  ],
  [
    'prototype keys are not labels',
    { matchExpressions: [{ key: 'toString', operator: 'Exists' }] },
    {},
    false,
  ],
];

describe('matchesSelector', () => {
  it.each(cases)('%s', (_name, selector, have, expected) => {
    expect(matchesSelector(selector, have)).toBe(expected);
  });
});
