import { defineConfig } from 'vitest/config';

// Two projects. `unit`: no services, seconds (`npm run test:unit`): pure domain code, parsers,
// and the workflows' orchestration logic on Temporal's local test server with fake activities.
// `pipeline`: real Temporal, tools and registry, started once by test/pipeline/global-setup.ts
// (`npm run test:pipeline`). `vitest run` (scripts/test) runs both.

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // The Temporal native runtime is per process: forks, not threads. Both cores: the workflow
          // tests wait on the local Temporal server most of the time, the other files fill the gap.
          pool: 'forks',
          maxWorkers: 2,
          // Workflow tests run their independent runs at once (describe.concurrent).
          maxConcurrency: 20,
          // In `vitest run`, unit files finish first (quick feedback), then pipeline files run alone.
          sequence: { groupOrder: 0 },
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'pipeline',
          include: ['test/pipeline/**/*.test.ts'],
          // One Temporal dev server and one registry for the whole run (test/pipeline/global-setup.ts).
          globalSetup: ['test/pipeline/global-setup.ts'],
          // Files run one at a time because they share the embedded services and a 2-core machine.
          pool: 'forks',
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
