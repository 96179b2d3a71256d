import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most test files wait on child processes, git, sockets and timers rather than on a core, so one
    // file more than the cores (vitest's default is one fewer: a single file at a time on two cores).
    // At most four, for the one PostgreSQL server they share.
    maxWorkers: Math.min(4, availableParallelism() + 1),
  },
});
