/**
 * The wrappers of src/transforms/{conditional,monitoring,inject,microbatch}.ts: each against its
 * float64 reference (laws/reference/wrappers-extra.ts) on every backend; `microbatch` against the
 * unsplit function; Optax 0.2.8's own trajectories, measurements, injected hyperparameters and
 * microbatch accumulations (test/fixtures/goldens/wrappers-optax.json, written by
 * scripts/goldens/optax_wrappers_goldens.py) on the cpu backend at test/goldens.test.ts's tolerance;
 * the predicate and extras plumbing; option validation; state round trips through the codecs; and
 * leaks. The catalogue laws of laws/catalog-wrappers-extra.ts run in test/laws.test.ts.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import {
  type Backend,
  type GradientTransformation,
  type Params,
  type StatefulSchedule,
  type Tensor,
  applyUpdates,
  cpu,
  dispose,
  fromArray,
  globalNorm,
  liveTensors,
  read,
  readTree,
  scope,
  tree,
} from '../src/index.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
import { hyperparametersArb, sequenceArb } from '../laws/arbitraries.js'
import { HostTensor, type HostTree, toDevice, toHost } from '../laws/host.js'
import * as ref from '../laws/reference/wrappers-extra.js'
import { runTransform } from '../laws/run.js'
import { assertLaw, propertySeed, verifyTransformLaws } from '../laws/runners.js'
import { catalogWrappersExtraMasking } from '../laws/catalog-wrappers-extra.js'
import { backends } from './backends.js'

type Leaves = Float64Array[]
const leaves = (t: HostTree): Leaves => tree.leaves(t).map((x) => Float64Array.from(x.data))
const sizes = (t: HostTree): number[] => tree.leaves(t).map((x) => x.data.length)

/** Drives `t` over host gradients on a backend; returns the updates and `observe(state)` of every step (read back). */
const drive = async <S>(t: GradientTransformation<S>, params0: HostTree, grads: readonly HostTree[], backend: Backend, extras: readonly (f.UpdateExtras | undefined)[] = [], observe?: (s: S) => Params | undefined) => {
  let params: Params = toDevice(params0, backend)
  let state = t.init(params)
  const updates: HostTree[] = []
  const observed: (HostTree | undefined)[] = []
  try {
    for (const [k, g] of grads.entries()) {
      const gd = toDevice(g, backend)
      const [u, next, p2] = scope(() => {
        const [u, next] = t.update(gd, state, params, extras[k])
        return [u, next, applyUpdates(params, u)] as const
      })
      updates.push(await toHost(u))
      const o = observe?.(next)
      observed.push(o === undefined ? undefined : await toHost(o))
      dispose([gd, u, state, params], [next, p2])
      state = next
      params = p2
    }
  } finally {
    dispose([params, state])
  }
  return { updates, observed }
}

const period = fc.record({ every: fc.integer({ min: 1, max: 4 }), phase: fc.integer({ min: 0, max: 3 }) })
const periodic = (every: number, phase: number) => (k: number) => (k + phase) % every === 0

// ---- against the float64 references, on every backend ---------------------------------------------

