/**
 * The gpu backend's kernel cache is a bounded least-recently-used cache (`kernelCacheCapacity` in
 * src/tensor/gpu.ts, by mode): kernels are compiled per size and per elementwise op and layout, so an
 * unbounded cache grew with every distinct leaf size. Runs on every gpu.js backend of this run
 * (webasm, webgpu when an adapter answers) and on gpu.js `cpu` mode; the webgl2 side, where a live
 * output needs the kernel that made it, runs in the browser test (test/browser/page.ts).
 */
import { afterAll, describe, expect, it } from 'vitest'
import { type Backend, add, dispose, fromArray, full, liveTensors, mul, read, scope, sum } from '../src/index.js'
import { createGpuBackend } from '../src/gpu.js'
import { type GpuMode, type KernelCacheStats, kernelCacheCapacity, kernelCacheStats } from '../src/tensor/gpu.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
import { gpus } from './backends.js'

const cpuOnly = process.env.FLUXION_BACKENDS !== undefined && !process.env.FLUXION_BACKENDS.split(',').includes('gpu:webasm')
const gpuCpuMode: Backend[] = cpuOnly ? [] : [await createGpuBackend({ mode: 'cpu' })]
afterAll(async () => {
  for (const b of gpuCpuMode) await b.destroy()
})
const cacheBackends = [...gpus, ...gpuCpuMode]
const webgpu = gpus.find((b) => b.name === 'gpu:webgpu')

const statsOf = (b: Backend): KernelCacheStats => {
  const s = kernelCacheStats(b)
  if (!s) throw new Error(`${b.name} has no kernel cache`)
  return s
}

/** The stats once every evicted kernel that waited on pending work or a live output is destroyed. */
const settled = async (b: Backend): Promise<KernelCacheStats> => {
  for (let i = 0; i < 200 && statsOf(b).waiting > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  return statsOf(b)
}

/** Compares with a float64 reference through the one tolerance-aware comparison. */
const expectClose = (actual: Float32Array, expected: readonly number[], what: string) => {
  const c = allClose(actual, Float64Array.from(expected), float32Tolerance)
  expect(c.ok ? 'ok' : c.message, what).toBe('ok')
}

// multiples of 1/4 in [-1.5, 1.5]: every sum and product below is exact in float32 as in float64
const valuesOf = (n: number): number[] => Array.from({ length: n }, (_, i) => (((i * 7) % 13) - 6) / 4)

const capacityOf = (b: Backend): number => kernelCacheCapacity[b.name.replace('gpu:', '') as GpuMode]

describe.skipIf(cacheBackends.length === 0).each(cacheBackends)('the kernel cache of $name', (backend) => {
  const cap = capacityOf(backend)
  it(`stays at most its capacity (${cap} kernels) over ${cap + 100} distinct sizes, with correct results and no leaked tensor`, async () => {
    expect(statsOf(backend).capacity).toBe(cap)
    const live = liveTensors(backend)
    const destroyedBefore = statsOf(backend).destroyed
    let largest = 0
    const check = async (n: number) => {
      const xs = valuesOf(n)
      const x = fromArray(xs, [n], backend)
      const total = sum(x)
      const y = scope(() => add(mul(x, x), x))
      const [got, gotY] = [await read(total), await read(y)]
      dispose([x, total, y])
      // float64 references of Σx and x² + x
      expectClose(got, [xs.reduce((s, v) => s + v, 0)], `sum over ${n}`)
      expectClose(gotY, xs.map((v) => v * v + v), `x² + x over ${n}`)
      largest = Math.max(largest, statsOf(backend).cached)
    }
    for (let n = 1; n <= cap + 100; n++) await check(n)
    // the cache filled up, so kernels were evicted, and never held more than its capacity
    expect(largest).toBe(cap)
    const after = await settled(backend)
    expect(after.destroyed).toBeGreaterThan(destroyedBefore)
    expect(after.waiting, 'evicted kernels still waiting once everything settled').toBe(0)
    // size 1's kernels were evicted long ago: compiled again, they give the right answer again
    await check(1)
    expect(liveTensors(backend)).toBe(live)
  })
})

describe.skipIf(cpuOnly).each(['webasm', 'cpu'] as const)('eviction order on a fresh gpu:%s backend', (mode) => {
  it('evicts the least recently used kernel, not the oldest', async () => {
    const b = await createGpuBackend({ mode })
    try {
      const cap = kernelCacheCapacity[mode]
      // each distinct size of `full` is one kernel (`fill#n`), created synchronously (nothing waits here)
      const fillSize = (n: number) => dispose(full([n], 1, b))
      for (let n = 1; n <= cap; n++) fillSize(n)
      expect(statsOf(b)).toEqual({ capacity: cap, cached: cap, waiting: 0, destroyed: 0 })
      fillSize(1) // a hit: size 1 becomes the most recently used
      expect(statsOf(b).destroyed).toBe(0)
      // cap − 1 new kernels evict sizes 2 … cap; first in, first out would have evicted size 1 first
      for (let n = cap + 1; n < 2 * cap; n++) fillSize(n)
      expect(statsOf(b)).toEqual({ capacity: cap, cached: cap, waiting: 0, destroyed: cap - 1 })
      fillSize(1)
      expect(statsOf(b).destroyed, 'size 1 had to be compiled again').toBe(cap - 1)
      fillSize(2)
      expect(statsOf(b).destroyed, 'size 2 was evicted and is compiled again').toBe(cap)
      expect(liveTensors(b)).toBe(0)
    } finally {
      await b.destroy()
    }
  })
})

describe('webgpu: an evicted kernel outlives the calls queued on it', () => {
  it.skipIf(!webgpu)('a call waiting behind a pending input runs on its kernel even though the kernel was evicted before it ran', async () => {
    const b = webgpu!
    const cap = kernelCacheCapacity.webgpu
    const live = liveTensors(b)
    const n = 4 * cap + 3 // a size nothing else in this file uses
    const xs = valuesOf(n)
    // x's upload is pending (webgpu kernels return Promises), so the product is queued behind it
    const x = fromArray(xs, [n], b)
    const y = mul(x, x)
    const total = sum(y)
    dispose([x, y]) // the handles go at once; the device work they feed is still to run
    // more new kernels than the cache holds, synchronously: the queued calls' kernels are evicted
    // before any of those calls could run (nothing has awaited since they were queued)
    const destroyedBefore = statsOf(b).destroyed
    const fills = Array.from({ length: cap + 10 }, (_, i) => full([n + 1 + i], i, b))
    const evicted = statsOf(b)
    expect(evicted.cached).toBe(cap)
    expect(evicted.waiting, 'the evicted kernels of the queued calls wait for them').toBeGreaterThan(0)
    // Σ x², in float64
    expectClose(await read(total), [xs.reduce((s, v) => s + v * v, 0)], 'Σ x² of the queued calls')
    const last = fills.at(-1)!
    expect(Array.from(await read(last))).toEqual(Array.from({ length: last.size }, () => fills.length - 1))
    dispose([total, fills])
    const after = await settled(b)
    expect(after.waiting).toBe(0)
    expect(after.destroyed - destroyedBefore).toBeGreaterThanOrEqual(10)
    expect(liveTensors(b)).toBe(live)
  })
})
