import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'

const runFixture = (fixture: string, limitSeconds: number) =>
  new Promise<{ status: number | null; output: string; seconds: number }>((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/fixtures/watchdog/vitest.config.ts', fixture], {
      env: { ...process.env, FLUXION_TEST_HARD_LIMIT_S: String(limitSeconds), FLUXION_BACKEND_REPORT_DIR: '' },
    })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, output, seconds: (Date.now() - started) / 1000 })
    })
  })

describe.concurrent('the test watchdog', () => {
  it('kills a test that blocks its event loop past the hard limit, and names it', async () => {
    const r = await runFixture('blocked', 2)
    expect(r.status, r.output).not.toBe(0)
    expect(r.output).toMatch(/\[fluxion watchdog\] the event loop has been blocked for \d+ s, past the hard limit of 2 s \(FLUXION_TEST_HARD_LIMIT_S\), in "blocks its event loop"/)
    expect(r.seconds).toBeLessThan(45) // the fixture would block for 60 s
  }, 60_000)

  it("kills a later describe's beforeAll that blocks, and names where it was", async () => {
    const r = await runFixture('hook', 2)
    expect(r.status, r.output).not.toBe(0)
    expect(r.output).toMatch(/\[fluxion watchdog\] the event loop has been blocked .* in "after first > is quick/)
    expect(r.seconds).toBeLessThan(45)
  }, 60_000)

  it('leaves a slow test alone while its event loop turns', async () => {
    const r = await runFixture('slow', 2)
    expect(r.output).not.toContain('[fluxion watchdog]')
    expect(r.status, r.output).toBe(0)
  }, 60_000)
})
