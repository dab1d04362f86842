/**
 * Muon and schedule-free learning (src/optimizers/muon.ts, schedule-free.ts and their primitives):
 * each against its float64 reference (laws/reference/muon.ts) on every backend; the law catalogue
 * over laws/catalog-muon.ts; the non-finite policy; option validation; state round trips through the
 * codecs; the evaluation parameters of `scheduleFreeEvalParams`; and Optax 0.2.8's own trajectories
 * on matrices of every aspect (test/fixtures/goldens/matrices-muon.json, written by
 * scripts/goldens/optax_muon_goldens.py) through `update` and `compileStep` on the cpu backend, at
 * the tolerance of test/goldens.test.ts (which checks optax-muon.json, on the shared problems).
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import { type Optimizer, type Params, type Tensor, applyUpdates, compileStep, cpu, dispose, fromArray, scope, tree } from '../src/index.js'
import { catalogMuon } from '../laws/catalog-muon.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
import { type SequenceInput, hyperparametersArb, sequenceArb } from '../laws/arbitraries.js'
import { HostTensor, type HostTree } from '../laws/host.js'
import * as ref from '../laws/reference/muon.js'
import { runTransform } from '../laws/run.js'
import { assertLaw, propertySeed, verifyTransformLaws } from '../laws/runners.js'
import { backends } from './backends.js'

type Leaves = Float64Array[]
const leaves = (t: HostTree): Leaves => tree.leaves(t).map((x) => Float64Array.from(x.data))
const shaped = (t: HostTree): ref.ShapedLeaf[] => tree.leaves(t).map((x) => ({ shape: x.shape, data: Float64Array.from(x.data) }))
const standard = [3.4445, -4.775, 2.0315] as const

// ---- against the float64 references, on every backend -------------------------------------------

const lr = fc.double({ min: 1e-3, max: 0.1, noNaN: true })
const beta = fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 0.99, noNaN: true }))

describe.each(backends)('Muon and schedule-free learning against their float64 references on $name', (backend) => {
  it('muon (random trees: the 2-D leaves are Muon’s, the others AdamW’s)', () =>
    assertLaw(
      fc.tuple(
        sequenceArb({ minSteps: 1, maxSteps: 4, grads: { zeroWeight: 0, minAbs: 1e-2 } }),
        fc.record({
          alpha: lr,
          beta,
          nesterov: fc.boolean(),
          adaptive: fc.boolean(),
          preconditioning: fc.constantFrom<'frobenius' | 'aol' | 'schatten'>('frobenius', 'aol', 'schatten'),
          weightDecay: fc.constantFrom(0, 0.01),
          consistentRms: fc.constantFrom(undefined, 0.2),
          adamB1: beta,
          adamB2: fc.double({ min: 0.5, max: 0.999, noNaN: true }),
        }),
      ),
      async ([input, o]) => {
        const opt = f.muon({ learningRate: o.alpha, beta: o.beta, nesterov: o.nesterov, adaptive: o.adaptive, preconditioning: o.preconditioning, weightDecay: o.weightDecay, consistentRms: o.consistentRms, adamB1: o.adamB1, adamB2: o.adamB2 })
        const expected = ref.muonReference(shaped(input.params), input.grads.map(leaves), () => o.alpha, {
          steps: Array.from({ length: 5 }, () => standard),
          beta: o.beta, eps: 1e-8, nesterov: o.nesterov, adaptive: o.adaptive, preconditioning: o.preconditioning, weightDecay: o.weightDecay,
          consistentRms: o.consistentRms, adamB1: o.adamB1, adamB2: o.adamB2, adamEpsRoot: 0, adamWeightDecay: 0,
        })
        const result = await runTransform(opt, input.params, input.grads, backend)
        return allClose(leaves(result.params[result.params.length - 1]!), expected, float32Tolerance)
      },
      8, backend.name,
    ))

  it('scaleByMuon alone, with per-step coefficients and a user mask', () =>
    assertLaw(
      fc.tuple(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 2 ** 30 }),
        fc.constantFrom<'standard' | 'dion'>('standard', 'dion'),
      ),
      async ([m, n, steps, seed, preset]) => {
        let s = seed
        const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1
        const mat = () => new HostTensor([m, n], Array.from({ length: m * n }, () => Math.fround(rand())))
        const params = { w: mat(), v: new HostTensor([3], [1, 2, 3]) }
        const grads = Array.from({ length: steps }, () => ({ w: mat(), v: new HostTensor([3], [0.5, -0.5, 1]) }))
        const opt = f.masked(f.chain(f.scaleByMuon({ nsCoeffs: preset }), f.scaleByShape(), f.scaleByLearningRate(0.05)), { w: true, v: false })
        const coefficients = preset === 'dion' ? f.dionNsCoefficients : Array.from({ length: 5 }, () => f.muonNsCoefficients)
        const expected = ref.muonReference([{ shape: [m, n], data: Float64Array.from(params.w.data) }], grads.map((g) => [Float64Array.from(g.w.data)]), () => 0.05, {
          steps: coefficients, beta: 0.95, eps: 1e-8, nesterov: true, adaptive: false, preconditioning: 'frobenius', weightDecay: 0, adamB1: 0, adamB2: 0, adamEpsRoot: 0, adamWeightDecay: 0,
        })
        const result = await runTransform(opt, params, grads, backend)
        const last = result.params[result.params.length - 1] as { w: HostTensor; v: HostTensor }
        // the masked-out vector gets the raw gradients as updates
        const v = Float64Array.from(params.v.data).map((x, i) => x + steps * grads[0]!.v.data[i]!)
        return allClose([Float64Array.from(last.w.data), Float64Array.from(last.v.data)], [expected[0]!, v], float32Tolerance)
      },
      8, backend.name,
    ))

  it('the Newton–Schulz result has singular values near 1 (‖Oᵀ O − I‖ small), tall and wide alike', async () => {
    for (const [m, n] of [[6, 3], [3, 6], [4, 4]] as const) {
      const x = Array.from({ length: m * n }, (_, i) => Math.sin(1.7 * i + 0.3) + (i % (n + 1) === 0 ? 1 : 0))
      const o = scope(() => f.keep(f.newtonSchulz(backend.fromData(Float32Array.from(x), [m, n]), Array.from({ length: 5 }, () => f.muonNsCoefficients))))
      const expected = ref.newtonSchulzReference(Float64Array.from(x, Math.fround), m, n, Array.from({ length: 5 }, () => standard))
      const got = Float64Array.from(await f.read(o))
      expect(allClose([got], [expected], float32Tolerance).ok).toBe(true)
      // OᵀO (n ≤ m) or OOᵀ: the Gram matrix of the smaller side, whose eigenvalues are the σ²
      const k = Math.min(m, n)
      for (let i = 0; i < k; i++) {
        let d = 0
        for (let l = 0; l < Math.max(m, n); l++) d += m > n ? got[l * n + i]! ** 2 : got[i * n + l]! ** 2
        expect(d).toBeGreaterThan(0.4)
        expect(d).toBeLessThan(1.6)
      }
      dispose(o)
    }
  })

  const sfCase = fc.record({
    base: fc.constantFrom<'sgd' | 'adamw'>('sgd', 'adamw'),
    peak: lr,
    warmupSteps: fc.constantFrom(undefined, 1, 3),
    b1: fc.double({ min: 0.05, max: 1, noNaN: true }),
    b2: fc.double({ min: 0.5, max: 0.999, noNaN: true }),
    weightDecay: fc.constantFrom(0, 0.01),
    weightLrPower: fc.constantFrom(0, 1, 2, 2.5),
  })
  type SfCase = typeof sfCase extends fc.Arbitrary<infer T> ? T : never
  const sfBuild = (c: SfCase) =>
    c.base === 'sgd'
      ? f.scheduleFreeSgd({ learningRate: c.peak, warmupSteps: c.warmupSteps, b1: c.b1, weightDecay: c.weightDecay, weightLrPower: c.weightLrPower })
      : f.scheduleFreeAdamw({ learningRate: c.peak, warmupSteps: c.warmupSteps, b1: c.b1, b2: c.b2, weightDecay: c.weightDecay, weightLrPower: c.weightLrPower })
  const sfReference = (input: SequenceInput, c: SfCase) =>
    ref.scheduleFreeReference(leaves(input.params), input.grads.map(leaves), {
      rate: (k) => (c.warmupSteps === undefined || k >= c.warmupSteps ? c.peak : (c.peak * k) / c.warmupSteps),
      b1: c.b1, weightLrPower: c.weightLrPower, base: c.base, b2: c.b2, eps: 1e-8, weightDecay: c.weightDecay,
    })

  it('scheduleFreeSgd and scheduleFreeAdamw: the params y and scheduleFreeEvalParams x', () =>
    assertLaw(
      fc.tuple(sequenceArb({ minSteps: 1, maxSteps: 6, grads: { zeroWeight: 0 } }), sfCase),
      async ([input, c]) => {
        const expected = sfReference(input, c)
        const opt = sfBuild(c)
        const got = scope(() => {
          let p: Params = tree.map((x: HostTensor) => backend.fromData(Float32Array.from(x.data), x.shape))(input.params) as Params
          let s = opt.init(p)
          for (const g of input.grads) {
            const gs = tree.map((x: HostTensor) => backend.fromData(Float32Array.from(x.data), x.shape))(g) as Params
            const [u, s2] = opt.update(gs, s, p)
            p = applyUpdates(p, u)
            s = s2
          }
          return f.keep([p, f.scheduleFreeEvalParams(s, p)] as const)
        })
        const [y, x] = await Promise.all(got.map((t) => f.readTree(t)))
        dispose(got)
        const toLeaves = (t: unknown) => tree.leaves(t as Params).map((a) => Float64Array.from(a as unknown as Float32Array))
        const ry = allClose(toLeaves(y), expected.y, float32Tolerance)
        return ry.ok ? allClose(toLeaves(x), expected.x, float32Tolerance) : ry
      },
      8, backend.name,
    ))
})

// ---- scheduleFreeEvalParams ----------------------------------------------------------------------

describe('scheduleFreeEvalParams gives the interpolation x = (y − (1 − β) z) / β', () => {
  const run = (opt: Optimizer | f.GradientTransformation<f.ScheduleFreeState>, steps: number) => {
    let p: Params = { w: fromArray([1, -2, 0.5, 3], [2, 2]), b: fromArray([0.25]) }
    let s: unknown = opt.init(p)
    for (let k = 0; k < steps; k++) {
      const g = { w: fromArray([0.5 - k, 1, -0.25 * k, 2], [2, 2]), b: fromArray([1 + k]) }
      const [u, s2] = scope(() => (opt as f.AnyTransformation).update(g, s, p))
      const p2: Params = applyUpdates(p, u)
      dispose([g, u, p, s], [p2, s2])
      p = p2
      s = s2
    }
    return { p, s }
  }

  it('elementwise, in float32, from the state’s z and β', async () => {
    const { p, s } = run(f.scheduleFreeAdamw({ learningRate: 0.1, b1: 0.8 }), 4)
    const state = s as f.ScheduleFreeState
    expect(state.b1).toBe(Math.fround(0.8))
    const x = f.scheduleFreeEvalParams(state, p)
    const [y, z, xs] = await Promise.all([f.readTree(p), f.readTree(state.z), f.readTree(x)])
    const b = Math.fround(0.8)
    const omb = Math.fround(1 - b)
    for (const k of ['w', 'b'] as const) {
      const expected = Float32Array.from((y as Record<string, Float32Array>)[k]!, (v, i) => (v - omb * (z as Record<string, Float32Array>)[k]![i]!) / b)
      expect(Array.from((xs as Record<string, Float32Array>)[k]!)).toEqual(Array.from(expected))
    }
    // y lies between x and z: y = βx + (1 − β)z
    const yw = (y as Record<string, Float32Array>).w!
    const zw = (z as Record<string, Float32Array>).w!
    const xw = (xs as Record<string, Float32Array>).w!
    expect(allClose([Float64Array.from(yw)], [Float64Array.from(xw, (v, i) => b * v + omb * zw[i]!)], float32Tolerance).ok).toBe(true)
    dispose([p, s, x])
  })

  it('at the first step x equals the initial params moved by c₁ = 1 to z₁ (so x = z₁)', async () => {
    const { p, s } = run(f.scheduleFreeSgd({ learningRate: 0.1 }), 1)
    const x = await f.readTree(f.scheduleFreeEvalParams(s, p))
    const z = await f.readTree((s as f.ScheduleFreeState).z)
    expect(allClose(tree.leaves(x as Params).map((a) => Float64Array.from(a as unknown as Float32Array)), tree.leaves(z as Params).map((a) => Float64Array.from(a as unknown as Float32Array)), float32Tolerance).ok).toBe(true)
    dispose([p, s])
  })

  it('finds the state inside a chain, and refuses a state without one', () => {
    const opt = f.chain(f.clipByGlobalNorm(1), f.scheduleFree(f.sgd({ learningRate: 0.1 }), { learningRate: 0.1 }))
    const { p, s } = run(opt as unknown as Optimizer, 2)
    const x = f.scheduleFreeEvalParams(s, p)
    expect(tree.leaves(x).length).toBe(2)
    expect(() => f.scheduleFreeEvalParams(f.adam({ learningRate: 0.1 }).init(p), p)).toThrow(f.StructureError)
    dispose([p, s, x])
  })
})

// ---- Optax's trajectories on matrices of every aspect ---------------------------------------------

describe('goldens from Optax 0.2.8 on matrices (matrices-muon.json), through update and compileStep', () => {
  interface LeafSpec { readonly name: string; readonly shape: readonly number[]; readonly init: string }
  interface Trajectory { readonly id: string; readonly optimizer: string; readonly problem: string; readonly learningRate: number; readonly options: Record<string, unknown>; readonly call: string; readonly params: readonly (readonly string[])[] }
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/goldens/matrices-muon.json', import.meta.url), 'utf8')) as {
    readonly steps: number
    readonly problems: Readonly<Record<string, { readonly leaves: readonly LeafSpec[]; readonly grads: readonly (readonly string[])[] }>>
    readonly trajectories: readonly Trajectory[]
  }
  const unhex = (text: string): Float32Array => {
    const words = text === '' ? [] : text.split(' ')
    const view = new DataView(new ArrayBuffer(4 * words.length))
    words.forEach((w, i) => view.setUint32(4 * i, parseInt(w, 16)))
    return Float32Array.from({ length: words.length }, (_, i) => view.getFloat32(4 * i))
  }
  const builders: Readonly<Record<string, (o: never) => f.AnyTransformation>> = { muon: f.muon, scheduleFreeAdamw: f.scheduleFreeAdamw, scheduleFreeSgd: f.scheduleFreeSgd }

  /**
   * Optax's trajectories: the goldens' bound at every step. PyTorch's with Newton–Schulz in
   * float32: torch.optim.Muon writes θ twice per step in float32 (θ·(1 − αλ), then − α·s·O) where
   * fluxion adds one update, and these 1-ulp differences feed the following steps (measured: at
   * most 1.14e-6 relative, late in the 25 steps; bound 2e-6). PyTorch's own bfloat16 Newton–Schulz
   * (8-bit significands): measured at most 2.45e-3 relative (bound 5e-3; a wrong shape factor or
   * momentum form is off by far more).
   */
  const toleranceOf = (t: Trajectory) =>
    t.id.startsWith('muon/pytorch/') ? (t.id.includes('-bfloat16') ? { rtol: 5e-3, atol: 1e-5, worst: 5e-3 } : { rtol: 2e-6, atol: 1e-7, worst: 2e-6 }) : { rtol: 1e-6, atol: 1e-7, worst: 1e-6 }

  it('covers tall, square and wide matrices, a vector and a scalar', () => {
    const shapes = Object.values(fixture.problems).flatMap((p) => p.leaves.map((l) => l.shape))
    expect(shapes.some(([m, n]) => n !== undefined && m! > n)).toBe(true)
    expect(shapes.some(([m, n]) => n !== undefined && m! < n)).toBe(true)
    expect(shapes.some(([m, n]) => n !== undefined && m === n)).toBe(true)
    expect(fixture.trajectories.length).toBeGreaterThan(15)
  })

  it.each(fixture.trajectories.map((t) => [t.id, t] as const))('%s', (_id, t) => {
    const problem = fixture.problems[t.problem]!
    const tol = toleranceOf(t)
    const toTree = (values: readonly Float32Array[]): Params => Object.fromEntries(problem.leaves.map((l, i) => [l.name, fromArray(values[i]!, l.shape, cpu)]))
    let worst = 0
    for (const compiled of [false, true]) {
      const opt = builders[t.optimizer]!({ ...t.options, learningRate: t.learningRate } as never)
      const step = compiled ? compileStep(opt) : undefined
      let params = toTree(problem.leaves.map((l) => unhex(l.init)))
      let state = opt.init(params)
      for (let k = 0; k < fixture.steps; k++) {
        const grads = toTree(problem.grads[k]!.map(unhex))
        const [p2, s2] = step ? step(params, grads, state) : scope(() => {
          const [u, s] = opt.update(grads, state, params)
          return [applyUpdates(params, u), s] as const
        })
        dispose([grads, params, state], [p2, s2])
        params = p2
        state = s2
        problem.leaves.forEach((l, j) => {
          const e = unhex(t.params[k]![j]!)
          const a = cpu.readSync!((params as Record<string, Tensor>)[l.name]!)!
          e.forEach((v, i) => {
            const err = Math.abs(a[i]! - v)
            worst = Math.max(worst, err / Math.abs(v))
            expect(err <= tol.atol + tol.rtol * Math.abs(v), `${t.id}${compiled ? ' (compileStep)' : ''} step ${k + 1}, ${l.name}[${i}]: fluxion ${a[i]}, ${t.call} ${v}`).toBe(true)
          })
        })
      }
      dispose([params, state])
    }
    if (process.env.FLUXION_MEASURE) console.log(`[muon goldens] ${t.id}: worst relative ${worst.toExponential(2)}`)
    expect(worst).toBeLessThanOrEqual(tol.worst)
  })
})

