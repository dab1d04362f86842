/**
 * Regression tests for the smaller reproductions of the hostile-user probe (issue 12, item 10) that
 * have no home of their own: each failed before its fix.
 */
import { describe, expect, it } from 'vitest'
import { BackendError, HyperparameterError, UnsupportedError, add, createCpuBackend, earlyStopping, earlyStoppingMonitor, fromArray, hostMatrix, read } from '../src/index.js'
import { createGpuBackend } from '../src/gpu.js'
import { caught } from './helpers.js'

describe('smaller reproductions of the probe', () => {
  it('hostMatrix copies its data: writing to the caller\'s array later does not change the matrix', () => {
    const data = new Float32Array([1, 2, 3, 4])
    const m = hostMatrix(data, 2, 2)
    data[0] = 99
    expect(Array.from(m.data)).toEqual([1, 2, 3, 4])
  })

  it.each([
    ['earlyStopping', () => earlyStopping({ evaluateEvery: 1, patience: 2, baseline: NaN }, { initial: 0, train: (x: number) => x, validationError: () => 1 })],
    ['earlyStoppingMonitor', () => earlyStoppingMonitor({ patience: 2, baseline: NaN })],
  ])('%s refuses baseline NaN (it used to run and never improve)', async (name, run) => {
    let error: unknown
    try {
      await run()
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(HyperparameterError)
    expect((error as HyperparameterError).message).toBe(`${name}: baseline = NaN is invalid; expected a number, not NaN (±∞ allowed)`)
  })

  it('tensors of two distinct backends with one name: the message says they are two backends', () => {
    const a = createCpuBackend('cpu')
    const b = createCpuBackend('cpu')
    const e = caught(() => add(fromArray([1], [1], a), fromArray([2], [1], b)))
    expect(e).toBeInstanceOf(BackendError)
    expect(e.message).toContain('tensor on one cpu backend combined with a tensor on another cpu backend (two backends created separately; move one with toBackend)')
  })

  it('reading from a destroyed gpu backend says it was destroyed, not that the tensor was disposed', async () => {
    const gpu = await createGpuBackend({ mode: 'webasm' })
    const t = fromArray([1, 2], [2], gpu)
    await gpu.destroy()
    await expect(read(t)).rejects.toBeInstanceOf(UnsupportedError)
    await expect(read(t)).rejects.toThrow('backend gpu:webasm was destroyed')
  })
})