describe.each(backends)('against the float64 references on $name', (backend) => {
  it('conditionallyTransform(ema) and conditionallyMask(sgd with momentum)', () =>
    assertLaw(
      fc.tuple(sequenceArb({ minSteps: 2, maxSteps: 6 }), period, fc.double({ min: 0, max: 0.99, noNaN: true }), fc.boolean()),
      async ([input, { every, phase }, decay, mask]) => {
        const should = periodic(every, phase)
        const n = sizes(input.params)
        const t: f.AnyTransformation = mask ? f.conditionallyMask(f.sgd({ learningRate: 0.1, momentum: decay }), should) : f.conditionallyTransform(f.ema({ decay }), should)
        const inner = mask ? ref.sgdMomentumStep(n, 0.1, decay) : ref.emaStep(n, decay)
        const expected = ref.conditionalReference(input.grads.map(leaves), should, inner as ref.ReferenceStep<unknown>, mask)
        const run = await runTransform(t, input.params, input.grads, backend)
        return allClose(run.updates.map(leaves), expected, float32Tolerance)
      },
      8, backend.name,
    ))

  it('monitor: the updates pass unchanged; the norm and its debiased EMA are recorded', () =>
    assertLaw(
      fc.tuple(sequenceArb({ minSteps: 1, maxSteps: 6 }), fc.double({ min: 0, max: 0.99, noNaN: true }), fc.boolean()),
      async ([input, decay, debias]) => {
        fc.pre(tree.leaves(input.params).length > 0)
        const t = f.monitor({ norm: globalNorm, normEma: f.measureWithEma(globalNorm, { decay, debias }) })
        const run = await drive(t, input.params, input.grads, backend, [], (s) => [s.measurements.norm!, s.measurements.normEma!])
        const norms = input.grads.map((g) => ref.globalNormReference(leaves(g)))
        const emas = ref.measureWithEmaReference(norms, decay, debias)
        const got = run.observed.map((o) => leaves(o!).map((x) => x[0]!))
        // the updates are the gradients, bit for bit
        const same = run.updates.every((u, k) => leaves(u).every((x, i) => x.every((v, j) => Object.is(v, Math.fround(leaves(input.grads[k]!)[i]![j]!)))))
        return same ? allClose(got, norms.map((x, k) => [x, emas[k]!]), float32Tolerance) : { ok: false as const, path: 'updates', index: 0, actual: NaN, expected: NaN, message: 'monitor changed the updates' }
      },
      8, backend.name,
    ))

  it('injectStatefulHyperparams(sgd): the learning rate of a stateful schedule driven by the extras', () =>
    assertLaw(
      fc.tuple(sequenceArb({ minSteps: 2, maxSteps: 6 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 6, maxLength: 6 }), fc.double({ min: 0, max: 0.95, noNaN: true })),
      async ([input, values, momentum]) => {
        const hostSchedule: ref.ReferenceSchedule<{ lr: number; last: number }> = {
          init: () => ({ lr: 0.1, last: Infinity }),
          value: (s) => s.lr,
          update: (s, v) => ({ lr: v! > s.last ? s.lr / 2 : s.lr, last: v! }),
        }
        const t = f.injectStatefulHyperparams(f.sgd)({ learningRate: halving(), momentum })
        const extras = values.map((value) => ({ value }))
        const run = await runTransform(withExtras(t, extras), input.params, input.grads, backend)
        const lrs = ref.injectedValuesReference(hostSchedule, values)
        const expected = ref.scheduledSgdReference(leaves(input.params), input.grads.map(leaves), lrs, momentum)
        return allClose(run.params.map(leaves), expected, float32Tolerance)
      },
      8, backend.name,
    ))

  it('microbatch: every accumulation against the unsplit function and the float64 reference', async () => {
    // per microbatch: a per-row output, a column sum and a mean; B = 12 rows of 3
    const B = 12
    const data = Float32Array.from({ length: B * 3 }, (_, i) => Math.fround(Math.sin(i * 1.7) * 3))
    const rowsOf = (lo: number, hi: number) => Float64Array.from(data.subarray(lo * 3, hi * 3))
    const x = fromArray(data, [B, 3], backend)
    const sq = f.defineElementwise({ name: 'testSquare', inputs: ['a'], outputs: ['a * a'] })
    const fn = (xb: Tensor) => ({ rows: f.scaleTensor(xb, 2), colSumSq: f.sumTo(f.elementwise(sq, [xb])[0]!, [3]), total: f.sum(xb) })
    const hostFn = (r: Float64Array) => ({
      rows: r.map((v) => 2 * v),
      colSumSq: Float64Array.from([0, 1, 2], (c) => r.filter((_, i) => i % 3 === c).reduce((a, v) => a + v * v, 0)),
      total: Float64Array.of(r.reduce((a, v) => a + v, 0)),
    })
    const before = liveTensors(backend) - 1
    for (const m of [1, 2, 3, 4, 6, 12]) {
      const n = B / m
      for (const type of ['sum', 'mean', 'runningMean'] as const) {
        for (const real of [n, Math.max(1, n - 1)]) {
          const out = microbatchRun(fn, m, { rows: 'concat', colSumSq: type, total: type }, real, x)
          const got = (await readTree(out)) as Record<string, Float32Array>
          dispose(out)
          const parts = Array.from({ length: real }, (_, i) => hostFn(rowsOf(i * m, (i + 1) * m)))
          for (const key of ['rows', 'colSumSq', 'total'] as const) {
            const expected = ref.microbatchReference(parts.map((p) => p[key]), n, key === 'rows' ? 'concat' : type)
            expect(allClose([got[key]!], [expected], float32Tolerance).ok, `${key} ${type} m=${m} real=${real}`).toBe(true)
          }
        }
      }
    }
    // all the microbatches, summed, equal the function on the whole batch
    const wholeOut = scope(() => fn(x))
    const whole = (await readTree(wholeOut)) as Record<string, Float32Array>
    dispose(wholeOut)
    const summed = microbatchRun(fn, 3, { rows: 'concat', colSumSq: 'sum', total: 'sum' }, undefined, x)
    const got = (await readTree(summed)) as Record<string, Float32Array>
    dispose(summed)
    expect(got.rows).toEqual(whole.rows)
    expect(allClose([got.colSumSq!, got.total!], [whole.colSumSq!, whole.total!], float32Tolerance).ok).toBe(true)
    dispose(x)
    expect(liveTensors(backend)).toBe(before)
  })

  it('microbatch: the gradient of a mean loss, by mean over microbatches, equals the full-batch gradient', async () => {
    const lossAndGrad = (w: Tensor, xb: Tensor, yb: Tensor) => {
      const r = f.sub(f.matmul(xb, w), yb)
      const b = xb.shape[0]!
      return { loss: f.scaleTensor(f.sum(f.mul(r, r)), 1 / b), grad: f.scaleTensor(f.matmul(xb, r, { transposeA: true }), 2 / b) }
    }
    const w = fromArray([0.5, -1, 0.25], [3, 1], backend)
    const xs = fromArray(Array.from({ length: 24 }, (_, i) => Math.cos(i)), [8, 3], backend)
    const ys = fromArray(Array.from({ length: 8 }, (_, i) => i % 3), [8, 1], backend)
    const wholeOut = scope(() => lossAndGrad(w, xs, ys))
    const whole = (await readTree(wholeOut)) as Record<string, Float32Array>
    dispose(wholeOut)
    for (const m of [1, 2, 4]) {
      const out = f.microbatch(lossAndGrad, { argnums: [1, 2], microbatchSize: m, accumulator: 'mean' })(w, xs, ys)
      const got = (await readTree(out)) as Record<string, Float32Array>
      dispose(out)
      expect(allClose([got.loss!, got.grad!], [whole.loss!, whole.grad!], float32Tolerance).ok, `m = ${m}`).toBe(true)
    }
    dispose([w, xs, ys])
  })

  it('microbatch: the slices are exact copies (NaN, ±∞ and −0 stay in their rows)', async () => {
    const values = [1, NaN, -2, Infinity, 3, -Infinity, 1e-40, -0, 3.4e38, 5, -6, 7]
    const x = fromArray(values, [6, 2], backend)
    const out = f.microbatch((xb: Tensor) => ({ rows: f.clone(xb) }), { argnums: 0, microbatchSize: 2, accumulator: 'concat' })(x)
    const got = Array.from(await read(out.rows))
    // a backend whose arithmetic flushes subnormals to 0 (WebGPU may) flushes them in x + 0 too: compare with its own sum
    const tiny = fromArray([1e-40], [1], backend)
    const zero = backend.fill([1], 0)
    const tinySum = f.add(tiny, zero)
    const subnormal = (await read(tinySum))[0]
    dispose([tiny, zero, tinySum])
    expect(got.slice(0, 6)).toEqual(Array.from(Float32Array.from(values)).slice(0, 6))
    expect(got[6]).toBe(subnormal)
    expect(got.slice(8)).toEqual(Array.from(Float32Array.from(values)).slice(8))
    // the one rounding a select-and-sum can make: −0 may come back as +0
    expect(got[7]).toBe(0)
    // a NaN in one microbatch does not reach the others' sums
    const sums = f.microbatch((xb: Tensor) => f.sumTo(xb, [2]), { argnums: 0, microbatchSize: 2, accumulator: 'concat' })(x)
    const s = Array.from(await read(sums))
    expect(Number.isNaN(s[1])).toBe(true)
    expect([s[0], s[2], s[3], s[4], s[5]]).toEqual([-1, Math.fround(3 + subnormal!), -Infinity, Math.fround(Math.fround(3.4e38) - 6), 12])
    dispose([x, out, sums])
  })
})