// ---- the law catalogue over the new entries ------------------------------------------------------

// test/laws.test.ts runs the whole catalogue (every entry of laws/catalog-muon.ts among them) on
// every backend; here one draw of the optimizers' hyperparameters, to keep this file's time down
describe('laws of the catalogued Muon and schedule-free optimizers, hyperparameters drawn from their codecs', () => {
  it.each(catalogMuon.filter((e) => e.name === 'muon' || e.name === 'scheduleFreeAdamw').map((e) => [e.name, e] as const))('%s', async (_n, entry) => {
    const draws = fc.sample(hyperparametersArb(entry.hyperparameters), { numRuns: 1, seed: propertySeed() })
    for (const hp of draws) {
      const reports = await verifyTransformLaws(() => entry.make(hp), { backends, numRuns: 2, except: { associativity: 'covered by the chain laws of test/laws.test.ts', ...(entry.parityException ? { parity: entry.parityException } : {}) } })
      expect(reports.filter((r) => !r.ok).map((r) => `${r.law} ${r.backend}: ${r.message}`), JSON.stringify(hp)).toEqual([])
    }
  }, 120_000)
})

// ---- the non-finite policy (docs/nonfinite.md) ---------------------------------------------------

describe.each(backends)('a NaN, ±∞ or overflowing gradient is never a finite or silent-0 step, on $name', (backend) => {
  const makers: [string, () => f.AnyTransformation][] = [
    ['muon', () => f.muon({ learningRate: 0.1 })],
    ['muon (aol)', () => f.muon({ learningRate: 0.1, preconditioning: 'aol' })],
    ['muon (schatten)', () => f.muon({ learningRate: 0.1, preconditioning: 'schatten' })],
    ['muon (pytorch)', () => f.muon({ learningRate: 0.1, convention: 'pytorch' })],
    ['scheduleFreeAdamw', () => f.scheduleFreeAdamw({ learningRate: 0.1 })],
    ['scheduleFreeSgd', () => f.scheduleFreeSgd({ learningRate: 0.1 })],
  ]
  it.each(makers)('%s', async (_n, make) => {
    const params = { w: new HostTensor([2, 2], [0.5, -1, 1.5, 2]), b: new HostTensor([2], [0.5, -1]) }
    const grads = (v: number) => [[1, -2, 0.5, 1], [v, 1, 0.5, -1], [0.5, 1, 1, 2], [1, 1, -1, 0.5]].map((g) => ({ w: new HostTensor([2, 2], g), b: new HostTensor([2], [g[0]!, g[1]!]) }))
    const first = (t: HostTree, k: 'w' | 'b') => (t as Record<string, HostTensor>)[k]!.data[0]!
    for (const v of [NaN, Infinity, -Infinity]) {
      const run = await runTransform(make(), params, grads(v), backend)
      for (const k of ['w', 'b'] as const) {
        expect(Number.isFinite(first(run.updates[1]!, k)), `${v} ${k}: update ${first(run.updates[1]!, k)}`).toBe(false)
        for (const p of run.params.slice(1)) expect(Number.isFinite(first(p, k))).toBe(false)
      }
    }
    // 1e30: its square overflows float32; the coordinate must not freeze at an exact 0 step
    const run = await runTransform(make(), params, grads(1e30), backend)
    run.updates.slice(1).forEach((u, k) => expect(first(u, 'w') === 0 || first(u, 'b') === 0, `step ${k + 1}`).toBe(false))
  })
})

