import { defineConfig, mergeConfig } from 'vitest/config'

import base from './vitest.config.js'

/**
 * The vitest configuration `npm run mutation` (StrykerJS) uses: the unit, law and reference tests
 * only. The example and demo tests run child processes (where no mutant is active), so they cannot
 * kill a mutant but would run for every one of them. The alias convergence race (alias.test.ts,
 * about a third of the cpu suite's time) is left out too: every optimizer it races is checked
 * step by step against its float64 reference in optimizer-table.test.ts, which kills what a
 * diverging optimizer would show, in milliseconds.
 */
export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: ['test/examples.test.ts', 'test/docs.test.ts', 'test/alias.test.ts', 'node_modules/**'],
      reporters: ['default'],
      isolate: false,
    },
  }),
)
