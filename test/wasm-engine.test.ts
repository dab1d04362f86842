/**
 * The wasm engine's kernels against float64 references: every elementwise op the library defines,
 * at edge lengths (0, 1, 3, 4k, 4k+1, 4k+3) and in every loop shape (plain, bias-like, per-row,
 * scalar, mixed), the vectorised exp and log in ulps over the whole float32 range, the scalar path
 * of the other Math functions, float32 semantics, parse errors, donation, fused reductions and the
 * allocator. The catalogue's laws run on the wasm backend through test/backends.ts like on every
 * other backend.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FluxionError, cpu, defineElementwise, dispose, elementwise, elu, fromArray, leakyRelu, read, relu, sigmoid, softplus, sum, tanh } from '../src/index.js'
import { definedElementwiseOps } from '../src/tensor/tensor.js'
import { createWasmBackend } from '../src/tensor/wasm/backend.js'
import { createHeap, sizeClass } from '../src/tensor/wasm/heap.js'
import { assertAllClose } from '../laws/allclose.js'
import { propertyParameters } from '../laws/runners.js'
import { caught } from './helpers.js'
// importing the layers, losses, transforms and optimizers defines every kernel they use
import '../src/index.js'
import '../laws/index.js'

const wasm = createWasmBackend('wasm:test')
const lengths = [0, 1, 3, 4, 5, 7, 8, 17, 19, 1001]

/** Deterministic values in [lo, hi) (no fast-check here: a fixed grid covers every op the same way). */
const values = (n: number, seed: number, lo: number, hi: number): Float32Array =>
  Float32Array.from({ length: n }, (_, i) => Math.fround(lo + (hi - lo) * ((Math.sin(seed * 12.9898 + i * 78.233) * 43758.5453) % 1 + 1) % 1))

const ulps = (x: number, y: number): number => {
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y) ? 0 : Infinity
  if (x === y) return 0
  const b = new Int32Array(Float32Array.of(x, y).buffer)
  const ordered = (v: number) => (v < 0 ? -2147483648 - v : v)
  return Math.abs(ordered(b[0]!) - ordered(b[1]!))
}

describe('every elementwise op of the library on wasm equals the cpu (float64) evaluation within float32 rounding', () => {
  // activation kernels are defined when their layer is made
  for (const make of [relu, sigmoid, tanh, softplus, () => leakyRelu({ alpha: 0.1 }), () => elu()]) make()
  const ops = definedElementwiseOps().filter((op, i, all) => all.findIndex((o) => o.name === op.name && o.outputs.join() === op.outputs.join()) === i)
  it('finds the library kernels', () => {
    expect(ops.length).toBeGreaterThan(70)
    for (const name of ['scaleByAdam', 'softmaxCrossEntropy', 'bnNormalize', 'huber', 'tanh', 'clipByNorm']) expect(ops.map((o) => o.name)).toContain(name)
  })
  // two domains: positive values (moments, variances, norms: what the optimizers see) and mixed
  // signs; NaN appears exactly where the float64 evaluation has one (log or sqrt of a negative)
  for (const [domain, lo, hi] of [['positive', 0.05, 2], ['mixed', -2, 2]] as const) {
    it.each(ops.map((op) => [op.name, op] as const))(`%s, ${domain} inputs`, async (_, op) => {
      for (const n of lengths) {
        const ins = op.inputs.map((_, k) => values(n, k + 1, lo, hi))
        const scalars = op.scalars.map((_, k) => Math.fround(0.1 + 0.8 * ((k * 0.618) % 1)))
        const onW = elementwise(op, ins.map((x) => fromArray(x, [n], wasm)), scalars)
        const onC = elementwise(op, ins.map((x) => fromArray(x, [n], cpu)), scalars)
        for (let k = 0; k < onW.length; k++) {
          // float32 evaluation of a few operations on values of order 1: rtol 1e-5, atol 1e-5 for
          // results of cancellations
          assertAllClose(await read(onW[k]!), await read(onC[k]!), { rtol: 1e-5, atol: 1e-5, nanEqual: true })
        }
        dispose([onW, onC])
      }
    })
  }
})

