/**
 * The learning-rate-free optimizers (src/optimizers/parameter-free.ts, `mechanize`) and their
 * primitives: each against its float64 reference (laws/reference/parameter-free.ts) on every
 * backend; the law catalogue over laws/catalog-parameter-free.ts; the non-finite policy; option
 * validation and the loss value MoMo needs; state round trips through the codecs; and Optax 0.2.8's
 * own trajectories of the cases test/goldens.test.ts cannot build from a name and a learning rate
 * (test/fixtures/goldens/objective-parameter-free.json: MoMo and MoMo-Adam with the loss through the
 * extras, mechanize, the layer-wise scale_by_distance_over_gradients), through `update` and
 * `compileStep` on the cpu backend at the tolerance test/goldens.test.ts uses. The other
 * optimizers' Optax goldens (optax-parameter-free.json) are checked by test/goldens.test.ts.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import { type AnyTransformation, type Optimizer, type Params, type Schedule, type Tensor, applyUpdates, compileStep, cpu, dispose, fromArray, scope, tree } from '../src/index.js'
import { catalogParameterFree, catalogParameterFreeBetting } from '../laws/catalog-parameter-free.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
import { type SequenceInput, hyperparametersArb, sequenceArb } from '../laws/arbitraries.js'
import { HostTensor, type HostTree } from '../laws/host.js'
import * as ref from '../laws/reference/parameter-free.js'
import { runTransform } from '../laws/run.js'
import { assertLaw, propertySeed, verifyTransformLaws } from '../laws/runners.js'
import { backends } from './backends.js'

type Leaves = Float64Array[]
const leaves = (t: HostTree): Leaves => tree.leaves(t).map((x) => Float64Array.from(x.data))

/** `t` fed the loss `values[k]` at its k-th update (MoMo needs it through the extras). */
const withValues = (t: AnyTransformation, values: readonly number[]): AnyTransformation => {
  let k = 0
  return { init: (p) => ((k = 0), t.init(p)), update: (u, s, p) => t.update(u, s, p, { value: values[k++]! }) }
}

// ---- against the float64 references, on every backend -------------------------------------------

const gammaArb = fc.oneof(
  fc.double({ min: 0.2, max: 1, noNaN: true }).map((a): Schedule => () => a),
  fc.tuple(fc.double({ min: 0.2, max: 1, noNaN: true }), fc.integer({ min: 1, max: 4 })).map(([a, tau]): Schedule => (k) => (k <= tau ? a * (1 - k / (2 * tau)) : a / 2)),
)
const beta = fc.double({ min: 0.1, max: 0.95, noNaN: true })
const b2 = fc.double({ min: 0.5, max: 0.999, noNaN: true })
const eps = fc.double({ min: 1e-8, max: 1e-3, noNaN: true })
const wd = fc.oneof(fc.constant(0), fc.double({ min: 1e-4, max: 0.1, noNaN: true }))
const valuesArb = fc.array(fc.double({ min: 0.5, max: 5, noNaN: true }).map(Math.fround), { minLength: 8, maxLength: 8 })

interface Case<H> {
  readonly name: string
  readonly hyper: fc.Arbitrary<H>
  readonly make: (h: H) => AnyTransformation
  readonly reference: (theta0: Leaves, grads: Leaves[], h: H) => Leaves
  readonly tolerance?: { rtol: number; atol: number }
}
const c = <H,>(x: Case<H>): Case<unknown> => x as Case<unknown>

