import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BackendError,
  DisposedTensorError,
  ShapeError,
  UnsupportedError,
  add,
  defineElementwise,
  dispose,
  elementwise,
  foldIn,
  fromArray,
  full,
  key,
  liveTensors,
  mul,
  normal,
  read,
  readTree,
  scaleTensor,
  scope,
  split,
  sub,
  sum,
  sumOfSquares,
  sumTo,
  reshape,
  matmul,
  maxTo,
  toBackend,
  uniform,
  zeros,
} from '../src/index.js'
import { createGpuBackend } from '../src/gpu.js'
import { assertAllClose, float32Tolerance } from '../laws/allclose.js'
import { propertyParameters } from '../laws/runners.js'
import { backends, otherThan } from './backends.js'
import { caught } from './helpers.js'

const f64 = (xs: readonly number[]) => Float64Array.from(xs)
const vec = fc.array(fc.double({ min: -100, max: 100, noNaN: true }).map(Math.fround), { minLength: 1, maxLength: 40 })

describe.each(backends)('tensors on $name', (backend) => {
  it('fromArray then read returns the float32 values, with shape and size', async () => {
    await fc.assert(
      fc.asyncProperty(vec, async (xs) => {
        const t = fromArray(xs, [xs.length], backend)
        expect(t.shape).toEqual([xs.length])
        expect(t.size).toBe(xs.length)
        expect(Array.from(await read(t))).toEqual(xs)
        dispose(t)
      }),
      propertyParameters(30),
    )
    const m = fromArray([[1, 2, 3], [4, 5, 6]], [2, 3], backend)
    expect(Array.from(await read(m))).toEqual([1, 2, 3, 4, 5, 6])
    expect(() => fromArray([1, 2, 3], [2, 2], backend)).toThrow(ShapeError)
    dispose(m)
  })

  it('elementwise ops and sums match float64 arithmetic', async () => {
    await fc.assert(
      fc.asyncProperty(vec.chain((a) => fc.tuple(fc.constant(a), fc.array(fc.double({ min: -100, max: 100, noNaN: true }).map(Math.fround), { minLength: a.length, maxLength: a.length }))), async ([a, b]) => {
        const [ta, tb] = [fromArray(a, [a.length], backend), fromArray(b, [b.length], backend)]
        const results = scope(() => [add(ta, tb), sub(ta, tb), mul(ta, tb), scaleTensor(ta, -2.5), sum(ta), sumOfSquares(tb)])
        const host = await Promise.all(results.map(read))
        assertAllClose(host, [
          f64(a.map((x, i) => x + b[i]!)),
          f64(a.map((x, i) => x - b[i]!)),
          f64(a.map((x, i) => x * b[i]!)),
          f64(a.map((x) => -2.5 * x)),
          f64([a.reduce((s, x) => s + x, 0)]),
          f64([b.reduce((s, x) => s + x * x, 0)]),
        ], { rtol: 1e-5, atol: 1e-3 })
        dispose([ta, tb, results])
      }),
      propertyParameters(25),
    )
  })

  it('multi-output elementwise ops with lets, and sums of large tensors', async () => {
    const op = defineElementwise({ name: 'twoOut', inputs: ['x'], scalars: ['c'], lets: [['y', 'x * c']], outputs: ['y + 1', 'Math.sqrt(Math.abs(y))'] })
    const x = fromArray([-4, 0, 9], [3], backend)
    const [p, q] = elementwise(op, [x], [1])
    expect(Array.from(await read(p!))).toEqual([-3, 1, 10])
    expect(Array.from(await read(q!))).toEqual([2, 0, 3])
    const n = 100_003
    const big = full([n], 0.5, backend)
    assertAllClose(await read(sum(big)), f64([n / 2]), { rtol: 1e-5, atol: 0 })
    dispose([x, p, q, big])
  })

  it('broadcasting: a suffix [n] or [1, n], a scalar [], and leading axes [m, 1] against [m, n]', async () => {
    const dims = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }))
    await fc.assert(
      fc.asyncProperty(dims, fc.integer({ min: 0, max: 1000 }), async ([m, n], seed) => {
        const vals = (k: number, off: number) => Array.from({ length: k }, (_, i) => Math.fround(Math.sin(seed + off + i) * 3))
        const x = vals(m * n, 0)
        const bias = vals(n, 100)
        const row = vals(m, 200)
        const op = defineElementwise({ name: 'bcast', inputs: ['x', 'b', 'c', 'r', 'b2'], outputs: ['x + b * c + r - b2'] })
        const t = [fromArray(x, [m, n], backend), fromArray(bias, [n], backend), fromArray(2, [], backend), fromArray(row, [m, 1], backend), fromArray(bias, [1, n], backend)]
        const [out] = elementwise(op, t, [])
        expect(out!.shape).toEqual([m, n])
        const expected = f64(x.map((v, i) => v + bias[i % n]! * 2 + row[Math.floor(i / n)]! - bias[i % n]!))
        assertAllClose(await read(out!), expected, { rtol: 1e-6, atol: 1e-6 })
        const cols = sumTo(t[0]!, [n])
        const rows = sumTo(t[0]!, [m, 1])
        const all = sumTo(t[0]!, [])
        assertAllClose(await read(cols), f64(bias.map((_, j) => x.filter((_, i) => i % n === j).reduce((a, b) => a + b, 0))), { rtol: 1e-5, atol: 1e-5 })
        assertAllClose(await read(rows), f64(row.map((_, r) => x.slice(r * n, r * n + n).reduce((a, b) => a + b, 0))), { rtol: 1e-5, atol: 1e-5 })
        assertAllClose(await read(all), f64([x.reduce((a, b) => a + b, 0)]), { rtol: 1e-5, atol: 1e-5 })
        const re = reshape(t[0]!, [n, m])
        expect(re.shape).toEqual([n, m])
        expect(Array.from(await read(re))).toEqual(x)
        dispose([t, out, cols, rows, all, re])
      }),
      propertyParameters(15),
    )
    const a = fromArray([1, 2, 3, 4, 5, 6], [2, 3], backend)
    expect(caught(() => add(a, fromArray([1, 2], [2], backend))).message).toContain('[2] does not broadcast to [2, 3]')
    expect(() => sumTo(a, [2])).toThrow(ShapeError)
    expect(() => reshape(a, [4])).toThrow(ShapeError)
  })

  it('matmul with and without transposes, and max reductions, match float64', async () => {
    const dims = fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 99 }))
    await fc.assert(
      fc.asyncProperty(dims, async ([m, k, n, ta, tb, seed]) => {
        const A = Array.from({ length: m * k }, (_, i) => Math.fround(Math.sin(seed + i)))
        const B = Array.from({ length: k * n }, (_, i) => Math.fround(Math.cos(seed + 2 * i)))
        // stored transposed when asked, so op(a) = A and op(b) = B
        const store = (x: number[], r: number, c: number, t: boolean) => (t ? Array.from({ length: r * c }, (_, i) => x[(i % r) * c + Math.floor(i / r)]!) : x)
        const a = fromArray(store(A, m, k, ta), ta ? [k, m] : [m, k], backend)
        const b = fromArray(store(B, k, n, tb), tb ? [n, k] : [k, n], backend)
        const c = matmul(a, b, { transposeA: ta, transposeB: tb })
        expect(c.shape).toEqual([m, n])
        const expected = Array.from({ length: m * n }, (_, x) => {
          let s = 0
          for (let p = 0; p < k; p++) s += A[Math.floor(x / n) * k + p]! * B[p * n + (x % n)]!
          return s
        })
        assertAllClose(await read(c), f64(expected), { rtol: 1e-5, atol: 1e-5 })
        const rows = maxTo(a, [a.shape[0]!, 1])
        const cols = maxTo(a, [a.shape[1]!])
        const sa = store(A, m, k, ta)
        const [R, C] = a.shape as [number, number]
        assertAllClose(await read(rows), f64(Array.from({ length: R }, (_, r) => Math.max(...sa.slice(r * C, r * C + C)))), { rtol: 0, atol: 0 })
        assertAllClose(await read(cols), f64(Array.from({ length: C }, (_, j) => Math.max(...sa.filter((_, i) => i % C === j)))), { rtol: 0, atol: 0 })
        dispose([a, b, c, rows, cols])
      }),
      propertyParameters(20),
    )
    expect(() => matmul(fromArray([1, 2], [1, 2], backend), fromArray([1, 2], [1, 2], backend))).toThrow(/inner dimensions differ/)
  })

  it('zeros, full, scalars and empty tensors', async () => {
    expect(Array.from(await read(zeros([2, 2], backend)))).toEqual([0, 0, 0, 0])
    const s = fromArray(3.5, undefined, backend)
    expect(s.shape).toEqual([])
    expect(Array.from(await read(s))).toEqual([3.5])
    const e = zeros([0, 3], backend)
    expect(e.size).toBe(0)
    expect(Array.from(await read(add(e, e)))).toEqual([])
    expect(Array.from(await read(sum(e)))).toEqual([0])
  })

  it('dispose and scope release handles; using a released tensor throws', async () => {
    const before = liveTensors(backend)
    const a = fromArray([1, 2], [2], backend)
    const kept = scope(() => {
      const tmp = add(a, a)
      return { out: mul(tmp, a) }
    })
    expect(liveTensors(backend)).toBe(before + 2)
    expect(Array.from(await read(kept.out))).toEqual([2, 8])
    dispose({ a, kept }, kept)
    expect(liveTensors(backend)).toBe(before + 1)
    dispose(kept)
    expect(liveTensors(backend)).toBe(before)
    expect(caught(() => add(a, a))).toBeInstanceOf(DisposedTensorError)
    await expect(read(a)).rejects.toBeInstanceOf(DisposedTensorError)
    expect(() => scope(() => {
      fromArray([1], [1], backend)
      throw new Error('boom')
    })).toThrow('boom')
    expect(liveTensors(backend)).toBe(before)
  })

  it('shape mismatches name the problem', () => {
    const a = fromArray([1, 2], [2], backend)
    const b = fromArray([1, 2, 3], [3], backend)
    const e = caught(() => add(a, b))
    expect(e).toBeInstanceOf(ShapeError)
    expect(e.message).toContain('[2] does not broadcast to [3]')
    dispose([a, b])
  })

  it('random keys give the same numbers as on cpu', async () => {
    const [k1, k2] = split(key(42))
    const u = uniform(k1!, [1000], { minval: -1, maxval: 1, backend })
    const z = normal(k2!, [1000], { stddev: 2, backend })
    const ucpu = uniform(k1!, [1000], { minval: -1, maxval: 1 })
    const zcpu = normal(k2!, [1000], { stddev: 2 })
    expect(Array.from(await read(u))).toEqual(Array.from(await read(ucpu)))
    expect(Array.from(await read(z))).toEqual(Array.from(await read(zcpu)))
    dispose([u, z, ucpu, zcpu])
  })
})

