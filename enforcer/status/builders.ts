// Owns the adapter from the decision stage's pure status builders (decision/status.ts) to
// what the enforcer calls: the previous status comes from the resource as the informer has it.

import { emptyBudgetMemory, emptyPolicyMemory } from '../../decision/memory.ts';
import { buildBudgetStatus, buildPolicyStatus, memoryFromStatuses } from '../../decision/status.ts';
import type { StatusBuilders } from '../enforcer.ts';

export const statusBuilders: StatusBuilders = {
  budgetStatus: ({ budget, state, memory, snapshot, now }) =>
    buildBudgetStatus({
      budget,
      state,
      memory: memory ?? emptyBudgetMemory,
      snapshot,
      previous: budget.status,
      now,
    }),
  policyStatus: ({ policy, state, memory, now }) =>
    buildPolicyStatus({ policy, state, memory: memory ?? emptyPolicyMemory, previous: policy.status, now }),
  memoryFromStatus: (budgets, policies) => memoryFromStatuses(budgets, policies),
};
