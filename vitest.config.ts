import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Lab tests share the kernel; files run one at a time in forks so teardown is per process.
    pool: 'forks',
    globalSetup: ['test/lab/global-setup.ts'],
    fileParallelism: false,
  },
});
