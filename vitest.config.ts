// Projects: unit tests beside the code, integration tests that need the real control plane, and the
// tests that need the real OpenTelemetry Collector (test/collector).
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
    ],
  },
});
