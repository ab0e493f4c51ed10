// Projects: unit tests beside the code, integration tests that need the real control plane, and the
// tests that need the real OpenTelemetry Collector (test/collector), and the end-to-end tier on a real
// node (test/e2e).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{cmd,kernel,crds,cluster,pipeline,decision,enforcer,webhook,observability,bench,authz}/**/*.test.ts',
            'test/unit/**/*.test.ts',
            // Hostile-input suite (issue 13): fuzzing, bombs, slow and flooding clients on loopback.
            'test/hostile/**/*.test.ts',
          ],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/controlplane/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One control plane is shared; files run one after another so they do not fight over it.
          fileParallelism: false,
        },
      },
      {
        test: {
          // Gateway authorization against real clients: Envoy's generated gRPC client (Python venv,
          // built once and cached) and a real nginx with auth_request.
          name: 'gateway',
          include: ['test/gateway/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 20 * 60_000,
        },
      },
      {
        test: {
          name: 'collector',
          include: ['test/collector/**/*.test.ts'],
          // The first run compiles the test Collector (many minutes on 2 cores); later runs use the cache.
          testTimeout: 120_000,
          hookTimeout: 60 * 60_000,
        },
      },
      {
        test: {
          // A control plane with one real node (containerd, kubelet, kube-proxy), the operator image
          // built from this tree and run as pods (test/e2e, docs/testing.md). Its global setup builds
          // and starts everything in its own directory and on its own ports; one file, steps in order.
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 240_000,
          hookTimeout: 60 * 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