/** Runs `microbatch(fn)` on x with the given accumulators. */
const microbatchRun = (fn: (x: Tensor) => Record<string, Tensor>, m: number, accumulator: f.AccumulatorSpec, real: number | undefined, x: Tensor) =>
  f.microbatch(fn, { argnums: 0, microbatchSize: m, accumulator, ...(real === undefined ? {} : { numRealMicrobatches: real }) })(x)

/** The halving schedule of the examples: 0.1, halved whenever the value passed in goes up. */
const halving = (): StatefulSchedule<{ lr: number; last: number }> => ({
  init: () => ({ lr: 0.1, last: Infinity }),
  value: (s) => s.lr,
  update: (s, extras) => ({ lr: (extras?.value ?? s.last) > s.last ? s.lr / 2 : s.lr, last: extras?.value ?? s.last }),
  stateCodec: t.strict({ lr: f.floatCodec, last: f.floatCodec }),
})

/** `t` given the extras of step k at its k-th update. */
const withExtras = <S,>(t: GradientTransformation<S>, extras: readonly f.UpdateExtras[]): GradientTransformation<{ k: number; s: S }> => ({
  init: (p) => ({ k: 0, s: t.init(p) }),
  update: (u, st, p) => {
    const [out, s] = t.update(u, st.s, p, extras[st.k])
    return [out, { k: st.k + 1, s }] as const
  },
})

// ---- Optax 0.2.8's own numbers ---------------------------------------------------------------------

interface Golden {
  readonly leaves: readonly { name: string; shape: number[]; init: string }[]
  readonly grads: readonly (readonly string[])[]
  readonly values: readonly number[]
  readonly cases: Readonly<Record<string, { trajectory: string[][]; values: boolean; measured?: (string | string[])[] }>>
  readonly microbatch: { x: string; shape: number[]; microbatchSize: number; outputs: Record<string, Record<string, string>> }
}
const golden = JSON.parse(readFileSync(new URL('./fixtures/goldens/wrappers-optax.json', import.meta.url), 'utf8')) as Golden
const unhex = (s: string): Float32Array => {
  const words = s === '' ? [] : s.split(' ')
  const out = new Float32Array(words.length)
  const view = new DataView(out.buffer)
  words.forEach((w, i) => view.setUint32(i * 4, parseInt(w, 16), true))
  return out
}
const goldenTolerance = { rtol: 1e-6, atol: 1e-7 }