const cases: Case<unknown>[] = [
  c({
    name: 'prodigy',
    hyper: fc.record({ g: gammaArb, b1: beta, b2, b3: fc.oneof(fc.constant(undefined), beta), e: eps, d0: fc.double({ min: 1e-4, max: 0.1, noNaN: true }), coef: fc.double({ min: 0.5, max: 2, noNaN: true }), wd, sg: fc.boolean() }),
    make: (h) => f.prodigy({ learningRate: h.g, b1: h.b1, b2: h.b2, ...(h.b3 === undefined ? {} : { b3: h.b3 }), eps: h.e, estimLr0: h.d0, estimLrCoef: h.coef, weightDecay: h.wd, safeguardWarmup: h.sg }),
    reference: (t, g, h) => ref.prodigyReference(t, g, h.g, { b1: h.b1, b2: h.b2, b3: h.b3 ?? Math.sqrt(h.b2), eps: h.e, estimLr0: h.d0, estimLrCoef: h.coef, weightDecay: h.wd, safeguardWarmup: h.sg }),
  }),
  c({
    name: 'dadaptAdamw',
    hyper: fc.record({ g: gammaArb, b1: beta, b2, e: eps, d0: fc.double({ min: 1e-4, max: 0.1, noNaN: true }), wd }),
    make: (h) => f.dadaptAdamw({ learningRate: h.g, b1: h.b1, b2: h.b2, eps: h.e, estimLr0: h.d0, weightDecay: h.wd }),
    reference: (t, g, h) => ref.dadaptAdamwReference(t, g, h.g, { b1: h.b1, b2: h.b2, eps: h.e, estimLr0: h.d0, weightDecay: h.wd }),
  }),
  c({
    name: 'dog',
    hyper: fc.record({ g: gammaArb, type: fc.constantFrom('heuristic' as const, 'distance' as const, 'learningRate' as const), value: fc.double({ min: 1e-3, max: 0.2, noNaN: true }), e: eps }),
    make: (h) => f.dog({ learningRate: h.g, initStep: { type: h.type, value: h.value }, eps: h.e }),
    reference: (t, g, h) => ref.dogReference(t, g, h.g, { type: h.type, value: h.value, eps: h.e }),
  }),
  c({
    name: 'dowg',
    hyper: fc.record({ g: gammaArb, r0: fc.double({ min: 1e-4, max: 0.1, noNaN: true }), e: eps }),
    make: (h) => f.dowg({ learningRate: h.g, initEstimSqDist: h.r0, eps: h.e }),
    reference: (t, g, h) => ref.dowgReference(t, g, h.g, { initEstimSqDist: h.r0, eps: h.e }),
  }),
  c({
    name: 'scaleByDistanceOverGradients (layer-wise DoG)',
    hyper: fc.record({ g: gammaArb, repsRel: fc.double({ min: 1e-3, max: 0.1, noNaN: true }), e: eps, s: fc.double({ min: 0.5, max: 2, noNaN: true }) }),
    make: (h) => f.chain(f.scaleByDistanceOverGradients({ repsRel: h.repsRel, eps: h.e, globalScale: h.s }), f.scaleByLearningRate(h.g)),
    reference: (t, g, h) => ref.ldogReference(t, g, h.g, { repsRel: h.repsRel, eps: h.e, globalScale: h.s }),
  }),
  c({
    name: 'cocob',
    hyper: fc.record({ g: gammaArb, alpha: fc.double({ min: 1, max: 100, noNaN: true }), e: eps, wd }),
    make: (h) => f.cocob({ learningRate: h.g, alpha: h.alpha, eps: h.e, weightDecay: h.wd }),
    reference: (t, g, h) => ref.cocobReference(t, g, h.g, { alpha: h.alpha, eps: h.e, weightDecay: h.wd }),
  }),
  c({
    name: 'momo',
    hyper: fc.record({ a: gammaArb, beta, lb: fc.constantFrom(0, -1), wd, adapt: fc.boolean(), values: valuesArb }),
    make: (h) => withValues(f.momo({ learningRate: h.a, beta: h.beta, lowerBound: h.lb, weightDecay: h.wd, adaptLowerBound: h.adapt }), h.values),
    reference: (t, g, h) => ref.momoReference(t, g, h.values, h.a, { beta: h.beta, lowerBound: h.lb, weightDecay: h.wd, adaptLowerBound: h.adapt }),
  }),
  c({
    name: 'momoAdam',
    hyper: fc.record({ a: gammaArb, b1: beta, b2, e: eps, lb: fc.constantFrom(0, -1), wd, adapt: fc.boolean(), values: valuesArb }),
    make: (h) => withValues(f.momoAdam({ learningRate: h.a, b1: h.b1, b2: h.b2, eps: h.e, lowerBound: h.lb, weightDecay: h.wd, adaptLowerBound: h.adapt }), h.values),
    reference: (t, g, h) => ref.momoAdamReference(t, g, h.values, h.a, { b1: h.b1, b2: h.b2, eps: h.e, lowerBound: h.lb, weightDecay: h.wd, adaptLowerBound: h.adapt }),
  }),
  c({
    name: 'mechanize(sgd)',
    hyper: fc.record({ eta: fc.double({ min: 0.01, max: 0.5, noNaN: true }), wd: fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 0.1, noNaN: true })), e: eps, s0: fc.double({ min: 1e-6, max: 1e-2, noNaN: true }), n: fc.integer({ min: 1, max: 6 }) }),
    make: (h) => f.mechanize(f.sgd({ learningRate: h.eta }), { weightDecay: h.wd, eps: h.e, sInit: h.s0, numBetas: h.n }),
    reference: (t, g, h) => ref.mechanizeSgdReference(t, g, h.eta, { weightDecay: h.wd, eps: h.e, sInit: h.s0, numBetas: h.n }),
  }),
]

