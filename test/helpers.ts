import { spawn } from 'node:child_process'

/** The error `f` throws; fails the test when it does not throw. */
export const caught = (f: () => unknown): Error => {
  try {
    f()
  } catch (e) {
    return e as Error
  }
  throw new Error('expected a throw, but the call returned')
}

/**
 * Runs a TypeScript file in a child process (tsx), stdout and stderr as pipes as in CI, and
 * resolves with its exit status and output (2 minutes at most).
 */
export const runAsync = (file: string, ...args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { timeout: 120_000, env: process.env })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