/** fluxion's build of each golden case, and what it records (the same quantity the script recorded). */
const goldenBuilds: Readonly<Record<string, { make: () => GradientTransformation<any>; measure?: (s: any) => Params[] | number[] }>> = {
  'conditionallyTransform/sgd-momentum/every-3rd-skipped': { make: () => f.conditionallyTransform(f.sgd({ learningRate: 0.1, momentum: 0.9 }), (k) => k % 3 !== 1) },
  'conditionallyMask/adam/even-steps': { make: () => f.conditionallyMask(f.adam({ learningRate: 0.05 }), (k) => k % 2 === 0) },
  'conditionallyTransform/ema/value-above-half': {
    make: () => f.conditionallyTransform(f.ema({ decay: 0.8 }), (_k, extras) => (extras?.value ?? 0) > 0.5, { forwardExtraArgs: true }),
  },
  'injectStatefulHyperparams/adam/wrapped-schedule': {
    make: () => f.injectStatefulHyperparams(f.adam)({ learningRate: (k: number) => 0.1 / (1 + k), b1: 0.8 }),
    measure: (s: f.InjectStatefulHyperparamsState<unknown>) => [s.hyperparams.learningRate!],
  },
  'injectStatefulHyperparams/sgd-momentum/halving-on-value': {
    make: () => f.injectStatefulHyperparams(f.sgd)({ learningRate: halving(), momentum: 0.9 }),
    measure: (s: f.InjectStatefulHyperparamsState<unknown>) => [s.hyperparams.learningRate!],
  },
  'monitor/sgd-momentum/norm-and-ema-then-clip': {
    make: () => f.chain(f.sgd({ learningRate: 0.1, momentum: 0.9 }), f.monitor({ norm: globalNorm, normEma: f.measureWithEma(globalNorm, { decay: 0.9 }) }), f.clipByGlobalNorm(1)),
    measure: (s: unknown) => [f.getMeasurement(s, 'norm')!, f.getMeasurement(s, 'normEma')!],
  },
  'snapshot/sgd-momentum/norm-before-clip': {
    make: () => f.chain(f.sgd({ learningRate: 0.1, momentum: 0.9 }), f.snapshot('normBeforeClip', globalNorm), f.clipByGlobalNorm(0.5)),
    measure: (s: unknown) => [f.getMeasurement(s, 'normBeforeClip')!],
  },
}

describe('Optax 0.2.8 trajectories (wrappers-optax.json), on cpu', () => {
  it('every case of the fixture has a build here', () => expect(Object.keys(golden.cases).sort()).toEqual(Object.keys(goldenBuilds).sort()))

  it.each(Object.keys(golden.cases))('%s', async (id) => {
    const c = golden.cases[id]!
    const build = goldenBuilds[id]!
    const opt = build.make()
    const leafOf = (hexes: readonly string[]) => Object.fromEntries(golden.leaves.map((l, i) => [l.name, fromArray(unhex(hexes[i]!), l.shape)]))
    let params: Params = leafOf(golden.leaves.map((l) => l.init))
    let state = opt.init(params)
    let worst = 0
    for (let k = 0; k < c.trajectory.length; k++) {
      const g = leafOf(golden.grads[k]!)
      const [u, next] = opt.update(g, state, params, c.values ? { value: golden.values[k]! } : undefined)
      const p2: Params = applyUpdates(params, u)
      const got = (await readTree(p2)) as Record<string, Float32Array>
      const cmp = allClose(golden.leaves.map((l) => got[l.name]!), c.trajectory[k]!.map(unhex), goldenTolerance)
      expect(cmp.ok, `step ${k}: ${JSON.stringify(cmp)}`).toBe(true)
      if (build.measure) {
        const measured = await Promise.all(build.measure(next).map(async (x) => (typeof x === 'number' ? Float32Array.of(x) : await read(x as Tensor))))
        const expected = [c.measured![k]!].flat().map(unhex)
        expect(allClose(measured, expected, goldenTolerance).ok, `measurement at step ${k}: ${measured} vs ${expected}`).toBe(true)
        measured.forEach((x, i) => (worst = Math.max(worst, Math.abs(x[0]! - expected[i]![0]!) / Math.abs(expected[i]![0]!))))
      }
      dispose([g, u, params, state], [next, p2])
      state = next
      params = p2
    }
    dispose([params, state])
  })

  it('microbatch: SUM, MEAN, RUNNING_MEAN and the concatenation, as optax.microbatch gives them', async () => {
    const { x: xh, shape, microbatchSize, outputs } = golden.microbatch
    const x = fromArray(unhex(xh), shape)
    const sq = f.defineElementwise({ name: 'goldenSquare', inputs: ['a'], outputs: ['a * a'] })
    const two = f.defineElementwise({ name: 'goldenTwoXPlusOne', inputs: ['a'], outputs: ['a * 2 + 1'] })
    const fn = (xb: Tensor) => ({
      colSumSq: f.sumTo(f.elementwise(sq, [xb])[0]!, [xb.shape[1]!]),
      mean: f.scaleTensor(f.sum(xb), 1 / xb.size),
      rows: f.elementwise(two, [xb])[0]!,
    })
    for (const [type, expected] of Object.entries(outputs)) {
      const acc = type as 'sum' | 'mean' | 'runningMean'
      const out = f.microbatch(fn, { argnums: 0, microbatchSize, accumulator: { colSumSq: acc, mean: acc, rows: 'concat' } })(x)
      const got = (await readTree(out)) as Record<string, Float32Array>
      for (const k of Object.keys(expected)) expect(allClose([got[k]!], [unhex(expected[k]!)], goldenTolerance).ok, `${type} ${k}`).toBe(true)
      dispose(out)
    }
    dispose(x)
  })
})

