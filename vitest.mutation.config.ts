import { defineConfig, mergeConfig } from 'vitest/config'

import base from './vitest.config.js'

/**
 * The vitest configuration `npm run mutation` (StrykerJS) uses: the unit, law and reference tests
 * only. The example and demo tests run child processes (where no mutant is active) and train for
 * seconds, so they cannot kill a mutant but would run for every one of them.
 */
export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: ['test/examples.test.ts', 'test/docs.test.ts', 'node_modules/**'],
      reporters: ['default'],
      isolate: false,
    },
  }),
)
