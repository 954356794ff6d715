import os from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    clearMocks: true,
    restoreMocks: true,
    // One test file per core, at least two. vitest's default (cores - 1) ran the whole suite one
    // file at a time on a 2-core machine, while an integration file mostly waits on its children (the
    // CLI, the emulator's throttles, Chromium) and leaves a core idle. Every test holds its in-flight
    // moments open with the emulator's holds and waits on events with generous timeouts, so two files
    // side by side slow each other down but do not change what they prove.
    maxWorkers: Math.max(2, os.availableParallelism()),
    projects: [
      {
        extends: true,
        // CPU-bound unit tests (the chunker on MiBs of data) take seconds on a loaded machine: the
        // limit is there to catch a hang, not to time them.
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000 },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