describe('loop shapes', () => {
  const op = defineElementwise({ name: 'shapes', inputs: ['x', 'a', 'b'], scalars: ['s'], outputs: ['x * s + a - b', 'Math.exp(a - x) / (1 + b * b)'] })
  const cases: [string, number[], number[], number[]][] = [
    ['plain', [5, 7], [5, 7], [5, 7]],
    ['bias [n] against [m, n]', [5, 7], [7], [7]],
    ['per row [m, 1]', [5, 7], [5, 1], [5, 1]],
    ['bias and per row of one inner length', [6, 9], [9], [6, 1]],
    ['scalars [] and [1]', [3, 5], [], [1]],
    ['mixed inner lengths (gather)', [2, 3, 5], [5], [2, 1, 1]],
    ['mixed, bias [3, 5] and per row [2, 1, 1]', [2, 3, 5], [3, 5], [2, 1, 1]],
    ['rows of 1', [9, 1], [1], [9, 1]],
    ['empty', [0, 4], [4], [1]],
  ]
  it.each(cases)('%s', async (_, xs, as, bs) => {
    const size = (s: number[]) => s.reduce((p, d) => p * d, 1)
    const [x, a, b] = [xs, as, bs].map((s, k) => values(size(s), k + 7, -1.5, 1.5))
    const run = (backend: typeof cpu) => elementwise(op, [fromArray(x!, xs, backend), fromArray(a!, as, backend), fromArray(b!, bs, backend)], [0.75])
    const onW = run(wasm)
    const onC = run(cpu)
    for (let k = 0; k < 2; k++) {
      expect(onW[k]!.shape).toEqual(onC[k]!.shape)
      assertAllClose(await read(onW[k]!), await read(onC[k]!), { rtol: 1e-6, atol: 1e-6 })
    }
    const sums = wasm.reduceElementwise!(op, [fromArray(x!, xs, wasm), fromArray(a!, as, wasm), fromArray(b!, bs, wasm)], [0.75], {
      shape: onW[0]!.shape, size: onW[0]!.size, reads: [xs, as, bs].map((s) => (s.join() === xs.join() ? { kind: 'same' } : s.length === xs.length && s[s.length - 1] === 1 && size(s) > 1 ? { kind: 'div', inner: size(xs) / size(s) } : { kind: 'mod', size: size(s) })) as never,
    })
    for (let k = 0; k < 2; k++) {
      const stored = await read(onW[k]!)
      const expected = stored.reduce((s, v) => s + v, 0)
      expect((await read(sums[k]!))[0]).toBe(Math.fround(expected))
    }
  })
})

describe('vectorised exp and log', () => {
  const op = defineElementwise({ name: 'expLog', inputs: ['a'], outputs: ['Math.exp(a)', 'Math.log(a)'] })
  const specials = [0, -0, Infinity, -Infinity, NaN, 1e-40, 1.4e-45, 1.1754942e-38, 88.72, 88.73, -87.3, -103.9, -104, 1, 0.5, 2, -1, 3.4028235e38, -3.4e38]
  it('are within 2 ulp of the correctly rounded float32 result over the whole range, and exact at special values', async () => {
    const n = 200_003
    const x = new Float32Array(n)
    for (let i = 0; i < n; i++) {
      const u = ((i * 0.6180339887) % 1)
      // half uniform in [−110, 110] (exp's whole range and beyond), half log-uniform in [1e-44, 1e38]
      x[i] = i % 2 === 0 ? 220 * u - 110 : Math.exp(-101 + 188 * u)
    }
    x.set(specials)
    const [e, l] = elementwise(op, [fromArray(x, [n], wasm)])
    const E = await read(e!)
    const L = await read(l!)
    let worstExp = 0
    let worstLog = 0
    for (let i = 0; i < n; i++) {
      worstExp = Math.max(worstExp, ulps(E[i]!, Math.fround(Math.exp(x[i]!))))
      worstLog = Math.max(worstLog, ulps(L[i]!, Math.fround(Math.log(x[i]!))))
    }
    expect(worstExp).toBeLessThanOrEqual(2)
    expect(worstLog).toBeLessThanOrEqual(2)
    specials.forEach((v, i) => {
      const fv = Math.fround(v)
      if (!(Math.abs(fv) < 1e-38 && fv !== 0)) {
        // outside the subnormals the special values are exact
        expect(Object.is(E[i], Math.fround(Math.exp(fv))) || ulps(E[i]!, Math.fround(Math.exp(fv))) <= 2).toBe(true)
      }
      if (fv === 0 || !Number.isFinite(fv) || fv < 0 || Number.isNaN(fv)) expect(Object.is(L[i], Math.log(fv))).toBe(true)
    })
    dispose([e, l])
  })
  it('agree with Math.exp and Math.log on random float32 inputs (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.float({ noDefaultInfinity: false }), { minLength: 1, maxLength: 40 }), async (xs) => {
        const [e, l] = elementwise(op, [fromArray(xs, [xs.length], wasm)])
        const E = await read(e!)
        const L = await read(l!)
        dispose([e, l])
        return xs.every((v, i) => ulps(E[i]!, Math.fround(Math.exp(v))) <= 2 && ulps(L[i]!, Math.fround(Math.log(v))) <= 2)
      }),
      propertyParameters(200),
    )
  })
})

