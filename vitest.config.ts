import { defineConfig } from 'vitest/config'

import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// Where test workers record which backends ran (test/backend-report.ts); read by the summary reporter.
process.env.FLUXION_BACKEND_REPORT_DIR ??= mkdtempSync(join(tmpdir(), 'fluxion-backends-'))

export default defineConfig({
  resolve: {
    alias: {
      'fluxion/laws/vitest': fileURLToPath(new URL('./laws/vitest.ts', import.meta.url)),
      'fluxion/laws': fileURLToPath(new URL('./laws/index.ts', import.meta.url)),
      'fluxion/gpu': fileURLToPath(new URL('./src/gpu.ts', import.meta.url)),
      'fluxion/node': fileURLToPath(new URL('./src/node.ts', import.meta.url)),
      fluxion: fileURLToPath(new URL('./src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
  },
})