describe.each(backends)('learning-rate-free optimizers against their float64 references on $name', (backend) => {
  it.each(cases.map((x) => [x.name, x] as const))('%s', (_n, x) =>
    assertLaw(
      fc.tuple(sequenceArb({ minSteps: 2, maxSteps: 6, grads: { zeroWeight: 0 } }), x.hyper),
      async ([input, h]: [SequenceInput, unknown]) => {
        const tol = x.tolerance ?? float32Tolerance
        const expected = x.reference(leaves(input.params), input.grads.map(leaves), h)
        // draws where a float32 rounding of the inputs (±2⁻²³ relative) moves the float64 result
        // beyond the tolerance (a max or a clip decided by rounding, a cancelling sum) are skipped
        const nudge = (l: Leaves, d: number): Leaves => l.map((a) => a.map((v) => v * (1 + d * 2 ** -23)))
        for (const d of [1, -1]) {
          for (const [p0, gs] of [[nudge(leaves(input.params), d), input.grads.map(leaves)], [leaves(input.params), input.grads.map((g) => nudge(leaves(g), d))]] as const) {
            fc.pre(allClose(x.reference(p0, gs, h), expected, tol).ok)
          }
        }
        const result = await runTransform(x.make(h), input.params, input.grads, backend)
        return allClose(leaves(result.params[result.params.length - 1]!), expected, tol)
      },
      6, backend.name,
    ),
  )
})

// ---- the law catalogue over the new entries ------------------------------------------------------

// the entries of catalogParameterFree are in laws/catalog.ts, whose every entry test/laws.test.ts
// and test/nonfinite.test.ts run; COCOB's are outside it (see catalogParameterFreeBetting), so here
describe('laws of COCOB, hyperparameters drawn from their codecs', () => {
  it.each(catalogParameterFreeBetting.map((e) => [e.name, e] as const))('%s', async (_n, entry) => {
    const draws = fc.sample(hyperparametersArb(entry.hyperparameters), { numRuns: 2, seed: propertySeed() })
    for (const hp of draws) {
      const reports = await verifyTransformLaws(() => entry.make(hp), { backends, numRuns: 2, except: { associativity: 'covered by the chain laws of test/laws.test.ts', ...(entry.parityException ? { parity: entry.parityException } : {}) } })
      expect(reports.filter((r) => !r.ok).map((r) => `${r.law} ${r.backend}: ${r.message}`), JSON.stringify(hp)).toEqual([])
    }
  }, 120_000)
})

// ---- the non-finite policy (docs/nonfinite.md) ---------------------------------------------------

