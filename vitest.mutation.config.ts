import { defineConfig, mergeConfig } from 'vitest/config'

import base from './vitest.config.js'

/**
 * The vitest configuration `npm run mutation` (StrykerJS) uses: the unit, law and reference tests
 * only. The example, demo, consumer, browser and doc tests run child processes (where no mutant is active), so they cannot
 * kill a mutant but would run for every one of them. The alias convergence race (alias.test.ts,
 * about a third of the cpu suite's time) is left out too: every optimizer it races is checked
 * step by step against its float64 reference in optimizer-table.test.ts, which kills what a
 * diverging optimizer would show, in milliseconds.
 */
export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: [
        'test/examples.test.ts',
        'test/docs.test.ts',
        'test/alias.test.ts',
        // child processes, a packed tarball or a browser: no mutant is active there
        'test/consumer.test.ts',
        'test/browser.test.ts',
        'test/watchdog.test.ts',
        'test/doc-examples.test.ts',
        'test/getting-started.test.ts',
        'node_modules/**',
      ],
      reporters: ['default'],
      isolate: false,
    },
  }),
)
