/**
 * Optax's newer optimizers (src/optimizers/modern.ts) and their primitives: each against its
 * float64 reference (laws/reference/modern.ts) on every backend; the law catalogue over
 * laws/catalog-modern.ts; the non-finite policy; option validation; state round trips through the
 * codecs; and Optax 0.2.8's own trajectories (test/fixtures/goldens/optax-modern.json, written by
 * scripts/goldens/optax_modern_goldens.py) through `update` and `compileStep` on the cpu backend, at
 * the tolerance test/goldens.test.ts uses.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import { type Optimizer, type Params, type Schedule, type Tensor, applyUpdates, compileStep, cpu, dispose, fromArray, scope, tree } from '../src/index.js'
import { catalogModern, catalogModernSign } from '../laws/catalog-modern.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
import { type SequenceInput, hyperparametersArb, sequenceArb } from '../laws/arbitraries.js'
import { HostTensor, type HostTree } from '../laws/host.js'
import * as ref from '../laws/reference/modern.js'
import { adamFamilyReference } from '../laws/reference/optimizers.js'
import { runTransform } from '../laws/run.js'
import { assertLaw, propertySeed, verifyTransformLaws } from '../laws/runners.js'
import { backends } from './backends.js'

type Leaves = Float64Array[]
const leaves = (t: HostTree): Leaves => tree.leaves(t).map((x) => Float64Array.from(x.data))

// ---- against the float64 references, on every backend -------------------------------------------

const lr = fc.double({ min: 1e-3, max: 0.3, noNaN: true })
const rate = fc.oneof(
  lr.map((a): Schedule => () => a),
  fc.tuple(lr, fc.integer({ min: 1, max: 4 })).map(([a, tau]): Schedule => (k) => (k <= tau ? a * (1 - k / (2 * tau)) : a / 2)),
)
const beta = fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 0.99, noNaN: true }))
const b2 = fc.double({ min: 0.5, max: 0.9999, noNaN: true })
const eps = fc.double({ min: 1e-8, max: 1e-3, noNaN: true })
const wd = fc.oneof(fc.constant(0), fc.double({ min: 1e-4, max: 0.1, noNaN: true }))
const weight = fc.double({ min: 0, max: 2, noNaN: true })

interface Case<H> {
  readonly name: string
  readonly hyper: fc.Arbitrary<H>
  readonly make: (h: H) => Optimizer
  readonly reference: (theta0: Leaves, grads: Leaves[], h: H) => Leaves | undefined
  readonly tolerance?: { rtol: number; atol: number }
  readonly steps?: { readonly min: number; readonly max: number }
}
const c = <H,>(x: Case<H>): Case<unknown> => x as Case<unknown>

const cases: Case<unknown>[] = [
  c({
    name: 'adabelief',
    // β₁ near 0 makes the belief g − m vanish, so s ≈ ε_root and every update is about g/√ε_root:
    // consecutive huge steps then cancel in the float32 params beyond float32 tolerance (measured:
    // 6e-4 relative at β₁ = 0, β₂ = 0.96, seed 616009810), a float32 limit and not a formula error
    hyper: fc.record({ alpha: rate, b1: fc.double({ min: 0.1, max: 0.999, noNaN: true }), b2, e: eps, er: fc.constantFrom(0, 1e-16, 1e-8), nesterov: fc.boolean() }),
    make: (h) => f.adabelief({ learningRate: h.alpha, b1: h.b1, b2: h.b2, eps: h.e, epsRoot: h.er, nesterov: h.nesterov }),
    reference: (t, g, h) => ref.adabeliefReference(t, g, h.alpha, { b1: h.b1, b2: h.b2, eps: h.e, epsRoot: h.er, nesterov: h.nesterov }),
  }),
  c({
    name: 'yogi',
    hyper: fc.record({ alpha: rate, b1: beta, b2, e: fc.double({ min: 1e-4, max: 1e-2, noNaN: true }) }),
    make: (h) => f.yogi({ learningRate: h.alpha, b1: h.b1, b2: h.b2, eps: h.e }),
    // sign(v − g²) is discontinuous: draws where v comes within rounding of g² are skipped by the nudge below
    reference: (t, g, h) => ref.yogiReference(t, g, h.alpha, h.b1, h.b2, h.e),
  }),
  c({
    name: 'adan',
    steps: { min: 2, max: 6 },
    hyper: fc.record({ alpha: rate, b1: beta, b2: beta, b3: b2, e: eps, er: fc.constantFrom(0, 1e-8), wd }),
    make: (h) => f.adan({ learningRate: h.alpha, b1: h.b1, b2: h.b2, b3: h.b3, eps: h.e, epsRoot: h.er, weightDecay: h.wd }),
    reference: (t, g, h) => ref.adanReference(t, g, h.alpha, { b1: h.b1, b2: h.b2, b3: h.b3, eps: h.e, epsRoot: h.er, weightDecay: h.wd }),
  }),
  c({
    name: 'adamaxw',
    hyper: fc.record({ alpha: rate, b1: beta, b2, e: eps, wd }),
    make: (h) => f.adamaxw({ learningRate: h.alpha, b1: h.b1, b2: h.b2, eps: h.e, weightDecay: h.wd }),
    reference: (t, g, h) => ref.adamaxwReference(t, g, h.alpha, h.b1, h.b2, h.e, h.wd),
  }),
  c({
    name: 'nadamw',
    hyper: fc.record({ alpha: rate, b1: beta, b2, e: eps, er: fc.constantFrom(0, 1e-8), wd }),
    make: (h) => f.nadamw({ learningRate: h.alpha, b1: h.b1, b2: h.b2, eps: h.e, epsRoot: h.er, weightDecay: h.wd }),
    reference: (t, g, h) => adamFamilyReference(t, g, h.alpha, { b1: h.b1, b2: h.b2, eps: h.e, epsRoot: h.er, nesterov: true, weightDecay: h.wd }),
  }),
  c({
    name: 'novograd',
    hyper: fc.record({ alpha: rate, b1: beta, b2: beta, e: eps, er: fc.constantFrom(0, 1e-8), wd }),
    make: (h) => f.novograd({ learningRate: h.alpha, b1: h.b1, b2: h.b2, eps: h.e, epsRoot: h.er, weightDecay: h.wd }),
    reference: (t, g, h) => ref.novogradReference(t, g, h.alpha, { b1: h.b1, b2: h.b2, eps: h.e, epsRoot: h.er, weightDecay: h.wd }),
  }),
  c({
    name: 'rprop',
    steps: { min: 3, max: 8 },
    hyper: fc.record({
      learningRate: fc.double({ min: 1e-3, max: 0.5, noNaN: true }),
      etaMinus: fc.double({ min: 0.1, max: 0.9, noNaN: true }),
      etaPlus: fc.double({ min: 1, max: 2, noNaN: true }),
      minStepSize: fc.constantFrom(1e-6, 1e-3),
      maxStepSize: fc.constantFrom(0.5, 50),
    }),
    make: (h) => f.rprop(h),
    reference: (t, g, h) => ref.rpropReference(t, g, h),
  }),
  c({
    name: 'signSgd and signum',
    steps: { min: 2, max: 8 },
    hyper: fc.record({ alpha: rate, beta: fc.oneof(fc.constant(0), beta) }),
    make: (h) => (h.beta === 0 ? f.signSgd({ learningRate: h.alpha }) : f.signum({ learningRate: h.alpha, beta: h.beta })),
    // sign(m) is discontinuous at 0: draws whose m comes within 1e-3 of 0 are skipped
    reference: (t, g, h) => {
      const r = ref.signumReference(t, g, h.alpha, h.beta)
      return r.minMargin < 1e-3 ? undefined : r.theta
    },
  }),
  c({
    name: 'optimisticGradientDescent',
    hyper: fc.record({ alpha: rate, a: weight, b: weight }),
    make: (h) => f.optimisticGradientDescent({ learningRate: h.alpha, alpha: h.a, beta: h.b }),
    reference: (t, g, h) => ref.optimisticGradientDescentReference(t, g, h.alpha, h.a, h.b),
  }),
  c({
    name: 'optimisticAdam',
    // β₂ ≤ 0.999: the Optax convention computes 1 − β₂ᵗ in float32 (docs/conventions.md), whose
    // relative error ulp(1)/(1 − β₂) exceeds float32 tolerance near β₂ = 1 against the float64
    // reference (seen at β₂ = 0.99982 with β₁ = 0)
    hyper: fc.record({ alpha: rate, a: weight, b: weight, b1: beta, b2: fc.double({ min: 0.5, max: 0.999, noNaN: true }), e: eps, nesterov: fc.boolean() }),
    make: (h) => f.optimisticAdam({ learningRate: h.alpha, alpha: h.a, beta: h.b, b1: h.b1, b2: h.b2, eps: h.e, nesterov: h.nesterov }),
    reference: (t, g, h) => ref.optimisticAdamReference(t, g, h.alpha, { alpha: h.a, beta: h.b, b1: h.b1, b2: h.b2, eps: h.e, epsRoot: 0, nesterov: h.nesterov }),
  }),
]

describe.each(backends)('modern optimizers against their float64 references on $name', (backend) => {
  it.each(cases.map((x) => [x.name, x] as const))('%s', (_n, x) =>
    assertLaw(
      fc.tuple(sequenceArb({ minSteps: x.steps?.min ?? 2, maxSteps: x.steps?.max ?? 5, grads: { zeroWeight: 0 } }), x.hyper),
      async ([input, h]: [SequenceInput, unknown]) => {
        const tol = x.tolerance ?? float32Tolerance
        const expected = x.reference(leaves(input.params), input.grads.map(leaves), h)
        fc.pre(expected !== undefined)
        // draws where a float32 rounding of the inputs (±2⁻²³ relative) moves the float64 result
        // beyond the tolerance (a sign decided by rounding) are skipped, as in test/optimizer-table.test.ts
        const nudge = (l: Leaves, d: number): Leaves => l.map((a) => a.map((v) => v * (1 + d * 2 ** -23)))
        for (const d of [1, -1]) {
          for (const [p0, gs] of [[nudge(leaves(input.params), d), input.grads.map(leaves)], [leaves(input.params), input.grads.map((g) => nudge(leaves(g), d))]] as const) {
            const nudged = x.reference(p0, gs, h)
            fc.pre(nudged !== undefined && allClose(nudged, expected!, tol).ok)
          }
        }
        const result = await runTransform(x.make(h), input.params, input.grads, backend)
        return allClose(leaves(result.params[result.params.length - 1]!), expected!, tol)
      },
      8, backend.name,
    ),
  )
})

// ---- the law catalogue over the new entries ------------------------------------------------------

describe('laws of the catalogued modern optimizers, hyperparameters drawn from their codecs', () => {
  it.each([...catalogModern, ...catalogModernSign].map((e) => [e.name, e] as const))('%s', async (_n, entry) => {
    const draws = fc.sample(hyperparametersArb(entry.hyperparameters), { numRuns: 2, seed: propertySeed() })
    for (const hp of draws) {
      const reports = await verifyTransformLaws(() => entry.make(hp), { backends, numRuns: 2, except: { associativity: 'covered by the chain laws of test/laws.test.ts', ...(entry.parityException ? { parity: entry.parityException } : {}) } })
      expect(reports.filter((r) => !r.ok).map((r) => `${r.law} ${r.backend}: ${r.message}`), JSON.stringify(hp)).toEqual([])
    }
  }, 120_000)
})

// ---- the non-finite policy (docs/nonfinite.md) ---------------------------------------------------

describe.each(backends)('a NaN, ±∞ or overflowing gradient is never a finite or silent-0 step, on $name', (backend) => {
  const defaults = (e: (typeof catalogModern)[number]) => Object.fromEntries(Object.entries({ learningRate: 0.1 }).filter(([k]) => k in e.hyperparameters))
  it.each(catalogModern.map((e) => [e.name, e] as const))('%s', async (_n, entry) => {
    const params = new HostTensor([2], [0.5, -1])
    const grads = (v: number) => [[1, -2], [v, 1], [0.5, 1], [1, 1]].map((g) => new HostTensor([2], g))
    for (const v of [NaN, Infinity, -Infinity]) {
      const run = await runTransform(entry.make(defaults(entry)), params, grads(v), backend)
      expect(Number.isFinite((run.updates[1] as HostTensor).data[0]), `${v}: update ${(run.updates[1] as HostTensor).data[0]}`).toBe(false)
      for (const p of run.params.slice(1)) expect(Number.isFinite((p as HostTensor).data[0])).toBe(false)
    }
    // 1e30: its square overflows float32; the coordinate must not freeze at an exact 0 step
    const run = await runTransform(entry.make(defaults(entry)), params, grads(1e30), backend)
    run.updates.slice(1).forEach((u, k) => expect((u as HostTensor).data[0] === 0, `step ${k + 1}`).toBe(false))
  })
})

// ---- validation ----------------------------------------------------------------------------------

describe('options are validated, naming the field and the range', () => {
  const rejected: readonly (readonly [string, () => unknown, string, string])[] = [
    ['adabelief b1 = 1', () => f.adabelief({ learningRate: 0.1, b1: 1 }), 'b1', 'a number in [0, 1)'],
    ['adabelief eps < 0', () => f.adabelief({ learningRate: 0.1, eps: -1 }), 'eps', 'a finite number ≥ 0'],
    ['yogi learningRate < 0', () => f.yogi({ learningRate: -1 }), 'learningRate', 'a finite number ≥ 0 or a schedule (step) => number'],
    ['yogi epsRoot (not an option of the alias)', () => f.yogi({ learningRate: 0.1, epsRoot: 0 } as never), 'epsRoot', 'no such option'],
    ['scaleByYogi initialAccumulatorValue < 0', () => f.scaleByYogi({ initialAccumulatorValue: -1 }), 'initialAccumulatorValue', 'a finite number ≥ 0'],
    ['adan b3 = 1.5', () => f.adan({ learningRate: 0.1, b3: 1.5 }), 'b3', 'a number in [0, 1)'],
    ['adamaxw weightDecay NaN', () => f.adamaxw({ learningRate: 0.1, weightDecay: NaN }), 'weightDecay', 'a finite number ≥ 0 or a schedule'],
    ['nadamw misspelt option', () => f.nadamw({ learningRate: 0.1, weight_decay: 0.1 } as never), 'weight_decay', 'no such option'],
    ['novograd weightDecay schedule', () => f.novograd({ learningRate: 0.1, weightDecay: (() => 0.1) as never }), 'weightDecay', 'a finite number ≥ 0'],
    ['rprop etaMinus = 1', () => f.rprop({ learningRate: 0.1, etaMinus: 1 }), 'etaMinus', 'a number in (0, 1)'],
    ['rprop etaPlus < 1', () => f.rprop({ learningRate: 0.1, etaPlus: 0.9 }), 'etaPlus', 'a finite number ≥ 1'],
    ['rprop maxStepSize < minStepSize', () => f.rprop({ learningRate: 0.1, minStepSize: 1, maxStepSize: 0.5 }), 'maxStepSize', 'minStepSize'],
    ['rprop learningRate schedule', () => f.rprop({ learningRate: (() => 0.1) as never }), 'learningRate', 'a finite number ≥ 0'],
    ['signum beta = 1', () => f.signum({ learningRate: 0.1, beta: 1 }), 'beta', 'a number in [0, 1)'],
    ['signSgd options not an object', () => f.signSgd(5 as never), 'options', 'a plain options object'],
    ['optimisticGradientDescent beta < 0', () => f.optimisticGradientDescent({ learningRate: 0.1, beta: -0.5 }), 'beta', 'a finite number ≥ 0'],
    ['optimisticAdam nesterov not a boolean', () => f.optimisticAdam({ learningRate: 0.1, nesterov: 1 as never }), 'nesterov', 'boolean'],
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

  it('novograd with weight decay needs the params', () => {
    const opt = f.novograd({ learningRate: 0.1, weightDecay: 0.1 })
    const p = { w: fromArray([1, 2]) }
    const s = opt.init(p)
    expect(() => opt.update({ w: fromArray([1, 1]) }, s)).toThrow(f.MissingParamsError)
    dispose([p, s])
  })

  it('a state with a missing or mistyped field is refused before any work', () => {
    const p = { w: fromArray([1, 2]) }
    const g = { w: fromArray([1, 1]) }
    const og = f.scaleByOptimisticGradient()
    const nv = f.scaleByNovograd()
    expect(() => og.update(g, { ...og.init(p), isInitialStep: 1 as never })).toThrow(f.StructureError)
    expect(() => nv.update(g, { ...nv.init(p), nu: { w: fromArray([0, 0]) } })).toThrow(f.StructureError)
    expect(() => f.scaleByRprop({ learningRate: 0.1 }).update(g, { stepSizes: p } as never)).toThrow(f.StructureError)
    dispose([p, g])
  })
})

// ---- state round trip through the codecs ---------------------------------------------------------

describe('saveState / loadState round trip: a resumed run continues exactly', () => {
  const makers: [string, () => Optimizer][] = [
    ['adabelief', () => f.adabelief({ learningRate: 0.01 })],
    ['yogi', () => f.yogi({ learningRate: 0.01 })],
    ['adan', () => f.adan({ learningRate: 0.01, weightDecay: 0.01 })],
    ['adamaxw', () => f.adamaxw({ learningRate: 0.01 })],
    ['nadamw', () => f.nadamw({ learningRate: 0.01 })],
    ['novograd', () => f.novograd({ learningRate: 0.01, weightDecay: 0.01 })],
    ['rprop', () => f.rprop({ learningRate: 0.01 })],
    ['signSgd', () => f.signSgd({ learningRate: 0.01 })],
    ['signum', () => f.signum({ learningRate: 0.01 })],
    ['optimisticGradientDescent', () => f.optimisticGradientDescent({ learningRate: 0.01 })],
    ['optimisticAdam', () => f.optimisticAdam({ learningRate: 0.01 })],
  ]
  it.each(makers)('%s', async (_n, make) => {
    const opt = make()
    const gs = [[1, -2, 0.5, 0, 3, 1], [0.5, 1, -1, 2, -3, 1], [-1, 2, 0.5, 1, 1, -2]].map((g) => ({ w: fromArray(g.slice(0, 4), [2, 2]), b: fromArray(g.slice(4)) }))
    const step = (p: Params, s: unknown, g: Params) => scope(() => {
      const [u, s2] = opt.update(g, s as never, p)
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

// Optax 0.2.8's own trajectories (test/fixtures/goldens/optax-modern.json) are checked by
// test/goldens.test.ts with the other fixtures, through update and compileStep.