// ---- semantics ---------------------------------------------------------------------------------------

describe('conditional wrappers: the predicate, the extras and the inner state', () => {
  const p = () => ({ w: fromArray([1, -2]) })
  it('the predicate gets every step count; the extras only with forwardExtraArgs; the inner state is kept on skips', () => {
    const seen: unknown[][] = []
    const params = p()
    for (const forward of [false, true]) {
      const t = f.conditionallyTransform(f.scaleByAdam(), (k: number, extras?: f.UpdateExtras) => (seen.push([k, extras]), k % 2 === 1), { forwardExtraArgs: forward })
      let s = t.init(params)
      for (let k = 0; k < 4; k++) {
        const [u, s2] = t.update(params, s, params, { value: k })
        if (k % 2 === 0) {
          expect(u).toBe(params)
          expect(s2.inner).toBe(s.inner)
        } else expect(s2.inner.count).toBe(s.inner.count + 1)
        expect(s2.count).toBe(k + 1)
        dispose([u, s], [params, s2])
        s = s2
      }
      dispose(s)
    }
    expect(seen).toEqual([[0, undefined], [1, undefined], [2, undefined], [3, undefined], [0, { value: 0 }], [1, { value: 1 }], [2, { value: 2 }], [3, { value: 3 }]])
    dispose(params)
  })

  it('conditionallyMask emits zeros on skipped steps; the extras reach the inner transformation', async () => {
    const params = p()
    const seenByInner: unknown[] = []
    const inner: GradientTransformation<Record<string, never>> = { init: () => ({}), update: (u, s, _p, extras) => (seenByInner.push(extras?.value), [u, s] as const) }
    const t = f.conditionallyMask(inner, (k) => k === 1)
    const s = t.init(params)
    const [u0, s1] = t.update(params, s, params, { value: 7 })
    const [u1] = t.update(params, s1, params, { value: 8 })
    expect(Array.from(await read((u0 as { w: Tensor }).w))).toEqual([0, 0])
    expect(Array.from(await read((u1 as { w: Tensor }).w))).toEqual([1, -2])
    expect(seenByInner).toEqual([8])
    dispose([params, u0])
  })

  it('a predicate that does not answer a boolean is refused, naming the step', () => {
    const params = p()
    const t = f.conditionallyTransform(f.identity(), (() => 1) as never)
    expect(() => t.update(params, t.init(params))).toThrow(/shouldTransform\(step 0\)/)
    dispose(params)
  })

  it('non-finite updates are carried through (docs/nonfinite.md), not skipped or zeroed', async () => {
    const params = p()
    const t = f.conditionallyTransform(f.sgd({ learningRate: 0.1 }), () => true)
    const [u] = t.update({ w: fromArray([NaN, Infinity]) }, t.init(params), params)
    const got = Array.from(await read((u as { w: Tensor }).w))
    expect(Number.isNaN(got[0])).toBe(true)
    expect(got[1]).toBe(-Infinity)
    dispose([params, u])
  })
})

// conditionallyMask zeroes refused steps whatever the gradient, so it is outside the main catalogue
// (whose non-finite check rejects a 0 step from a NaN gradient): its laws run here
describe('laws of conditionallyMask, hyperparameters drawn from their codecs', () => {
  it.each(catalogWrappersExtraMasking.map((e) => [e.name, e] as const))('%s', async (_n, entry) => {
    const draws = fc.sample(hyperparametersArb(entry.hyperparameters), { numRuns: 1, seed: propertySeed() })
    for (const hp of draws) {
      const reports = await verifyTransformLaws(() => entry.make(hp), { backends, numRuns: 2, except: { associativity: 'covered by the chain laws of test/laws.test.ts' } })
      expect(reports.filter((r) => !r.ok).map((r) => `${r.law} ${r.backend}: ${r.message}`), JSON.stringify(hp)).toEqual([])
    }
  }, 120_000)

  it.each(backends.map((b) => [b.name, b] as const))('on %s, a refused step is an exact 0 update even for a NaN or ±∞ gradient, and the inner optimizer never sees it', async (_n, backend) => {
    const t = f.conditionallyMask(f.sgd({ learningRate: 0.5, momentum: 0.9 }), (k: number) => k % 2 === 1)
    const run = await runTransform(t, { w: new HostTensor([3], [1, 2, 3]) }, [{ w: new HostTensor([3], [NaN, Infinity, -Infinity]) }, { w: new HostTensor([3], [1, 1, 1]) }], backend)
    const [u0, u1] = run.updates.map((u) => Array.from((u as { w: HostTensor }).w.data))
    expect(u0!.every((x) => Object.is(x, 0))).toBe(true)
    // the inner sgd's first step is −α·g: its momentum never held the masked NaN
    expect(u1).toEqual([-0.5, -0.5, -0.5])
  })
})