describe.each(backends)('a NaN or ±∞ gradient is never a finite or silent-0 step, on $name', (backend) => {
  const defaults = (e: (typeof catalogParameterFree)[number]) => Object.fromEntries(Object.entries({ learningRate: 0.5 }).filter(([k]) => k in e.hyperparameters))
  it.each([...catalogParameterFree, ...catalogParameterFreeBetting].map((e) => [e.name, e] as const))('%s', async (_n, entry) => {
    const params = new HostTensor([2], [0.5, -1])
    const grads = (v: number) => [[1, -2], [v, 1], [0.5, 1], [1, 1]].map((g) => new HostTensor([2], g))
    for (const v of [NaN, Infinity, -Infinity]) {
      const run = await runTransform(entry.make(defaults(entry)), params, grads(v), backend)
      expect(Number.isFinite((run.updates[1] as HostTensor).data[0]), `${v}: update ${(run.updates[1] as HostTensor).data[0]}`).toBe(false)
      for (const p of run.params.slice(1)) expect(Number.isFinite((p as HostTensor).data[0])).toBe(false)
    }
    // 1e30: its square overflows float32; outside COCOB (see catalogParameterFreeBetting) the
    // coordinate must not freeze at an exact 0 step
    if (!catalogParameterFreeBetting.includes(entry)) {
      const run = await runTransform(entry.make(defaults(entry)), params, grads(1e30), backend)
      run.updates.slice(1).forEach((u, k) => expect((u as HostTensor).data[0] === 0, `step ${k + 1}`).toBe(false))
    }
  })

  it('a coordinate that never saw a gradient moves by an exact 0 where ε = 0 (no 0/0)', async () => {
    const params = new HostTensor([2], [1, 2])
    const grads = Array.from({ length: 4 }, () => new HostTensor([2], [0, 0.5]))
    for (const make of [() => f.prodigy({ eps: 0 }), () => f.dadaptAdamw({ eps: 0 }), () => f.scaleByMomoAdam({ eps: 0 })]) {
      const run = await runTransform(withValues(make(), [1, 1, 1, 1]), params, grads, backend)
      for (const u of run.updates) expect((u as HostTensor).data[0] === 0 && Number.isFinite((u as HostTensor).data[1])).toBe(true)
    }
    // all-zero gradients: the d estimates stay (Optax's max(d, 0/0) is NaN), DoG with ε = 0 makes no step
    const zeros = Array.from({ length: 3 }, () => new HostTensor([2], [0, 0]))
    for (const make of [() => f.prodigy(), () => f.dadaptAdamw(), () => f.dog({ eps: 0 }), () => f.dowg({ eps: 0 })]) {
      const run = await runTransform(make(), params, zeros, backend)
      for (const u of run.updates) expect(Array.from((u as HostTensor).data).every((v) => v === 0)).toBe(true)
    }
  })
})

// ---- validation ----------------------------------------------------------------------------------

