import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The sandbox always runs on PGlite: its smoke and browser tests belong to the PGlite pass only.
    exclude: process.env.DATABASE_URL
      ? ['test/integration/sandbox/**', 'node_modules/**']
      : ['node_modules/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