describe('random keys', () => {
  it('are deterministic, split into distinct keys, and give roughly uniform / normal samples', async () => {
    expect(key(7)).toEqual(key(7))
    expect(key(7)).not.toEqual(key(8))
    const ks = split(key(7), 4)
    expect(new Set(ks.map((k) => k.words.join(','))).size).toBe(4)
    expect(split(key(7), 4)).toEqual(ks)
    expect(foldIn(key(7), 3)).toEqual(foldIn(key(7), 3))
    expect(foldIn(key(7), 3)).not.toEqual(foldIn(key(7), 4))
    const n = 20000
    const u = await read(uniform(key(1), [n]))
    const mean = u.reduce((a, b) => a + b, 0) / n
    const variance = u.reduce((a, b) => a + (b - mean) ** 2, 0) / n
    // mean ± 5 standard errors of a U(0, 1) sample: σ = √(1/12)
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n))
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.005)
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...u)).toBeLessThan(1)
    const z = await read(normal(key(2), [n]))
    const zm = z.reduce((a, b) => a + b, 0) / n
    const zv = z.reduce((a, b) => a + (b - zm) ** 2, 0) / n
    expect(Math.abs(zm)).toBeLessThan(5 / Math.sqrt(n))
    expect(Math.abs(zv - 1)).toBeLessThan(0.05)
  })

  it('reject bad seeds and ranges', () => {
    expect(() => key(-1)).toThrow(/seed = -1/)
    expect(() => key(1.5)).toThrow(/seed = 1.5/)
    expect(() => uniform(key(1), [2], { minval: 1, maxval: 0 })).toThrow(/maxval = 0/)
    expect(() => normal(key(1), [2], { stddev: -1 })).toThrow(/stddev = -1/)
  })
})

describe('backends', () => {
  it('tensors from two backends cannot meet; toBackend moves them', async () => {
    const [first, second] = [backends[0]!, otherThan(backends[0]!)]
    const [a, b] = [fromArray([1, 2], [2], first), fromArray([3, 4], [2], second)]
    const e = caught(() => add(a, b))
    expect(e).toBeInstanceOf(BackendError)
    expect(e.message).toContain(first.name)
    expect(e.message).toContain(second.name)
    const moved = await toBackend(b, first)
    expect(await readTree({ s: add(a, moved) })).toEqual({ s: Float32Array.from([4, 6]) })
  })

  it('createGpuBackend rejects unknown modes and reports unavailable ones', async () => {
    await expect(createGpuBackend({ mode: 'cuda' as never })).rejects.toThrow(/mode = "cuda" is invalid/)
    await expect(createGpuBackend({ mode: 'headlessgl' })).rejects.toBeInstanceOf(UnsupportedError)
  })

  it('float32 tolerance is the documented one', () => {
    expect(float32Tolerance).toEqual({ rtol: 2e-4, atol: 1e-5 })
  })
})
