import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

describe('the test watchdog', () => {
  it('kills a test that blocks its event loop past the hard limit, and names it', () => {
    const started = Date.now()
    const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/fixtures/watchdog/vitest.config.ts'], {
      encoding: 'utf8',
      timeout: 50_000,
      env: { ...process.env, FLUXION_TEST_HARD_LIMIT_S: '2', FLUXION_BACKEND_REPORT_DIR: '' },
    })
    const seconds = (Date.now() - started) / 1000
    const output = `${r.stdout}${r.stderr}`
    expect(r.status, output).not.toBe(0)
    expect(output).toContain('[fluxion watchdog] "blocks its event loop" has run')
    expect(output).toContain('past the hard limit of 2 s')
    expect(seconds).toBeLessThan(45) // the fixture would block for 60 s
  }, 60_000)
})