describe('monitoring: reading measurements', () => {
  it('snapshot records the chain\'s updates at its place, and measure(params) at init (the Optax docstring example)', async () => {
    const opt = f.chain(f.sgd({ learningRate: 0.1, momentum: 0.9 }), f.snapshot('normBeforeClip', globalNorm), f.clipByGlobalNorm(0.05))
    let params: Params = { w: fromArray([1, 2, 3]) }
    let state = opt.init(params)
    expect(await read(f.getMeasurement(state, 'normBeforeClip') as Tensor)).toEqual(Float32Array.of(Math.fround(Math.sqrt(14))))
    const norms: number[] = []
    for (let k = 0; k < 2; k++) {
      // ∇ Σ x² = 2x
      const g = tree.map((x: Tensor) => f.scaleTensor(x, 2))(params)
      const [u, next] = opt.update(g, state, params)
      const p2: Params = applyUpdates(params, u)
      norms.push((await read(f.getMeasurement(next, 'normBeforeClip') as Tensor))[0]!)
      dispose([g, u, params, state], [next, p2])
      ;[params, state] = [p2, next]
    }
    // Optax prints step=0, norm=7.48e-01 and step=1, norm=1.41e+00
    expect(norms.map((x) => x.toExponential(2))).toEqual(['7.48e-1', '1.41e+0'])
    dispose([params, state])
  })

  it('getMeasurement: undefined when absent, an error when two measures share a name; the measurement never aliases the updates', async () => {
    const params = { w: fromArray([3, 4]) }
    const ident = (u: Params) => u
    const opt = f.chain(f.snapshot('same', ident), f.monitor({ other: globalNorm }))
    const s = opt.init(params)
    expect(f.getMeasurement(s, 'missing')).toBeUndefined()
    expect(await read(f.getMeasurement(s, 'other') as Tensor)).toEqual(Float32Array.of(5))
    const [u, s2] = opt.update(params, s, params)
    expect((f.getMeasurement(s2, 'same') as { w: Tensor }).w).not.toBe(params.w)
    dispose(params)
    expect(Array.from(await read((f.getMeasurement(s2, 'same') as { w: Tensor }).w))).toEqual([3, 4])
    const twice = f.chain(f.snapshot('n', globalNorm), f.snapshot('n', globalNorm))
    const q = { w: fromArray([1]) }
    const ts = twice.init(q)
    expect(() => f.getMeasurement(ts, 'n')).toThrow(/state\[0\]\.measurement\.n and state\[1\]\.measurement\.n/)
    dispose([s, s2, u, q, ts])
  })

  it('a NaN gradient gives a NaN measurement, not a silent 0', async () => {
    const params = { w: fromArray([1, 2]) }
    const t = f.monitor({ norm: globalNorm, ema: f.measureWithEma(globalNorm, { decay: 0.5 }) })
    const [u, s] = t.update({ w: fromArray([NaN, 1]) }, t.init(params), params)
    for (const n of ['norm', 'ema']) expect(Number.isNaN((await read(s.measurements[n] as Tensor))[0])).toBe(true)
    dispose([params, u, s])
  })
})

describe('injectStatefulHyperparams', () => {
  it('with plain schedules it is injectHyperparams given the float32 values, step for step (bit for bit)', async () => {
    const sched = (k: number) => Math.fround(0.1 * 0.9 ** k)
    // injectStatefulHyperparams casts adam's defaults too (b2, eps), as Optax does
    const a = f.injectHyperparams(f.adam)({ learningRate: sched, b1: 0.75, b2: Math.fround(0.999), eps: Math.fround(1e-8) })
    const b = f.injectStatefulHyperparams(f.adam)({ learningRate: sched, b1: 0.75 })
    const input: HostTree = { w: new HostTensor([3], [1, -2, 0.5]) }
    const grads = [[1, 2, 3], [-1, 0.5, 2], [0.25, -3, 1]].map((g) => ({ w: new HostTensor([3], g) }))
    const [ra, rb] = [await runTransform(a, input, grads, cpu), await runTransform(b, input, grads, cpu)]
    expect(rb.params.map(leaves)).toEqual(ra.params.map(leaves))
  })

  it('an unscheduled hyperparameter can be changed through the state; a scheduled one is recomputed', () => {
    const params = { w: fromArray([1, -2]) }
    const t = f.injectStatefulHyperparams(f.sgd)({ learningRate: halving(), momentum: 0.9 })
    const s0 = t.init(params)
    // float32 values, as Optax casts them to the params' dtype
    expect(s0.hyperparams).toMatchObject({ learningRate: Math.fround(0.1), momentum: Math.fround(0.9) })
    const [u, s1] = t.update(params, { ...s0, hyperparams: { ...s0.hyperparams, momentum: 0.5, learningRate: 7 } }, params, { value: 1 })
    expect(s1.hyperparams).toMatchObject({ learningRate: Math.fround(0.1), momentum: 0.5 })
    const [u2, s2] = t.update(params, s1, params, { value: 2 })
    expect(s2.hyperparams.learningRate).toBe(Math.fround(0.1)) // value() reads the state before this step's update
    expect((s2.hyperparamsStates.learningRate as { lr: number }).lr).toBe(0.05)
    dispose([params, u, s1, u2, s2])
  })

  it('staticArgs keeps a function option away from the schedules', () => {
    let built: unknown
    const factory = (o: { learningRate: number; callback: () => number }) => ((built = o.callback), f.sgd({ learningRate: o.learningRate }))
    const cb = () => 42
    const t = f.injectStatefulHyperparams(factory, { staticArgs: ['callback'] })({ learningRate: 0.1, callback: cb } as never)
    expect(built).toBe(cb)
    expect(t.init({ w: fromArray([1]) }).hyperparams).toMatchObject({ learningRate: Math.fround(0.1) })
    expect(t.init({ w: fromArray([1]) }).hyperparams).not.toHaveProperty('callback')
  })

  it('a schedule value the factory refuses throws its HyperparameterError at that update', () => {
    const params = { w: fromArray([1]) }
    const t = f.injectStatefulHyperparams(f.sgd)({ learningRate: (k: number) => (k === 1 ? -1 : 0.1) })
    const [u, s] = t.update(params, t.init(params), params)
    expect(() => t.update(params, s, params)).toThrow(f.HyperparameterError)
    dispose([params, u, s])
  })
})

