import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadImage } from '@napi-rs/canvas'
import { afterAll, describe, expect, it } from 'vitest'
import { renderLinePlot } from '../examples/plot.js'
import { runAsync } from './helpers.js'

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

// the demo's runs overlap (describe.concurrent): a child process each (runAsync), stdout a pipe as in CI

const pngSize = async (png: Buffer) => {
  expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10])
  const image = await loadImage(png) // decodes the whole file
  return [image.width, image.height]
}

describe.concurrent('the demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fluxion-demo-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  // one quick two-epoch run, shared by the two tests that read it
  let quickRun: ReturnType<typeof runAsync> | undefined
  const quick = () => (quickRun ??= runAsync('examples/mnist.ts', '--quick', `--out=${join(dir, 'two-epochs.png')}`))

  it('trains the MNIST MLP for a few steps, prints accuracies and writes the learning-curve PNG', async ({ expect }) => {
    const out = join(dir, 'two-epochs.png')
    const r = await quick()
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/epoch +2\/2/)
    const acc = Number(r.stdout.match(/test accuracy ([\d.]+)%/)![1])
    expect(acc).toBeGreaterThan(60) // 600 digits, two epochs: far above the 10% of chance
    expect(await pngSize(readFileSync(out))).toEqual([1600, 900]) // 800 × 450 at pixel ratio 2
  })

  it.for([['--epochs', '1'], ['--epochs=1']])('one epoch, the value after a space or an =: %j', async (flag, { expect }) => {
    const out = join(dir, `one-epoch-${flag.length}.png`)
    const r = await runAsync('examples/mnist.ts', '--quick', ...flag, `--out=${out}`)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^epoch +1\/1 train loss [\d.]+ +validation loss/m)
    expect(r.stdout).not.toMatch(/epoch +\d+\/2/)
    expect(r.stdout).toMatch(/best epoch 1, stopped after epoch 1/)
    expect(await pngSize(readFileSync(out))).toEqual([1600, 900])
  })

  it('with stdout a pipe, reports progress during each epoch in a few plain lines', async ({ expect }) => {
    const r = await quick()
    expect(r.status, r.stderr).toBe(0)
    const lines = r.stdout.split('\n')
    for (const epoch of [1, 2]) {
      const progress = lines.filter((l) => new RegExp(`^epoch +${epoch}/2 batch \\d+/5 \\(\\d+%\\) ETA \\d+s$`).test(l))
      expect(progress.length, r.stdout).toBeGreaterThanOrEqual(1)
      expect(progress.length, r.stdout).toBeLessThanOrEqual(4)
      // before the epoch's summary line, not after it
      expect(lines.indexOf(progress[0]!)).toBeLessThan(lines.findIndex((l) => new RegExp(`^epoch +${epoch}/2 train loss`).test(l)))
    }
    expect(r.stdout).not.toMatch(/\r|\x1b/) // no terminal control sequences in a pipe
  })

  it.for([
    [['--epoch=1'], /unknown flag --epoch\b/],
    [['--epochs=0'], /--epochs .*'0'/],
    [['--epochs=abc'], /--epochs .*'abc'/],
    [['--epochs'], /--epochs needs a value/],
    [['--backend=cuda'], /--backend .*'cuda'/],
    [['--seed=1.5'], /--seed .*'1\.5'/],
  ] as const)('a bad command line %j exits 2 with a one-line error and the usage, no stack trace', async ([args, message], { expect }) => {
    const r = await runAsync('examples/mnist.ts', ...args)
    expect(r.status).toBe(2)
    const [first, ...rest] = r.stderr.split('\n')
    expect(first).toMatch(message)
    expect(first).toMatch(/^mnist demo: /)
    expect(rest.join('\n')).toContain('usage: npm run demo')
    expect(r.stderr).not.toMatch(/\n\s+at /)
    expect(r.stdout).not.toContain('mnist:') // stopped before loading the digits
  })

  it('--help prints the usage and exits 0', async ({ expect }) => {
    const r = await runAsync('examples/mnist.ts', '--help')
    expect(r.status, r.stderr).toBe(0)
    for (const flag of ['--backend', '--epochs', '--out', '--seed', '--quick']) expect(r.stdout).toContain(flag)
  })
})

describe('the learning-curve plot', () => {
  const markGreen = [0x2a, 0x9d, 0x3c]
  // the bounding box of the marker's colour: its dashed line plus its label
  const markerBox = async (epochs: number, best: number) => {
    const x = Array.from({ length: epochs }, (_, i) => i + 1)
    const png = renderLinePlot(
      [
        { label: 'train loss', x, y: x.map((e) => 2 / e), color: '#1f77b4' },
        { label: 'validation loss', x, y: x.map((e) => 1 / e + 0.01 * e), color: '#ff7f0e' },
      ],
      { title: 't', xLabel: 'epoch', yLabel: 'loss', markX: { x: best, label: `best epoch ${best}` }, pixelRatio: 1 },
    )
    const { createCanvas } = await import('@napi-rs/canvas')
    const image = await loadImage(png)
    const ctx = createCanvas(image.width, image.height).getContext('2d')
    ctx.drawImage(image, 0, 0)
    const { data, width, height } = ctx.getImageData(0, 0, image.width, image.height)
    let [left, right] = [width, -1]
    for (let i = 0; i < width * height; i++) {
      if (markGreen.every((c, k) => Math.abs(data[4 * i + k]! - c) < 8)) {
        left = Math.min(left, i % width)
        right = Math.max(right, i % width)
      }
    }
    return { left, right, width }
  }

  it.each([
    [1, 1],
    [12, 1],
    [12, 12],
    [30, 30],
  ])('%i epochs, best %i: the marker label is drawn inside the image', async (epochs, best) => {
    const { left, right, width } = await markerBox(epochs, best)
    expect(left).toBeGreaterThan(0)
    expect(right).toBeLessThan(width - 16) // inside the frame, which ends 16 pixels (the layout padding) short of the edge
    expect(right - left).toBeGreaterThan(60) // the label, not only the 1.5-pixel line
  })
})