// ---- validation ----------------------------------------------------------------------------------

describe('options are validated, naming the field and the range', () => {
  const rejected: readonly (readonly [string, () => unknown, string, string])[] = [
    ['muon beta = 1', () => f.muon({ learningRate: 0.1, beta: 1 }), 'beta', 'a number in [0, 1)'],
    ['muon nsSteps = 0', () => f.muon({ learningRate: 0.1, nsSteps: 0 }), 'nsSteps', 'an integer ≥ 1'],
    ['muon nsCoeffs of two numbers', () => f.muon({ learningRate: 0.1, nsCoeffs: [1, 2] as never }), 'nsCoeffs', 'a triple [a, b, c]'],
    ['muon nsCoeffs unknown preset', () => f.muon({ learningRate: 0.1, nsCoeffs: 'polar' as never }), 'nsCoeffs', "'standard' / 'dion'"],
    ['muon more coefficient rows than nsSteps', () => f.muon({ learningRate: 0.1, nsCoeffs: 'dion', nsSteps: 3 }), 'nsCoeffs', 'at most nsSteps = 3'],
    ['muon preconditioning spectral', () => f.muon({ learningRate: 0.1, preconditioning: 'spectral' as never }), 'preconditioning', "one of 'frobenius', 'aol', 'schatten'"],
    ['muon consistentRms < 0', () => f.muon({ learningRate: 0.1, consistentRms: -0.2 }), 'consistentRms', 'a finite number ≥ 0'],
    ['muon adamB2 = 1', () => f.muon({ learningRate: 0.1, adamB2: 1 }), 'adamB2', 'a number in [0, 1)'],
    ['muon adamLearningRate < 0', () => f.muon({ learningRate: 0.1, adamLearningRate: -1 }), 'adamLearningRate', 'a finite number ≥ 0'],
    ['muon muonMask a number', () => f.muon({ learningRate: 0.1, muonMask: 3 as never }), 'muonMask', 'a tree of booleans'],
    ['muon misspelt option', () => f.muon({ learningRate: 0.1, weight_decay: 0.1 } as never), 'weight_decay', 'no such option'],
    ['muon without learningRate', () => f.muon({} as never), 'learningRate', 'a finite number ≥ 0 or a schedule'],
    ['scaleByMuon eps < 0', () => f.scaleByMuon({ eps: -1 }), 'eps', 'a finite number ≥ 0'],
    ['scaleByMuon nesterov not a boolean', () => f.scaleByMuon({ nesterov: 1 as never }), 'nesterov', 'boolean'],
    ['newtonSchulz without steps', () => f.newtonSchulz(fromArray([1, 2, 3, 4], [2, 2]), []), 'steps', 'a non-empty list of triples'],
    ['newtonSchulz unknown preconditioning', () => f.newtonSchulz(fromArray([1, 2, 3, 4], [2, 2]), [f.muonNsCoefficients], { preconditioning: 'polar' as never }), 'preconditioning', "one of 'frobenius'"],
    ['muon pytorch adaptive', () => f.muon({ learningRate: 0.1, adaptive: true, convention: 'pytorch' }), 'adaptive', 'only the optax convention'],
    ['muon pytorch preconditioning aol', () => f.muon({ learningRate: 0.1, preconditioning: 'aol', convention: 'pytorch' }), 'preconditioning', 'only the optax convention'],
    ['muon pytorch dion preset', () => f.muon({ learningRate: 0.1, nsCoeffs: 'dion', convention: 'pytorch' }), 'nsCoeffs', 'a triple'],
    ['muon pytorch adamEpsRoot', () => f.muon({ learningRate: 0.1, adamEpsRoot: 1e-8, convention: 'pytorch' }), 'adamEpsRoot', 'only the optax convention'],
    ['muon optax adamEps', () => f.muon({ learningRate: 0.1, adamEps: 1e-6 }), 'adamEps', 'only the pytorch convention'],
    ['muon convention keras', () => f.muon({ learningRate: 0.1, convention: 'keras' as never }), 'convention', "one of 'optax', 'pytorch'"],
    ['scaleByShape consistentRms NaN', () => f.scaleByShape({ consistentRms: NaN }), 'consistentRms', 'a finite number ≥ 0'],
    ['scheduleFree b1 = 0', () => f.scheduleFree(f.sgd({ learningRate: 0.1 }), { learningRate: 0.1, b1: 0 }), 'b1', 'a number in (0, 1]'],
    ['scheduleFree weightLrPower < 0', () => f.scheduleFree(f.sgd({ learningRate: 0.1 }), { learningRate: 0.1, weightLrPower: -1 }), 'weightLrPower', 'a finite number ≥ 0'],
    ['scheduleFree without learningRate', () => f.scheduleFree(f.sgd({ learningRate: 0.1 }), {} as never), 'learningRate', 'a finite number ≥ 0 or a schedule'],
    ['scheduleFreeAdamw b1 > 1', () => f.scheduleFreeAdamw({ b1: 1.5 }), 'b1', 'a number in (0, 1]'],
    ['scheduleFreeAdamw warmupSteps 2.5', () => f.scheduleFreeAdamw({ warmupSteps: 2.5 }), 'warmupSteps', 'an integer ≥ 1'],
    ['scheduleFreeAdamw learningRate schedule', () => f.scheduleFreeAdamw({ learningRate: (() => 0.1) as never }), 'learningRate', 'a finite number ≥ 0'],
    ['scheduleFreeSgd weightDecay < 0', () => f.scheduleFreeSgd({ weightDecay: -1 }), 'weightDecay', 'a finite number ≥ 0'],
  ]
  it.each(rejected)('%s', (_n, build, field, expected) => {
    let error: unknown
    try {
      build()
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(f.HyperparameterError)
    expect((error as f.HyperparameterError).field).toBe(field)
    expect((error as f.HyperparameterError).expected).toContain(expected)
  })

  it('scaleByMuon and scaleByShape refuse a leaf that is not a matrix, naming its path, before any work', () => {
    const p = { layer: { w: fromArray([1, 2, 3, 4], [2, 2]), b: fromArray([1, 2]) } }
    const before = f.liveTensors()
    expect(() => f.scaleByMuon().init(p)).toThrow(/layer\.b/)
    const s = f.scaleByMuon().init({ w: p.layer.w })
    expect(() => f.scaleByMuon().update({ w: p.layer.b }, { count: 0, mu: { w: p.layer.b } })).toThrow(f.ShapeError)
    expect(() => f.scaleByShape().update(p, {})).toThrow(f.ShapeError)
    dispose(s)
    expect(f.liveTensors()).toBe(before)
    dispose(p)
  })

  it('muon refuses a muonMask that selects a vector, naming its path', () => {
    const p = { w: fromArray([1, 2, 3, 4], [2, 2]), b: fromArray([1, 2]) }
    expect(() => f.muon({ learningRate: 0.1, muonMask: { w: true, b: true } }).init(p)).toThrow(f.ShapeError)
    expect(() => f.muon({ learningRate: 0.1, muonMask: { w: true } as never }).init(p)).toThrow(f.StructureError)
    dispose(p)
  })

  it('an all-zero matrix with ε = 0 is an exact 0 step under every preconditioning (not 0/0 or 0·∞)', async () => {
    for (const preconditioning of ['frobenius', 'aol', 'schatten'] as const) {
      const opt = f.scaleByMuon({ eps: 0, preconditioning })
      const p = { w: fromArray([0, 0, 0, 0, 0, 0], [2, 3]) }
      const [u, s] = opt.update(p, opt.init(p), p)
      expect(Array.from(await f.read((u as { w: Tensor }).w)), preconditioning).toEqual([0, 0, 0, 0, 0, 0])
      dispose([p, u, s])
    }
  })

  it('scheduleFree needs the params', () => {
    const opt = f.scheduleFreeSgd()
    const p = { w: fromArray([1, 2]) }
    const s = opt.init(p)
    expect(() => opt.update({ w: fromArray([1, 1]) }, s)).toThrow(f.MissingParamsError)
    dispose([p, s])
  })

  it('the muonMask and weightDecayMask choose the leaves: a masked-out matrix follows AdamW, an undecayed one is not decayed', async () => {
    const p = { w: fromArray([0.5, -1, 2, 0.1], [2, 2]), v: fromArray([1, 2, -1, 0.5], [2, 2]) }
    const g = { w: fromArray([1, 0.5, -0.5, 2], [2, 2]), v: fromArray([0.5, 1, 1, -1], [2, 2]) }
    const opt = f.muon({ learningRate: 0.1, weightDecay: 0.5, weightDecayMask: { w: false, v: true }, muonMask: { w: true, v: false } })
    const [u] = opt.update(g, opt.init(p), p)
    const got = await f.readTree(u)
    const expected = ref.muonReference([{ shape: [2, 2], data: Float64Array.of(0.5, -1, 2, 0.1) }, { shape: [2, 2], data: Float64Array.of(1, 2, -1, 0.5) }], [[Float64Array.of(1, 0.5, -0.5, 2), Float64Array.of(0.5, 1, 1, -1)]], () => 0.1, {
      steps: Array.from({ length: 5 }, () => standard), beta: 0.95, eps: 1e-8, nesterov: true, adaptive: false, preconditioning: 'frobenius', weightDecay: 0.5,
      weightDecayMask: [false, true], muonMask: [true, false], adamB1: 0.9, adamB2: 0.999, adamEpsRoot: 0, adamWeightDecay: 0,
    })
    const theta = [Float64Array.of(0.5, -1, 2, 0.1), Float64Array.of(1, 2, -1, 0.5)]
    const gotU = [Float64Array.from((got as Record<string, Float32Array>).w!), Float64Array.from((got as Record<string, Float32Array>).v!)]
    expect(allClose(gotU, expected.map((e, j) => e.map((x, i) => x - theta[j]![i]!)), float32Tolerance).ok).toBe(true)
    // v is AdamW's: its first Nesterov step is about −α·sign(g) times (1 − β₁)/(1 − β₁) + β₁/(1 − β₁²)
    expect(gotU[1]!.every((x, i) => Math.sign(x) === -Math.sign([0.5, 1, 1, -1][i]!))).toBe(true)
    dispose([p, g, u])
  })
})

// ---- state round trip through the codecs ---------------------------------------------------------

describe('saveState / loadState round trip: a resumed run continues exactly', () => {
  const makers: [string, () => f.AnyTransformation][] = [
    ['muon', () => f.muon({ learningRate: 0.01, weightDecay: 0.01 })],
    ['muon (own rate for AdamW, AOL)', () => f.muon({ learningRate: 0.01, adamLearningRate: 0.001, preconditioning: 'aol' })],
    ['scaleByMuon', () => f.masked(f.scaleByMuon({ adaptive: true }), { w: true, b: false })],
    ['muon (pytorch)', () => f.muon({ learningRate: 0.01, convention: 'pytorch' })],
    ['scheduleFreeAdamw', () => f.scheduleFreeAdamw({ learningRate: 0.01, warmupSteps: 2 })],
    ['scheduleFreeSgd', () => f.scheduleFreeSgd({ learningRate: 0.01, weightDecay: 0.01 })],
    ['scheduleFree (adam)', () => f.scheduleFree(f.adam({ learningRate: 0.01, b1: 0 }), { learningRate: 0.01 })],
  ]
  it.each(makers)('%s', async (_n, make) => {
    const opt = make()
    const gs = [[1, -2, 0.5, 0, 3, 1], [0.5, 1, -1, 2, -3, 1], [-1, 2, 0.5, 1, 1, -2]].map((g) => ({ w: fromArray(g.slice(0, 4), [2, 2]), b: fromArray(g.slice(4)) }))
    const step = (p: Params, s: unknown, g: Params) => scope(() => {
      const [u, s2] = opt.update(g, s, p)
      return [applyUpdates(p, u), s2] as const
    })
    const p0 = { w: fromArray([0.5, -1, 2, 0.1], [2, 2]), b: fromArray([1, -1]) }
    const [p1, s1] = step(p0, opt.init(p0), gs[0]!)
    const saved = JSON.parse(JSON.stringify(await f.saveState(opt, s1))) as unknown
    const loaded = f.loadState(opt, saved, cpu)
    const [pa, sa] = step(p1, s1, gs[1]!)
    const [pb, sb] = step(p1, loaded, gs[1]!)
    const [pa2] = step(pa, sa, gs[2]!)
    const [pb2] = step(pb, sb, gs[2]!)
    expect(await f.readTree(pb2)).toEqual(await f.readTree(pa2))
    // another optimizer's state is refused
    expect(() => f.loadState(f.adam({ learningRate: 0.01 }), saved, cpu)).toThrow()
    dispose([gs, p0, p1, s1, loaded, pa, sa, pb, sb, pa2, pb2])
  })
})