describe('the scalar path and the expression subset', () => {
  it('Math functions without a SIMD instruction are the host function per lane, rounded to float32', async () => {
    const op = defineElementwise({ name: 'hostFns', inputs: ['a', 'b'], outputs: ['Math.tanh(a)', 'Math.pow(Math.abs(a), b)', 'a % b', 'Math.abs(a) ** b', 'Math.atan2(a, b)', 'Math.round(a * 3)', 'Math.floor(a) + Math.ceil(b) + Math.trunc(a * b)'] })
    const a = values(13, 3, -3, 3)
    const b = values(13, 4, 0.5, 2)
    const outs = elementwise(op, [fromArray(a, [13], wasm), fromArray(b, [13], wasm)])
    const f = Math.fround
    const expected = [
      Array.from(a, (x) => f(Math.tanh(x))),
      Array.from(a, (x, i) => f(Math.pow(Math.abs(x), b[i]!))),
      Array.from(a, (x, i) => f(x % b[i]!)),
      Array.from(a, (x, i) => f(Math.abs(x) ** b[i]!)),
      Array.from(a, (x, i) => f(Math.atan2(x, b[i]!))),
      Array.from(a, (x) => Math.round(f(x * 3))),
      Array.from(a, (x, i) => Math.floor(x) + Math.ceil(b[i]!) + Math.trunc(f(x * b[i]!))),
    ]
    for (let k = 0; k < outs.length; k++) expect(Array.from(await read(outs[k]!))).toEqual(expected[k])
    dispose(outs)
  })
  it('follows JavaScript semantics for booleans, ||, && and ! on numbers, sign of zero and NaN', async () => {
    const op = defineElementwise({ name: 'semantics', inputs: ['a', 'b'], outputs: ['a > b', 'a || b', 'a && b', '!a ? 1 : 2', 'Math.sign(a)', 'Math.max(a, b)', 'Math.min(a, b)', '(a == b) == (b == a) ? 1 : 0', 'a != a ? 1 : 0'] })
    const a = [0, -0, NaN, 1, -2, 3, NaN, Infinity]
    const b = [1, 0, 2, NaN, -2, -0, NaN, -Infinity]
    const outs = elementwise(op, [fromArray(a, [8], wasm), fromArray(b, [8], wasm)])
    const js = [
      (x: number, y: number) => Number(x > y),
      (x: number, y: number) => x || y,
      (x: number, y: number) => x && y,
      (x: number) => (!x ? 1 : 2),
      (x: number) => Math.sign(x),
      (x: number, y: number) => Math.max(x, y),
      (x: number, y: number) => Math.min(x, y),
      (x: number, y: number) => (x === y) === (y === x) ? 1 : 0,
      (x: number) => (x !== x ? 1 : 0),
    ]
    for (let k = 0; k < outs.length; k++) {
      const got = Array.from(await read(outs[k]!))
      got.forEach((v, i) => expect(Object.is(v, js[k]!(a[i]!, b[i]!)), `output ${k} at ${a[i]}, ${b[i]}: ${v}`).toBe(true))
    }
    dispose(outs)
  })
  it('computes in float32: scalars and literals are rounded, and float32 overflows where float64 does not', async () => {
    const op = defineElementwise({ name: 'f32', inputs: ['a'], scalars: ['s'], outputs: ['a + s', 'Math.exp(a) / Math.exp(a)', 'a * 1e30 * 1e30 / 1e30', 'a + 0.1'] })
    const [x, y, z, w] = elementwise(op, [fromArray([100], [1], wasm)], [1e-9])
    expect((await read(x!))[0]).toBe(Math.fround(100 + Math.fround(1e-9)))
    expect((await read(y!))[0]).toBeNaN() // ∞/∞ in float32; 1 on the cpu backend, which is float64 inside
    expect((await read(z!))[0]).toBe(Infinity)
    expect((await read(w!))[0]).toBe(Math.fround(100 + Math.fround(0.1)))
    const onCpu = elementwise(op, [fromArray([100], [1], cpu)], [1e-9])
    expect((await read(onCpu[1]!))[0]).toBe(1)
    expect((await read(onCpu[2]!))[0]).toBe(Math.fround(1e32))
    dispose([x, y, z, w, onCpu])
  })
  it('names the op and the expression when it cannot compile one', () => {
    for (const [outputs, needle] of [[['a +'], 'unexpected end'], [['Math.nope(a)'], 'Math.nope'], [['b * 2'], 'unknown name "b"'], [['a ; a'], 'cannot parse'], [['Math.sqrt(a, a)'], 'one argument']] as const) {
      const op = defineElementwise({ name: 'broken', inputs: ['a'], outputs })
      const e = caught(() => elementwise(op, [fromArray([1], [1], wasm)]))
      expect(e).toBeInstanceOf(FluxionError)
      expect(e.message).toContain('broken')
      expect(e.message).toContain(needle)
    }
    expect(wasm.liveCount()).toBeGreaterThanOrEqual(0)
  })
})

