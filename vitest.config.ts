import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One Temporal dev server and one registry for the whole run (test/global-setup.ts).
    globalSetup: ['test/global-setup.ts'],
    // The Temporal native runtime is per process: forks, not threads. Files run one at a time
    // because they share the embedded services and a 2-core machine.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
