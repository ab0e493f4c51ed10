// The list of subcommands. Each module owns one subcommand and its flags.

import type { CommandModule } from '../context.ts';

export const commandModules: ReadonlyArray<() => Promise<CommandModule>> = [
  () => import('./version.ts'),
  () => import('./validate.ts'),
  () => import('./demo.ts'),
  () => import('./prices.ts'),
  () => import('./status.ts'),
  () => import('./local.ts'),
  () => import('./operator.ts'),
];