describe('microbatch: errors and leaks', () => {
  const fn = (x: Tensor) => f.sum(x)
  it('a batch not divisible by the microbatch size, mismatched batch sizes, a missing argument: refused before any work', () => {
    const x = fromArray([1, 2, 3, 4, 5, 6], [6])
    const y = fromArray([1, 2, 3, 4], [4])
    const before = liveTensors()
    expect(() => f.microbatch(fn, { argnums: 0, microbatchSize: 4 })(x)).toThrow(/microbatchSize = 4 .*a divisor of the batch size 6/)
    expect(() => f.microbatch((a: Tensor, b: Tensor) => f.add(f.sum(a), f.sum(b)), { argnums: [0, 1], microbatchSize: 2 })(x, y)).toThrow(/args\[1\].*size 4, but args\[0\] has 6/)
    expect(() => f.microbatch(fn, { argnums: 1, microbatchSize: 2 })(x)).toThrow(/argnums = 1/)
    expect(() => f.microbatch(fn, { argnums: 0, microbatchSize: 2, numRealMicrobatches: 4 })(x)).toThrow(/numRealMicrobatches = 4 .*\[1, 3\]/)
    expect(() => f.microbatch(fn, { argnums: 0, microbatchSize: 2 })(fromArray([1]) as never)).toThrow(f.HyperparameterError)
    expect(liveTensors()).toBe(before + 1)
    dispose([x, y])
  })

  it('options are validated when wrapping, naming the field and the range', () => {
    const rejected: [() => unknown, string, string][] = [
      [() => f.microbatch(fn, { argnums: 0, microbatchSize: 0 }), 'microbatchSize', 'an integer ≥ 1'],
      [() => f.microbatch(fn, { argnums: -1, microbatchSize: 2 }), 'argnums', 'argument index'],
      [() => f.microbatch(fn, { argnums: [0, 0], microbatchSize: 2 }), 'argnums', 'distinct'],
      [() => f.microbatch(fn, { argnums: 0, microbatchSize: 2, accumulator: 'max' as never }), 'accumulator', "'sum', 'mean'"],
      [() => f.microbatch(fn, { argnums: 0, microbatchSize: 2, accumulator: { a: 'sum', b: 'product' } as never }), 'accumulator.b', "'sum'"],
      [() => f.microbatch(fn, { argnums: 0, microbatchSize: 2, numRealMicrobatches: 1.5 }), 'numRealMicrobatches', 'an integer ≥ 1'],
      [() => f.microbatch(fn, { argnums: 0, microbatch_size: 2 } as never), 'microbatch_size', 'no such option'],
      [() => f.conditionallyTransform(f.identity(), 5 as never), 'shouldTransform', 'a function'],
      [() => f.conditionallyMask({} as never, () => true), 'inner', 'GradientTransformation'],
      [() => f.conditionallyTransform(f.identity(), () => true, { forwardExtraArgs: 1 as never }), 'forwardExtraArgs', 'boolean'],
      [() => f.snapshot('', globalNorm), 'name', 'a non-empty string'],
      [() => f.monitor({}), 'measures', 'at least one'],
      [() => f.monitor({ a: 3 as never }), 'measures.a', 'a function'],
      [() => f.measureWithEma(globalNorm, { decay: 1 }), 'decay', 'a number in [0, 1)'],
      [() => f.measureWithEma(globalNorm, {} as never), 'decay', 'a number in [0, 1)'],
      [() => f.wrappedSchedule(0.1 as never), 'schedule', 'a schedule'],
      [() => f.injectStatefulHyperparams(f.sgd, { staticArgs: 'x' as never }), 'staticArgs', 'an array of option names'],
      [() => f.injectStatefulHyperparams(f.sgd)({ learningRate: -1 }), 'learningRate', 'a finite number ≥ 0'],
    ]
    for (const [build, field, expected] of rejected) {
      let error: unknown
      try {
        build()
      } catch (e) {
        error = e
      }
      expect(error, field).toBeInstanceOf(f.HyperparameterError)
      expect((error as f.HyperparameterError).field).toBe(field)
      expect((error as f.HyperparameterError).expected).toContain(expected)
    }
  })

  it('the outputs must match the accumulator tree; a throwing function leaks nothing', () => {
    const x = fromArray([1, 2, 3, 4], [4, 1])
    const before = liveTensors()
    expect(() => f.microbatch((xb: Tensor) => [f.sum(xb)], { argnums: 0, microbatchSize: 2, accumulator: { a: 'sum' } })(x)).toThrow(f.StructureError)
    expect(() => f.microbatch((xb: Tensor) => ({ v: 1 }), { argnums: 0, microbatchSize: 2, accumulator: 'concat' })(x)).toThrow(/concat.*tensor of shape \[\]/)
    let calls = 0
    const failing = (xb: Tensor) => {
      if (++calls === 2) throw new Error('boom')
      return f.scaleTensor(xb, 2)
    }
    expect(() => f.microbatch(failing, { argnums: 0, microbatchSize: 1, accumulator: 'concat' })(x)).toThrow('boom')
    expect(liveTensors()).toBe(before)
    dispose(x)
  })

  it('numbers among the outputs are accumulated on the host; a custom accumulator gets the subtree', () => {
    const x = fromArray([1, 2, 3, 4, 5, 6], [6])
    const maxAcc: f.MicrobatchAccumulator<number> = { init: () => -Infinity, update: (c, v) => Math.max(c, v as number), finalize: (c) => c }
    let k = 0
    const out = f.microbatch((xb: Tensor) => ({ count: xb.shape[0]!, tag: ++k }), { argnums: 0, microbatchSize: 2, accumulator: { count: 'sum', tag: maxAcc } })(x)
    expect(out).toEqual({ count: 6, tag: 3 })
    dispose(x)
  })

  it('peak live tensors: one microbatch at a time, not all of them', () => {
    const x = fromArray(Array.from({ length: 64 }, (_, i) => i), [16, 4])
    let peak = 0
    const base = liveTensors()
    const out = f.microbatch((xb: Tensor) => {
      peak = Math.max(peak, liveTensors() - base)
      return f.scaleTensor(xb, 1)
    }, { argnums: 0, microbatchSize: 1, accumulator: 'sum' })(x)
    // the reshaped batch, the carry and this microbatch's slice and mask, whatever the count of microbatches
    expect(peak).toBeLessThan(8)
    dispose([x, out])
  })
})