describe('options are validated, naming the field and the range', () => {
  const rejected: readonly (readonly [string, () => unknown, string, string])[] = [
    ['prodigy b1 = 1', () => f.prodigy({ b1: 1 }), 'b1', 'a number in [0, 1)'],
    ['prodigy estimLr0 = 0', () => f.prodigy({ estimLr0: 0 }), 'estimLr0', 'a finite number > 0'],
    ['prodigy b3 = 2', () => f.prodigy({ b3: 2 }), 'b3', 'a number in [0, 1)'],
    ['scaleByProdigy safeguardWarmup not a boolean', () => f.scaleByProdigy({ safeguardWarmup: 1 as never }), 'safeguardWarmup', 'boolean'],
    ['dadaptAdamw learningRate < 0', () => f.dadaptAdamw({ learningRate: -1 }), 'learningRate', 'a finite number ≥ 0 or a schedule'],
    ['dadaptAdamw misspelt option', () => f.dadaptAdamw({ weight_decay: 0.1 } as never), 'weight_decay', 'no such option'],
    ['dog initStep type', () => f.dog({ initStep: { type: 'lr' as never, value: 1e-6 } }), 'initStep', "'heuristic' | 'distance' | 'learningRate'"],
    ['scaleByDog initStep value 0', () => f.scaleByDog({ initStep: { type: 'distance', value: 0 } }), 'initStep', 'a finite number > 0'],
    ['dowg initEstimSqDist = 0', () => f.dowg({ initEstimSqDist: 0 }), 'initEstimSqDist', 'a finite number > 0'],
    ['scaleByDistanceOverGradients globalScale NaN', () => f.scaleByDistanceOverGradients({ globalScale: NaN }), 'globalScale', 'a finite number'],
    ['cocob alpha < 0', () => f.cocob({ alpha: -1 }), 'alpha', 'a finite number ≥ 0'],
    ['momo lowerBound ∞', () => f.momo({ lowerBound: -Infinity }), 'lowerBound', 'a finite number'],
    ['momo beta = 1', () => f.momo({ beta: 1 }), 'beta', 'a number in [0, 1)'],
    ['momoAdam adaptLowerBound not a boolean', () => f.momoAdam({ adaptLowerBound: 'yes' as never }), 'adaptLowerBound', 'boolean'],
    ['mechanize eps = 0', () => f.mechanize(f.sgd({ learningRate: 0.1 }), { eps: 0 }), 'eps', 'a finite number > 0'],
    ['mechanize numBetas = 1.5', () => f.mechanize(f.sgd({ learningRate: 0.1 }), { numBetas: 1.5 }), 'numBetas', 'an integer ≥ 1'],
    ['mechanize without a base optimizer', () => f.mechanize({} as never), 'baseOptimizer', 'a gradient transformation'],
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

  it('momo and momoAdam need the loss value in the extras, and every optimizer here the params', () => {
    const p = { w: fromArray([1, 2]) }
    const g = { w: fromArray([1, 1]) }
    for (const opt of [f.momo(), f.momoAdam()]) {
      const s = opt.init(p)
      let error: unknown
      try {
        opt.update(g, s, p)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(f.HyperparameterError)
      expect((error as f.HyperparameterError).field).toBe('value')
      expect((error as f.HyperparameterError).expected).toContain('{ value }')
      expect(() => opt.update(g, s, p, { value: '1' as never })).toThrow(f.HyperparameterError)
      dispose(s)
    }
    for (const opt of [f.prodigy(), f.dadaptAdamw(), f.dog(), f.dowg(), f.cocob(), f.mechanize(f.adam({ learningRate: 1 }))]) {
      const s = opt.init(p)
      expect(() => (opt as AnyTransformation).update(g, s)).toThrow(f.MissingParamsError)
      dispose(s)
    }
    dispose([p, g])
  })

  it('a state with a missing or mistyped field is refused before any work', () => {
    const p = { w: fromArray([1, 2]) }
    const g = { w: fromArray([1, 1]) }
    const pr = f.scaleByProdigy()
    const dg = f.scaleByDog()
    const mo = f.scaleByMomo()
    const live = cpu.liveCount()
    expect(() => pr.update(g, { ...pr.init(p), estimLr: fromArray([1, 1]) }, p)).toThrow(f.StructureError)
    expect(() => dg.update(g, { ...dg.init(p), isInitStep: 1 as never }, p)).toThrow(f.StructureError)
    expect(() => mo.update(g, { ...mo.init(p), barf: 'x' as never }, p, { value: 1 })).toThrow(f.StructureError)
    expect(() => f.scaleByDistanceOverGradients().update(g, { maxDist: p, gradSumOfSquares: p, initParams: p }, p)).toThrow(f.StructureError)
    expect(cpu.liveCount()).toBeGreaterThanOrEqual(live)
    dispose([p, g])
  })
})

// ---- state round trip through the codecs ---------------------------------------------------------

describe('saveState / loadState round trip: a resumed run continues exactly', () => {
  const makers: [string, () => AnyTransformation][] = [
    ['prodigy', () => f.prodigy({ weightDecay: 0.01 })],
    ['dadaptAdamw', () => f.dadaptAdamw({ weightDecay: 0.01 })],
    ['dog', () => f.dog({ weightDecay: 0.01 })],
    ['dowg', () => f.dowg()],
    ['scaleByDistanceOverGradients', () => f.scaleByDistanceOverGradients()],
    ['cocob', () => f.cocob()],
    ['momo', () => f.momo({ adaptLowerBound: true })],
    ['momoAdam', () => f.momoAdam({ adaptLowerBound: true })],
    ['mechanize(adam)', () => f.mechanize(f.adam({ learningRate: 0.1 }))],
  ]
  it.each(makers)('%s', async (_n, make) => {
    const opt = make()
    const gs = [[1, -2, 0.5, 0, 3, 1], [0.5, 1, -1, 2, -3, 1], [-1, 2, 0.5, 1, 1, -2]].map((g) => ({ w: fromArray(g.slice(0, 4), [2, 2]), b: fromArray(g.slice(4)) }))
    const step = (p: Params, s: unknown, g: Params) => scope(() => {
      const [u, s2] = opt.update(g, s as never, p, { value: 2 })
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
    expect(() => f.loadState(f.adam({ learningRate: 0.01 }), saved, cpu)).toThrow()
    dispose([gs, p0, p1, s1, loaded, pa, sa, pb, sb, pa2, pb2])
  })
})

// ---- Optax's trajectories of the cases that need an objective or a base optimizer ----------------

interface LeafSpec { readonly name: string; readonly shape: readonly number[]; readonly init: string }
interface ProblemJson { readonly leaves: readonly LeafSpec[]; readonly grads?: readonly (readonly string[])[]; readonly quadratic?: { readonly h: string; readonly c: string }; readonly lrMultipliers?: string }
interface TrajectoryJson { readonly id: string; readonly optimizer: string; readonly problem: string; readonly learningRate: number; readonly options: Readonly<Record<string, unknown>>; readonly call: string; readonly params: readonly (readonly string[])[] }

const dir = new URL('./fixtures/goldens/', import.meta.url)
const read = <T,>(name: string): T => JSON.parse(readFileSync(new URL(name, dir), 'utf8')) as T
const unhex = (text: string): Float32Array => {
  const words = text === '' ? [] : text.split(' ')
  const view = new DataView(new ArrayBuffer(4 * words.length))
  words.forEach((w, i) => view.setUint32(4 * i, parseInt(w, 16)))
  return Float32Array.from({ length: words.length }, (_, i) => view.getFloat32(4 * i))
}

describe('Optax 0.2.8 trajectories (objective-parameter-free.json) through update and compileStep, on cpu', () => {
  const { problems } = read<{ problems: Readonly<Record<string, ProblemJson>> }>('problems.json')
  const fixture = read<{ trajectories: readonly TrajectoryJson[] }>('objective-parameter-free.json')
  const tol = { rtol: 1e-6, atol: 1e-7 }
  // trajectories that float32 keeps within the bound only for their first `steps` steps, each with its measured reason
  const exceptions = read<Readonly<Record<string, { readonly steps: number; readonly why: string }>>>('objective-parameter-free.exceptions.json')

  it('lists exceptions only for trajectories that exist, each with a reason', () => {
    const ids = new Set(fixture.trajectories.map((t) => t.id))
    for (const [id, e] of Object.entries(exceptions)) {
      expect(ids.has(id), id).toBe(true)
      expect(e.why.length).toBeGreaterThan(40)
    }
  })

  const build = (t: TrajectoryJson, problem: ProblemJson): Optimizer | AnyTransformation => {
    const m = problem.lrMultipliers === undefined ? undefined : unhex(problem.lrMultipliers)
    const learningRate = m === undefined ? t.learningRate : (k: number) => Math.fround(t.learningRate * m[k]!)
    const { base, baseOptions, ...rest } = t.options as { base?: 'sgd' | 'adam'; baseOptions?: { learningRate: number } } & Record<string, unknown>
    switch (t.optimizer) {
      case 'momo': return f.momo({ ...rest, learningRate })
      case 'momoAdam': return f.momoAdam({ ...rest, learningRate })
      case 'mechanize': return f.mechanize(f[base!](baseOptions!), rest)
      case 'scaleByDistanceOverGradients': return f.chain(f.scaleByDistanceOverGradients(rest), f.scaleByLearningRate(learningRate))
      default: throw new Error(`${t.id}: no case for ${t.optimizer}`)
    }
  }

  const run = (t: TrajectoryJson, problem: ProblemJson, compiled: boolean): Float32Array[][] => {
    const opt = build(t, problem)
    const q = problem.quadratic && { h: unhex(problem.quadratic.h), c: unhex(problem.quadratic.c) }
    const stored = problem.grads?.map((s) => s.map(unhex))
    const toTree = (vs: readonly Float32Array[]): Params => Object.fromEntries(problem.leaves.map((l, i) => [l.name, fromArray(vs[i]!, l.shape, cpu)]))
    const valuesOf = (p: Params) => problem.leaves.map((l) => Float32Array.from(cpu.readSync!((p as Record<string, Tensor>)[l.name]!)!))
    const step = compiled ? compileStep(opt) : undefined
    let params = toTree(problem.leaves.map((l) => unhex(l.init)))
    let state: unknown = opt.init(params)
    const out: Float32Array[][] = []
    try {
      for (let k = 0; k < t.params.length; k++) {
        const x = valuesOf(params)
        const g = stored ? stored[k]! : [x[0]!.map((v, i) => Math.fround(q!.h[i]! * Math.fround(v - q!.c[i]!)))]
        // the quadratic's loss Σ ½h(x − c)², in float64 from the float32 params, rounded once (as the generator)
        const value = q ? Math.fround(x[0]!.reduce((s, v, i) => s + 0.5 * q.h[i]! * (v - q.c[i]!) ** 2, 0)) : 0
        const grads = toTree(g)
        const [p2, s2] = step
          ? step(params, grads, state as never, { value })
          : scope(() => {
              const [u, s] = opt.update(grads, state as never, params, { value })
              return [applyUpdates(params, u), s] as const
            })
        dispose([grads, params, state], [p2, s2])
        params = p2
        state = s2
        out.push(valuesOf(params))
      }
    } finally {
      dispose([params, state])
    }
    return out
  }

  it('cover MoMo, MoMo-Adam, mechanize and the layer-wise DoG', () => {
    expect(new Set(fixture.trajectories.map((t) => t.optimizer))).toEqual(new Set(['momo', 'momoAdam', 'mechanize', 'scaleByDistanceOverGradients']))
  })

  it.each(fixture.trajectories.map((t) => [t.id, t] as const))('%s', (_id, t) => {
    const problem = problems[t.problem]!
    for (const compiled of [false, true]) {
      const actual = run(t, problem, compiled)
      let worst = 0
      t.params.slice(0, exceptions[t.id]?.steps ?? t.params.length).forEach((stepLeaves, k) =>
        stepLeaves.forEach((hex, j) => {
          const e = unhex(hex)
          e.forEach((v, i) => {
            const a = actual[k]![j]![i]!
            const ok = Object.is(a, v) || Math.abs(a - v) <= tol.atol + tol.rtol * Math.abs(v)
            if (!ok) worst = Math.max(worst, Math.abs(a - v) / Math.abs(v))
            expect(ok, `${t.id}${compiled ? ' (compileStep)' : ''}: step ${k + 1}, leaf ${problem.leaves[j]!.name}[${i}]: fluxion ${a}, ${t.call} ${v} (relative ${(Math.abs(a - v) / Math.abs(v)).toExponential(2)})`).toBe(true)
          })
        }),
      )
      expect(worst).toBe(0)
    }
  })
})
