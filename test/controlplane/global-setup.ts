// vitest global setup for the integration project: one real control plane for the whole run.
// Tests read the kubeconfig paths with inject('genopsKubeconfig') / inject('genopsOperatorKubeconfig')
// or from GENOPS_TEST_KUBECONFIG / GENOPS_TEST_OPERATOR_KUBECONFIG.
//
// To iterate quickly, start a control plane once (`npm run testenv -- up <dir>`) and export
// GENOPS_TEST_KUBECONFIG=<dir>/kubeconfig and GENOPS_TEST_OPERATOR_KUBECONFIG=<dir>/operator.kubeconfig:
// this setup then uses it instead of starting its own.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ControlPlane } from './start.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin kubeconfig path. */
    genopsKubeconfig: string;
    /** Kubeconfig path of the non-admin operator identity (user genops-operator, group genops:operators). */
    genopsOperatorKubeconfig: string;
  }
}

const log = (message: string) => process.stderr.write(`[controlplane] ${message}\n`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const provide = (kubeconfig: string, operatorKubeconfig: string) => {
    project.provide('genopsKubeconfig', kubeconfig);
    project.provide('genopsOperatorKubeconfig', operatorKubeconfig);
    process.env.GENOPS_TEST_KUBECONFIG = kubeconfig;
    process.env.GENOPS_TEST_OPERATOR_KUBECONFIG = operatorKubeconfig;
  };

  const existing = process.env.GENOPS_TEST_KUBECONFIG;
  const existingOperator = process.env.GENOPS_TEST_OPERATOR_KUBECONFIG;
  if (existing && existingOperator) {
    log(`using the control plane of ${existing}`);
    provide(existing, existingOperator);
    return async () => {};
  }

  const root = await mkdtemp(join(tmpdir(), 'genops-controlplane-'));
  const controlPlane = new ControlPlane({ dir: join(root, 'cp'), log });
  try {
    const info = await controlPlane.start();
    provide(info.kubeconfig, info.operatorKubeconfig);
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    // Never skipped: without the real API server these tests would prove nothing.
    throw new Error(
      'the integration tests need the test control plane, which could not be built or started ' +
        `(see docs/testing.md): ${(error as Error).message}`,
      { cause: error },
    );
  }

  return async () => {
    await controlPlane.stop();
    await rm(root, { recursive: true, force: true });
  };
}
