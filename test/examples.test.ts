import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const run = (file: string, ...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { timeout: 120_000, encoding: 'utf8', env: process.env })

describe('examples', () => {
  it('the README quotes examples/quickstart.ts verbatim', () => {
    expect(readFileSync('README.md', 'utf8')).toContain(readFileSync('examples/quickstart.ts', 'utf8'))
  })

  it.each([[[]], [['--custom']]])('the quick start converges towards 0 (%j)', (args: string[]) => {
    const r = run('examples/quickstart.ts', ...args)
    expect(r.status, r.stderr).toBe(0)
    const numbers = r.stdout.match(/-?\d+\.\d+/g)!.map(Number)
    expect(numbers).toHaveLength(6)
    for (const x of numbers) expect(Math.abs(x)).toBeLessThan(0.1)
  })

  it('the custom-transform example: the law suite passes Signum and catches the buggy variant', () => {
    const r = run('examples/custom-transform-laws.ts')
    expect(r.status, r.stderr).toBe(0)
    const [good, bad] = r.stdout.split('buggy signum:')
    expect(good).not.toContain('FAIL')
    expect(good).toContain('ok   reference')
    expect(bad).toMatch(/FAIL reference +cpu +seed -?\d+ path [\d:]+/)
  })

  it('the optimizer race (npm run demo:optimizers) runs and every optimizer reduces both losses', () => {
    const r = run('examples/optimizers.ts')
    expect(r.status, r.stderr).toBe(0)
    const tables = r.stdout.split(/\n(?=\w.* on cpu)/).slice(1)
    expect(tables).toHaveLength(2)
    for (const table of tables) {
      const rows = table.split('\n').filter((l) => /^\s+\d+\s/.test(l)).map((l) => l.trim().split(/\s+/).slice(1).map(Number))
      const first = rows[0]!
      const last = rows[rows.length - 1]!
      last.forEach((loss, i) => expect(loss).toBeLessThan(first[i]! / 100))
    }
  })
})

describe('the demo', () => {
  it('trains the MNIST MLP for a few steps, prints accuracies and writes the learning-curve PNG', () => {
    const out = 'test-demo-curve.png'
    rmSync(out, { force: true })
    const r = run('examples/mnist.ts', '--quick', `--out=${out}`)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/epoch +2\/2/)
    const acc = Number(r.stdout.match(/test accuracy ([\d.]+)%/)![1])
    expect(acc).toBeGreaterThan(60) // 600 digits, two epochs: far above the 10% of chance
    expect(existsSync(out)).toBe(true)
    expect([...readFileSync(out).subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10])
    rmSync(out)
  })
})