describe('storage', () => {
  it('donation: the output takes over the donated input block and the input handle is released', async () => {
    const op = defineElementwise({ name: 'axpyD', inputs: ['x', 'y'], scalars: ['a'], outputs: ['a * x + y'] })
    const x = fromArray([1, 2, 3, 4, 5], [5], wasm)
    const y = fromArray([10, 20, 30, 40, 50], [5], wasm)
    const before = wasm.liveCount()
    const [z] = wasm.elementwise(op, [x, y], [2], { shape: [5], size: 5, reads: [{ kind: 'same' }, { kind: 'same' }] }, [1])
    expect(wasm.isLive(y)).toBe(false)
    expect(wasm.isLive(x)).toBe(true)
    expect(wasm.liveCount()).toBe(before)
    expect(Array.from(await read(z!))).toEqual([12, 24, 36, 48, 60])
    expect((z!.storage as { ptr: number }).ptr).toBe((y.storage as { ptr: number }).ptr)
    dispose([x, z])
  })
  it('sum accumulates in float64 and rounds once', async () => {
    const n = 1_000_003
    const xs = values(n, 9, 0, 1)
    const s = sum(fromArray(xs, [n], wasm))
    expect((await read(s))[0]).toBe(Math.fround(xs.reduce((a, v) => a + v, 0)))
    dispose(s)
  })
  it('tensors stay valid when the memory grows, and a loop that releases what it allocates reuses its blocks', async () => {
    const w = createWasmBackend('wasm:grow')
    const first = fromArray(values(1000, 1, -1, 1), [1000], w)
    const big = Array.from({ length: 8 }, (_, k) => w.fill([1 << 18], k)) // 8 MiB: several grows
    expect(Array.from(await read(first))).toEqual(Array.from(values(1000, 1, -1, 1)))
    for (let k = 0; k < 8; k++) expect((await read(big[k]!))[12345]).toBe(k)
    dispose(big)
    const op = defineElementwise({ name: 'step', inputs: ['p'], outputs: ['p * 0.5'] })
    let p = fromArray(values(100_000, 2, -1, 1), [100_000], w)
    const tops: number[] = []
    for (let step = 0; step < 20; step++) {
      const [q] = w.elementwise(op, [p], [], { shape: p.shape, size: p.size, reads: [{ kind: 'same' }] })
      dispose(p)
      p = q!
      tops.push(w.liveCount())
    }
    expect(new Set(tops).size).toBe(1)
    dispose([first, p])
    expect(w.liveCount()).toBe(0)
    await w.destroy()
  })
  it('the allocator coalesces freed neighbours and lowers its top (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.boolean()), { minLength: 1, maxLength: 60 }), (ops) => {
        const heap = createHeap(65536)
        const liveBlocks: [number, number][] = []
        for (const [bytes, freeOne] of ops) {
          if (freeOne && liveBlocks.length > 0) {
            const [p, b] = liveBlocks.splice(bytes % liveBlocks.length, 1)[0]!
            heap.free(p, b)
          } else liveBlocks.push([heap.alloc(bytes), bytes])
        }
        // blocks are aligned, disjoint and inside the memory
        const sorted = liveBlocks.map(([p, b]) => [p, p + sizeClass(b)] as const).sort((x, y) => x[0] - y[0])
        for (let i = 0; i < sorted.length; i++) {
          if (sorted[i]![0] % 16 !== 0 || sorted[i]![1] > heap.stats().memoryBytes) return false
          if (i > 0 && sorted[i]![0] < sorted[i - 1]![1]) return false
        }
        for (const [p, b] of liveBlocks) heap.free(p, b)
        const s = heap.stats()
        return s.allocatedBytes === 0 && s.topBytes === 16 && s.freeBlocks === 0
      }),
      propertyParameters(300),
    )
  })
  it('size classes waste at most 12.5% above 1 KiB and are multiples of 16', () => {
    for (const bytes of [1, 15, 16, 17, 1000, 1024, 1025, 4097, 123457, 40_000_000]) {
      const c = sizeClass(bytes)
      expect(c).toBeGreaterThanOrEqual(bytes)
      expect(c % 16).toBe(0)
      if (bytes > 1024) expect(c / bytes).toBeLessThanOrEqual(1.125)
    }
  })
})
