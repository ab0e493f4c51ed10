// vitest global setup for the e2e project: a control plane with one real node (testenv up --node),
// the operator image built from the working tree's Dockerfile and the GenAI application image,
// both loaded into the node's containerd (testenv image). Everything runs in its own directory and
// on its own ports; stop() drains the node and removes its bridge, iptables rules and mounts, also
// after a failure.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ImageBuilder, importImage } from '../images/build.ts';
import { ControlPlane } from '../controlplane/start.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin kubeconfig of the e2e cluster (control plane + one node). */
    genopsE2eKubeconfig: string;
    /** The node's containerd socket (`ctr --address <it> -n k8s.io`), for failure dumps. */
    genopsE2eContainerd: string;
    /** The cluster's directory: logs/ holds every component's log. */
    genopsE2eDir: string;
  }
}

const log = (message: string) => process.stderr.write(`[e2e] ${message}\n`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = await mkdtemp(join(tmpdir(), 'genops-e2e-'));
  const cluster = new ControlPlane({ dir: join(root, 'cluster'), log, node: true });
  try {
    const started = Date.now();
    const info = await cluster.start();
    if (!info.node) throw new Error('the cluster started without its node');
    log(`cluster with node ${info.node.name} Ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const imagesStarted = Date.now();
    const builder = new ImageBuilder({ log });
    for (const archive of [await builder.operator(), await builder.app()]) {
      await importImage(info.node.containerdSocket, archive);
    }
    log(`images built and loaded in ${((Date.now() - imagesStarted) / 1000).toFixed(1)} s`);
    project.provide('genopsE2eKubeconfig', info.kubeconfig);
    project.provide('genopsE2eContainerd', info.node.containerdSocket);
    project.provide('genopsE2eDir', info.dir);
  } catch (error) {
    await cluster.stop().catch(() => {});
    await rm(root, { recursive: true, force: true });
    // Never skipped: without the node these tests would prove nothing.
    throw new Error(
      `the e2e tier needs the test node and its images, which could not be built or started ` +
        `(see docs/testing.md): ${(error as Error).message}`,
      { cause: error },
    );
  }
  return async () => {
    await cluster.stop();
    await rm(root, { recursive: true, force: true });
  };
}