// ---- saved and loaded -------------------------------------------------------------------------------

describe('saveState / loadState round trip: a resumed run continues exactly', () => {
  const makers: [string, () => GradientTransformation<any>, boolean][] = [
    ['conditionallyTransform(adam)', () => f.conditionallyTransform(f.adam({ learningRate: 0.01 }), (k) => k !== 1), false],
    ['conditionallyMask(sgd)', () => f.conditionallyMask(f.sgd({ learningRate: 0.01, momentum: 0.9 }), (k) => k % 2 === 0), false],
    ['snapshot in a chain', () => f.chain(f.snapshot('n', globalNorm), f.adam({ learningRate: 0.01 })), false],
    ['monitor with measureWithEma', () => f.chain(f.monitor({ n: globalNorm, e: f.measureWithEma(globalNorm, { decay: 0.9 }) }), f.sgd({ learningRate: 0.01 })), false],
    ['injectStatefulHyperparams(sgd) with a stateful schedule', () => f.injectStatefulHyperparams(f.sgd)({ learningRate: halving(), momentum: 0.9 }), true],
    ['injectStatefulHyperparams(adam) with a wrapped schedule', () => f.injectStatefulHyperparams(f.adam)({ learningRate: f.wrappedSchedule((k) => 0.01 / (1 + k)) }), false],
  ]
  it.each(makers)('%s', async (_n, make, values) => {
    const opt = make()
    const gs = [[1, -2, 0.5, 0, 3, 1], [0.5, 1, -1, 2, -3, 1], [-1, 2, 0.5, 1, 1, -2]].map((g) => ({ w: fromArray(g.slice(0, 4), [2, 2]), b: fromArray(g.slice(4)) }))
    const step = (p: Params, s: unknown, g: Params, v: number) => scope(() => {
      const [u, s2] = opt.update(g, s as never, p, values ? { value: v } : undefined)
      return [applyUpdates(p, u), s2] as const
    })
    const p0 = { w: fromArray([0.5, -1, 2, 0.1], [2, 2]), b: fromArray([1, -1]) }
    const [p1, s1] = step(p0, opt.init(p0), gs[0]!, 0.5)
    const saved = JSON.parse(JSON.stringify(await f.saveState(opt, s1))) as unknown
    const loaded = f.loadState(opt, saved, cpu)
    const [pa, sa] = step(p1, s1, gs[1]!, 0.7)
    const [pb, sb] = step(p1, loaded, gs[1]!, 0.7)
    const [pa2, sa2] = step(pa, sa, gs[2]!, 0.2)
    const [pb2, sb2] = step(pb, sb, gs[2]!, 0.2)
    expect(await readTree(pb2)).toEqual(await readTree(pa2))
    expect(await readTree(sb2 as never)).toEqual(await readTree(sa2 as never))
    dispose([gs, p0, p1, s1, loaded, pa, sa, pb, sb, pa2, pb2, sa2, sb2])
  })
})
