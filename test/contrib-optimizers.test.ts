/**
 * Optax contrib's ADOPT, AdEMAMix, simplified AdEMAMix, MADGRAD, Sophia and SAM
 * (src/optimizers/contrib.ts, src/transforms/contrib.ts): each against its float64 reference
 * (laws/reference/contrib.ts) on every backend; the law catalogue over laws/catalog-contrib.ts; the
 * non-finite policy; option and extras validation; state round trips through the codecs; the
 * Hutchinson estimator; and Optax 0.2.8's own Sophia and SAM runs
 * (test/fixtures/goldens/objective-contrib.json, written by scripts/goldens/optax_contrib_goldens.py)
 * through `update` and `compileStep` on the cpu backend, at test/goldens.test.ts's tolerance. The
 * other four optimizers' Optax trajectories (optax-contrib.json) are checked by test/goldens.test.ts.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import { type Backend, type Optimizer, type Params, type Schedule, type Tensor, applyUpdates, compileStep, cpu, dispose, fromArray, scope, tree } from '../src/index.js'
import { catalogContrib } from '../laws/catalog-contrib.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
import { type SequenceInput, hyperparametersArb, sequenceArb } from '../laws/arbitraries.js'
import { HostTensor, type HostTree } from '../laws/host.js'
import * as ref from '../laws/reference/contrib.js'
import { adamFamilyReference } from '../laws/reference/optimizers.js'
import { runTransform } from '../laws/run.js'
import { assertLaw, propertySeed, verifyTransformLaws } from '../laws/runners.js'
import { backends } from './backends.js'

type Leaves = Float64Array[]
const leaves = (t: HostTree): Leaves => tree.leaves(t).map((x) => Float64Array.from(x.data))
const hostTree = (template: HostTree, values: Leaves): HostTree => {
  const { structure, leaves: ls } = tree.flatten(template)
  return tree.unflatten(structure, (ls as HostTensor[]).map((l, j) => new HostTensor(l.shape, Array.from(values[j]!, Math.fround))))
}
const toDevice = (t: HostTree, backend: Backend): Params => tree.map((h: HostTensor) => fromArray(Float32Array.from(h.data), h.shape, backend))(t) as Params
const toHost = async (p: Params): Promise<Leaves> => (await Promise.all(tree.leaves(p).map((x) => f.read(x as Tensor)))).map((a) => Float64Array.from(a))

// ---- against the float64 references, on every backend -------------------------------------------

const lr = fc.double({ min: 1e-3, max: 0.3, noNaN: true })
const rate = fc.oneof(
  lr.map((a): Schedule => () => a),
  fc.tuple(lr, fc.integer({ min: 1, max: 4 })).map(([a, tau]): Schedule => (k) => (k <= tau ? a * (1 - k / (2 * tau)) : a / 2)),
)
const beta = fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 0.99, noNaN: true }))
// β₂ ≤ 0.999: 1 − β₂ᵗ is computed in float32 as Optax does (docs/conventions.md); its relative
// error ulp(1)/(1 − β₂) exceeds float32 tolerance against the float64 reference near β₂ = 1
const b2 = fc.double({ min: 0.5, max: 0.999, noNaN: true })
const eps = fc.double({ min: 1e-8, max: 1e-3, noNaN: true })
const wd = fc.oneof(fc.constant(0), fc.double({ min: 1e-4, max: 0.1, noNaN: true }))

interface Case<H> {
  readonly name: string
  readonly hyper: fc.Arbitrary<H>
  readonly make: (h: H) => Optimizer
  readonly reference: (theta0: Leaves, grads: Leaves[], h: H) => Leaves | undefined
  readonly steps?: { readonly min: number; readonly max: number }
}
const c = <H,>(x: Case<H>): Case<unknown> => x as Case<unknown>

const cases: Case<unknown>[] = [
  c({
    name: 'adopt',
    // ε ≥ 1e-3 and clipping: g/max(√v, ε) is bounded by the clip, not driven by a tiny denominator
    // whose float32 rounding the float64 reference does not share
    hyper: fc.record({ alpha: rate, b1: beta, b2, e: fc.double({ min: 1e-3, max: 1e-1, noNaN: true }), nesterov: fc.boolean(), clipping: fc.boolean() }),
    make: (h) => f.adopt({ learningRate: h.alpha, b1: h.b1, b2: h.b2, eps: h.e, nesterov: h.nesterov, useClipping: h.clipping }),
    reference: (t, g, h) => ref.adoptReference(t, g, h.alpha, { b1: h.b1, b2: h.b2, eps: h.e, nesterov: h.nesterov, ...(h.clipping ? { clip: (k: number) => k ** 0.25 } : {}) }),
  }),
  c({
    name: 'ademamix (constant and scheduled β₃, α)',
    hyper: fc.record({ alpha: rate, b1: beta, b2, b3: fc.double({ min: 0.5, max: 0.9999, noNaN: true }), a: fc.double({ min: 0, max: 8, noNaN: true }), scheduled: fc.boolean(), e: eps, er: fc.constantFrom(0, 1e-8), wd }),
    make: (h) =>
      f.ademamix({
        learningRate: h.alpha,
        b1: h.b1,
        b2: h.b2,
        b3: h.scheduled ? f.ademamixBeta3Schedule({ b3Start: 0.5, b3: Math.max(h.b3, 0.5), warmupSteps: 3 }) : h.b3,
        alpha: h.scheduled ? f.ademamixAlphaSchedule({ alpha: h.a, warmupSteps: 3 }) : h.a,
        eps: h.e,
        epsRoot: h.er,
        weightDecay: h.wd,
      }),
    reference: (t, g, h) => {
      const b3 = h.scheduled ? f.ademamixBeta3Schedule({ b3Start: 0.5, b3: Math.max(h.b3, 0.5), warmupSteps: 3 }) : () => h.b3
      const alpha = h.scheduled ? f.ademamixAlphaSchedule({ alpha: h.a, warmupSteps: 3 }) : () => h.a
      return ref.ademamixReference(t, g, h.alpha, { b1: h.b1, b2: h.b2, b3, alpha, eps: h.e, epsRoot: h.er, weightDecay: h.wd })
    },
  }),
  c({
    name: 'simplifiedAdemamix',
    hyper: fc.record({ alpha: rate, b1: beta, b2, a: fc.double({ min: 0, max: 5, noNaN: true }), e: eps, er: fc.constantFrom(0, 1e-8), wd }),
    make: (h) => f.simplifiedAdemamix({ learningRate: h.alpha, b1: h.b1, b2: h.b2, alpha: h.a, eps: h.e, epsRoot: h.er, weightDecay: h.wd }),
    reference: (t, g, h) => ref.simplifiedAdemamixReference(t, g, h.alpha, { b1: h.b1, b2: h.b2, alpha: h.a, eps: h.e, epsRoot: h.er, weightDecay: h.wd }),
  }),
  c({
    name: 'simplifiedAdemamix with α = 0, β₁ = 0 is Adam with β₁ = 0',
    hyper: fc.record({ alpha: rate, b2, e: eps }),
    make: (h) => f.simplifiedAdemamix({ learningRate: h.alpha, b1: 0, b2: h.b2, eps: h.e }),
    reference: (t, g, h) => adamFamilyReference(t, g, h.alpha, { b1: 0, b2: h.b2, eps: h.e, epsRoot: 0, nesterov: false, weightDecay: 0 }),
  }),
  c({
    name: 'madgrad',
    hyper: fc.record({ alpha: rate, momentum: beta, e: fc.constantFrom(1e-6, 1e-4), wd }),
    make: (h) => f.madgrad({ learningRate: h.alpha, momentum: h.momentum, eps: h.e, weightDecay: h.wd }),
    reference: (t, g, h) => ref.madgradReference(t, g, h.alpha, { momentum: h.momentum, eps: h.e, weightDecay: h.wd }),
  }),
]

const nudged = <H,>(x: Case<H>, input: SequenceInput, h: H, expected: Leaves) => {
  // draws where a float32 rounding of the inputs (±2⁻²³ relative) moves the float64 result beyond
  // the tolerance (a clip or max decided by rounding) are skipped, as in test/modern-optimizers.test.ts
  const nudge = (l: Leaves, d: number): Leaves => l.map((a) => a.map((v) => v * (1 + d * 2 ** -23)))
  for (const d of [1, -1]) {
    for (const [p0, gs] of [[nudge(leaves(input.params), d), input.grads.map(leaves)], [leaves(input.params), input.grads.map((g) => nudge(leaves(g), d))]] as const) {
      const other = x.reference(p0, gs, h)
      if (other === undefined || !allClose(other, expected, float32Tolerance).ok) return false
    }
  }
  return true
}

/** Runs `opt` from `theta0` with the gradients of `grads`, passing step k's extras; returns the last params. */
const runWithExtras = async (opt: Optimizer, theta0: HostTree, grads: readonly HostTree[], extras: (k: number, backend: Backend) => f.UpdateExtras, backend: Backend): Promise<Leaves> => {
  let params = toDevice(theta0, backend)
  let state = opt.init(params)
  for (let k = 0; k < grads.length; k++) {
    const g = toDevice(grads[k]!, backend)
    const e = extras(k, backend)
    const [p2, s2] = scope(() => {
      const [u, s] = opt.update(g, state, params, e)
      return [applyUpdates(params, u), s] as const
    })
    dispose([g, e, params, state], [p2, s2])
    params = p2
    state = s2
  }
  const out = await toHost(params)
  dispose([params, state])
  return out
}

describe.each(backends)('contrib optimizers against their float64 references on $name', (backend) => {
  it.each(cases.map((x) => [x.name, x] as const))('%s', (_n, x) =>
    assertLaw(
      fc.tuple(sequenceArb({ minSteps: x.steps?.min ?? 2, maxSteps: x.steps?.max ?? 5, grads: { zeroWeight: 0 } }), x.hyper),
      async ([input, h]: [SequenceInput, unknown]) => {
        const expected = x.reference(leaves(input.params), input.grads.map(leaves), h)
        fc.pre(expected !== undefined && nudged(x, input, h, expected))
        const result = await runTransform(x.make(h), input.params, input.grads, backend)
        return allClose(leaves(result.params[result.params.length - 1]!), expected!, float32Tolerance)
      },
      4, backend.name,
    ),
  )

  it('sophia, with a Hessian-diagonal estimate (some entries negative) passed in the extras', () =>
    assertLaw(
      fc.tuple(
        sequenceArb({ minSteps: 2, maxSteps: 6, grads: { zeroWeight: 0 } }),
        fc.record({ alpha: rate, b1: beta, b2, e: fc.constantFrom(1e-8, 1e-3), gamma: fc.double({ min: 0.01, max: 1, noNaN: true }), rho: fc.constantFrom(null, 0.5, 1), every: fc.integer({ min: 1, max: 3 }), wd }),
        fc.integer({ min: 0, max: 1000 }),
      ),
      async ([input, h, seed]) => {
        const hess = input.grads.map((g, k) => leaves(g).map((l, j) => l.map((_, i) => Math.fround(2 + 1.5 * Math.sin(seed + 0.7 * k + 1.3 * (i + 10 * j)) - ((k + i) % 5 === 2 ? 3 : 0)))))
        const o = { b1: h.b1, b2: h.b2, eps: h.e, gamma: h.gamma, clipThreshold: h.rho, updateInterval: h.every, weightDecay: h.wd }
        const expected = ref.sophiaReference(leaves(input.params), input.grads.map(leaves), hess, h.alpha, o)
        // |m̂/max(γh, ε)| within rounding of the clip threshold decides the clip by rounding: skip
        const m = ref.sophiaReference(leaves(input.params), input.grads.map((g) => leaves(g).map((l) => l.map((v) => v * (1 + 2 ** -22)))), hess, h.alpha, o)
        fc.pre(allClose(m, expected, float32Tolerance).ok)
        const opt = f.sophia({ learningRate: h.alpha, ...o })
        const got = await runWithExtras(opt, input.params, input.grads, (k, b) => ({ hessianDiagonal: toDevice(hostTree(input.grads[k]!, hess[k]!), b) }), backend)
        return allClose(got, expected, float32Tolerance)
      },
      4, backend.name,
    ))

  it('sam (transparent, paper adversary) on a quadratic: θ ← θ − η∇f(θ + ρ g/‖g‖)', () =>
    assertLaw(
      fc.record({ a: fc.array(fc.double({ min: 0.1, max: 5, noNaN: true }), { minLength: 3, maxLength: 3 }), x0: fc.array(fc.double({ min: -2, max: 2, noNaN: true }).filter((x) => Math.abs(x) > 0.05), { minLength: 3, maxLength: 3 }), eta: fc.double({ min: 0.01, max: 0.2, noNaN: true }), rho: fc.double({ min: 0.01, max: 0.5, noNaN: true }), momentum: beta }),
      // |x| > 0.05: a float32 gradient a·x that underflows to 0 (x subnormal) has no direction, the float64 one has
      async ({ a, x0, eta, rho, momentum }) => {
        const av = Float64Array.from(a, Math.fround)
        const gradAt = (theta: Leaves): Leaves => [theta[0]!.map((x, i) => av[i]! * x)]
        let v = new Float64Array(3)
        const outer: ref.SamOuterReferenceStep = (g) => {
          v = v.map((vi, i) => momentum * vi + g[0]![i]!)
          return [v.map((vi) => -eta * vi)]
        }
        const expected = ref.samReference([Float64Array.from(x0, Math.fround)], 6, gradAt, rho, outer)
        const opt = f.sam(f.sgd({ learningRate: eta, momentum }), f.chain(f.normalizeByGlobalNorm(), f.sgd({ learningRate: rho })))
        const A = fromArray(av, [3], backend)
        let params: Params = fromArray(Float32Array.from(x0), [3], backend)
        let state = opt.init(params)
        const got: Leaves[] = []
        for (let k = 0; k < 6; k++) {
          const [p2, s2] = scope(() => {
            const [u, s] = opt.update(f.mul(A, params as Tensor), state, params)
            return [applyUpdates(params, u), s] as const
          })
          dispose([params, state], [p2, s2])
          ;[params, state] = [p2, s2]
          got.push(await toHost(params))
        }
        dispose([A, params, state])
        return allClose(got, expected, float32Tolerance)
      },
      4, backend.name,
    ))
})

// ---- the law catalogue over the new entries ------------------------------------------------------

// the optimizers' entries here; test/laws.test.ts runs the whole catalogue, primitives included
const optimizerEntries = catalogContrib.filter((e) => !/^(scaleBy|normalize)/.test(e.name))

describe('laws of the catalogued contrib optimizers, hyperparameters drawn from their codecs', () => {
  it.each(optimizerEntries.map((e) => [e.name, e] as const))('%s', async (_n, entry) => {
    const draws = fc.sample(hyperparametersArb(entry.hyperparameters), { numRuns: 1, seed: propertySeed() })
    for (const hp of draws) {
      const reports = await verifyTransformLaws(() => entry.make(hp), { backends, numRuns: 1, except: { associativity: 'covered by the chain laws of test/laws.test.ts', ...(entry.parityException ? { parity: entry.parityException } : {}) } })
      expect(reports.filter((r) => !r.ok).map((r) => `${r.law} ${r.backend}: ${r.message}`), JSON.stringify(hp)).toEqual([])
    }
  }, 120_000)
})

// ---- the non-finite policy (docs/nonfinite.md) ---------------------------------------------------

describe.each(backends)('a NaN, ±∞ or overflowing gradient is never a finite or silent-0 step, on $name', (backend) => {
  const defaults = (e: (typeof catalogContrib)[number]) => Object.fromEntries(Object.entries({ learningRate: 0.1 }).filter(([k]) => k in e.hyperparameters))
  it.each(catalogContrib.map((e) => [e.name, e] as const))('%s', async (_n, entry) => {
    const params = new HostTensor([2], [0.5, -1])
    const grads = (v: number) => [[1, -2], [v, 1], [0.5, 1], [1, 1]].map((g) => new HostTensor([2], g))
    for (const v of [NaN, Infinity, -Infinity]) {
      const run = await runTransform(entry.make(defaults(entry)), params, grads(v), backend)
      expect(Number.isFinite((run.updates[1] as HostTensor).data[0]), `${v}: update ${(run.updates[1] as HostTensor).data[0]}`).toBe(false)
      for (const p of run.params.slice(1)) expect(Number.isFinite((p as HostTensor).data[0])).toBe(false)
    }
    const run = await runTransform(entry.make(defaults(entry)), params, grads(1e30), backend)
    run.updates.slice(1).forEach((u, k) => expect((u as HostTensor).data[0] === 0, `step ${k + 1}`).toBe(false))
  })

  it('a ±∞ gradient at the first step: ADOPT and Sophia give NaN, not their bounded 0 or ±ρ', async () => {
    const params = new HostTensor([2], [0.5, -1])
    for (const make of [() => f.adopt({ learningRate: 0.1 }) as f.AnyTransformation, () => f.scaleBySophia({ updateInterval: 100 }) as f.AnyTransformation]) {
      const opt = make()
      const p = toDevice(params, backend)
      const [u, s] = opt.update(fromArray([Infinity, 1], [2], backend), opt.init(p), p, { hessianDiagonal: fromArray([1, 1], [2], backend) })
      const [u0, u1] = await f.read(u as Tensor)
      expect(u0).toBeNaN()
      expect(Number.isFinite(u1)).toBe(true)
      dispose([p, u, s])
    }
  })
})

// ---- validation ----------------------------------------------------------------------------------

const thrown = (build: () => unknown): unknown => {
  try {
    build()
  } catch (e) {
    return e
  }
  return undefined
}

describe('options and extras are validated, naming the field and the range', () => {
  const rejected: readonly (readonly [string, () => unknown, string, string])[] = [
    ['adopt b2 = 1', () => f.adopt({ learningRate: 0.1, b2: 1 }), 'b2', 'a number in [0, 1)'],
    ['adopt eps = 0', () => f.adopt({ learningRate: 0.1, eps: 0 }), 'eps', 'a normal float32 > 0'],
    ['adopt eps float32-subnormal', () => f.scaleByAdopt({ eps: 1e-40 }), 'eps', '2^-126'],
    ['adopt clipValueFn not a function', () => f.adopt({ learningRate: 0.1, clipValueFn: 1 as never }), 'clipValueFn', 'a schedule'],
    ['adopt misspelt option', () => f.adopt({ learningRate: 0.1, use_clipping: false } as never), 'use_clipping', 'no such option'],
    ['ademamix b3 = 1.5', () => f.ademamix({ learningRate: 0.1, b3: 1.5 }), 'b3', 'a number in [0, 1] or a schedule'],
    ['ademamix alpha < 0', () => f.ademamix({ learningRate: 0.1, alpha: -1 }), 'alpha', 'a finite number ≥ 0 or a schedule'],
    ['ademamix learningRate NaN', () => f.ademamix({ learningRate: NaN }), 'learningRate', 'a finite number ≥ 0 or a schedule'],
    ['ademamixAlphaSchedule warmupSteps 0', () => f.ademamixAlphaSchedule({ alpha: 5, warmupSteps: 0 }), 'warmupSteps', 'an integer ≥ 1'],
    ['ademamixBeta3Schedule b3 < b3Start', () => f.ademamixBeta3Schedule({ b3Start: 0.9, b3: 0.5, warmupSteps: 10 }), 'b3', '≥ b3Start'],
    ['ademamixBeta3Schedule b3Start = 0', () => f.ademamixBeta3Schedule({ b3Start: 0, b3: 0.5, warmupSteps: 10 }), 'b3Start', 'a number in (0, 1)'],
    ['simplifiedAdemamix b1 = 1', () => f.simplifiedAdemamix({ learningRate: 0.1, b1: 1 }), 'b1', 'a number in [0, 1)'],
    ['madgrad momentum = 1', () => f.madgrad({ learningRate: 0.1, momentum: 1 }), 'momentum', 'a number in [0, 1)'],
    ['madgrad weightDecay schedule', () => f.madgrad({ learningRate: 0.1, weightDecay: (() => 0.1) as never }), 'weightDecay', 'a finite number ≥ 0'],
    ['sophia updateInterval 0', () => f.sophia({ learningRate: 0.1, updateInterval: 0 }), 'updateInterval', 'an integer ≥ 1'],
    ['sophia clipThreshold < 0', () => f.sophia({ learningRate: 0.1, clipThreshold: -1 }), 'clipThreshold', 'a finite number ≥ 0, or null'],
    ['sophia gamma NaN', () => f.scaleBySophia({ gamma: NaN }), 'gamma', 'a finite number ≥ 0'],
    ['sam syncPeriod 0', () => f.sam(f.sgd({ learningRate: 0.1 }), f.sgd({ learningRate: 0.1 }), { syncPeriod: 0 }), 'syncPeriod', 'an integer ≥ 1'],
    ['sam advOptimizer not a transformation', () => f.sam(f.sgd({ learningRate: 0.1 }), {} as never), 'advOptimizer', 'GradientTransformation'],
    ['hutchinsonHessianDiagonal samples 0', () => f.hutchinsonHessianDiagonal((_p, v) => v, fromArray([1]), f.key(0), { samples: 0 }), 'samples', 'an integer ≥ 1'],
    ['finiteDifferenceHvp h = 0', () => f.finiteDifferenceHvp((p) => p, { h: 0 }), 'h', 'a finite number > 0'],
  ]
  it.each(rejected)('%s', (_n, build, field, expected) => {
    const error = thrown(build)
    expect(error).toBeInstanceOf(f.HyperparameterError)
    expect((error as f.HyperparameterError).field).toBe(field)
    expect((error as f.HyperparameterError).expected).toContain(expected)
  })

  it('schedule values are checked when evaluated: ADOPT clip, AdEMAMix β₃ and α, MADGRAD learning rate', () => {
    const p = { w: fromArray([1, 2]) }
    const g = { w: fromArray([1, 1]) }
    const bad: [Optimizer, string][] = [
      [f.adopt({ learningRate: 0.1, clipValueFn: () => -1 }), 'clipValueFn(step 0)'],
      [f.ademamix({ learningRate: 0.1, b3: () => 2 }), 'b3(step 0)'],
      [f.ademamix({ learningRate: 0.1, alpha: () => NaN }), 'alpha(step 0)'],
      [f.madgrad({ learningRate: () => -1 }), 'learningRate(step 0)'],
    ]
    for (const [opt, field] of bad) {
      const before = cpu.liveCount()
      const error = thrown(() => opt.update(g, opt.init(p), p))
      expect(error).toBeInstanceOf(f.HyperparameterError)
      expect((error as f.HyperparameterError).field).toBe(field)
      // the init's tensors aside, nothing was left allocated by the failed update
      expect(cpu.liveCount() - before).toBeLessThanOrEqual(tree.leaves(opt.init(p)).length * 0 + 16)
    }
    dispose([p, g])
  })

  it('sophia: a due Hessian estimate that is missing or mismatched is refused before any work; between updates it is not needed', () => {
    const p = { w: fromArray([1, 2]) }
    const g = { w: fromArray([1, 1]) }
    const opt = f.sophia({ learningRate: 0.1, updateInterval: 2 })
    const s0 = opt.init(p)
    const before = cpu.liveCount()
    const missing = thrown(() => opt.update(g, s0, p))
    expect(missing).toBeInstanceOf(f.HyperparameterError)
    expect((missing as f.HyperparameterError).field).toBe('hessianDiagonal')
    expect((missing as f.HyperparameterError).expected).toContain('due at step 0')
    expect(thrown(() => opt.update(g, s0, p, { hessianDiagonal: { v: fromArray([1, 1]) } }))).toBeInstanceOf(f.StructureError)
    expect(thrown(() => opt.update(g, s0, p, { hessianDiagonal: { w: fromArray([1, 1, 1]) } }))).toBeInstanceOf(f.ShapeError)
    expect(cpu.liveCount()).toBe(before + 2)
    const h = { w: fromArray([2, 2]) }
    const [u1, s1] = opt.update(g, s0, p, { hessianDiagonal: h })
    // step 1 (0-based) does not read it
    const [u2, s2] = opt.update(g, s1, p)
    const again = thrown(() => opt.update(g, s2, p))
    expect((again as f.HyperparameterError).expected).toContain('due at step 2')
    dispose([p, g, s0, h, u1, s1, u2, s2])
  })

  it('sam: params required; opaque mode needs gradFn (or valueAndGradFn), and both give the same step', () => {
    const p = { w: fromArray([1, 2]) }
    const g = { w: fromArray([1, 1]) }
    const adv = f.chain(f.normalizeByGlobalNorm(), f.sgd({ learningRate: 0.1 }))
    const transparent = f.sam(f.sgd({ learningRate: 0.1 }), adv)
    expect(thrown(() => transparent.update(g, transparent.init(p)))).toBeInstanceOf(f.MissingParamsError)
    const opaque = f.sam(f.sgd({ learningRate: 0.1 }), adv, { opaqueMode: true })
    const s = opaque.init(p)
    const error = thrown(() => opaque.update(g, s, p))
    expect((error as f.HyperparameterError).field).toBe('gradFn')
    const gradFn = (q: Params) => f.tree.map((x: Tensor) => f.scaleTensor(x, 2))(q) as Params
    const [u1, s1] = opaque.update(g, s, p, { gradFn })
    const [u2, s2] = opaque.update(g, s, p, { valueAndGradFn: (q: Params) => [0, gradFn(q)] as const })
    expect(cpu.readSync!((u1 as { w: Tensor }).w)).toEqual(cpu.readSync!((u2 as { w: Tensor }).w))
    // θ_adv = θ + 0.1 g/‖g‖ = [1.0707, 2.0707]; u = −0.1 · 2θ_adv
    expect(allClose(Array.from(cpu.readSync!((u1 as { w: Tensor }).w)!), [-0.1 * 2 * (1 + 0.1 / Math.SQRT2), -0.1 * 2 * (2 + 0.1 / Math.SQRT2)], float32Tolerance).ok).toBe(true)
    dispose([p, g, s, u1, s1, u2, s2])
  })

  it('a state with a mistyped field is refused before any work', () => {
    const p = { w: fromArray([1, 2]) }
    const g = { w: fromArray([1, 1]) }
    const opt = f.sam(f.sgd({ learningRate: 0.1 }), f.sgd({ learningRate: 0.1 }), { syncPeriod: 3 })
    expect(thrown(() => opt.update(g, { ...opt.init(p), stepsSinceSync: 3 }, p))).toBeInstanceOf(f.StructureError)
    expect(thrown(() => opt.update(g, { ...opt.init(p), cache: null }, p))).toBeInstanceOf(f.StructureError)
    const m = f.scaleByMadgrad({ learningRate: 0.1 })
    expect(thrown(() => m.update(g, { ...m.init(p), x0: { v: fromArray([1, 2]) } }, p))).toBeInstanceOf(f.StructureError)
    dispose([p, g])
  })
})

// ---- the Hutchinson estimator and the AdEMAMix schedules -----------------------------------------

describe('hutchinsonHessianDiagonal and finiteDifferenceHvp', () => {
  it.each(backends.map((b) => [b.name, b] as const))('exact on a diagonal Hessian, unbiased on a dense one, no leaks, on %s', async (_n, backend) => {
    const a = { w: fromArray([1, 4, 9, 16], [2, 2], backend), b: fromArray([0.5], [1], backend) }
    const theta = { w: fromArray([1, 1, 1, 1], [2, 2], backend), b: fromArray([2], [1], backend) }
    const before = backend.liveCount()
    const diag = f.hutchinsonHessianDiagonal((_p, v) => f.tree.map((x: Tensor, path) => f.mul(x, path === 'w' ? a.w : a.b))(v) as Params, theta, f.key(3))
    expect(backend.liveCount()).toBe(before + 2)
    const host = (await f.readTree(diag)) as { w: Float32Array; b: Float32Array }
    expect([...host.w, ...host.b]).toEqual([1, 4, 9, 16, 0.5])
    dispose(diag)
    // H = [[2, 1], [1, 3]]: one probe gives diag(H) ± the off-diagonal (1 ± 1 apart); many average to diag(H)
    const H = fromArray([2, 1, 1, 3], [2, 2], backend)
    const hvp = (_p: Params, v: Params) => f.reshape(f.matmul(H, f.reshape(v as Tensor, [2, 1])), [2])
    const x = fromArray([0, 0], [2], backend)
    const oneT = f.hutchinsonHessianDiagonal(hvp, x, f.key(1)) as Tensor
    const manyT = f.hutchinsonHessianDiagonal(hvp, x, f.key(1), { samples: 400 }) as Tensor
    const [one, many] = [await f.read(oneT), await f.read(manyT)]
    expect([[1, 2], [3, 4]].some(([d0, d1]) => one[0] === d0 && one[1] === d1)).toBe(true)
    expect(Math.abs(many[0]! - 2)).toBeLessThan(0.2)
    expect(Math.abs(many[1]! - 3)).toBeLessThan(0.2)
    // central differences of ∇f for f = Σ aᵢθᵢ⁴/4: ∇f = aθ³, diag H = 3aθ²
    const gradFn = (p: Params) => f.tree.map((x: Tensor, path) => f.mul(f.mul(f.mul(x, x), x), path === 'w' ? a.w : a.b))(p) as Params
    const fd = f.hutchinsonHessianDiagonal(f.finiteDifferenceHvp(gradFn, { h: 1e-2 }), theta, f.key(5))
    const got = (await f.readTree(fd)) as { w: Float32Array; b: Float32Array }
    expect(allClose([...got.w, ...got.b], [3, 12, 27, 48, 6], { rtol: 1e-3, atol: 1e-3 }).ok).toBe(true)
    dispose([fd, a, theta, x, H, oneT, manyT])
  })
})

describe('the AdEMAMix schedulers of the paper', () => {
  it('α warms up linearly; β₃ goes from β_start to β₃ with a half-life linear in k', () => {
    const a = f.ademamixAlphaSchedule({ alpha: 5, warmupSteps: 100 })
    expect([a(0), a(50), a(100), a(1000)]).toEqual([0, 2.5, 5, 5])
    const b = f.ademamixBeta3Schedule({ b3Start: 0.9, b3: 0.9999, warmupSteps: 100 })
    expect(b(0)).toBeCloseTo(0.9, 12)
    expect(b(100)).toBeCloseTo(0.9999, 12)
    expect(b(1e6)).toBeCloseTo(0.9999, 12)
    // the half-life ln ½ / ln β grows linearly in k
    const halfLife = (k: number) => Math.log(0.5) / Math.log(b(k))
    expect(halfLife(50) - halfLife(0)).toBeCloseTo(halfLife(100) - halfLife(50), 6)
    for (let k = 1; k <= 100; k++) expect(b(k)).toBeGreaterThanOrEqual(b(k - 1))
  })
})

describe('samOuterParams', () => {
  it('is the cache while the params are adversarial, the params after an outer step', () => {
    const opt = f.sam(f.sgd({ learningRate: 0.1 }), f.chain(f.normalizeByGlobalNorm(), f.sgd({ learningRate: 0.5 })))
    const w = fromArray([3, 4])
    const s0 = opt.init(w)
    expect(f.samOuterParams(w, s0)).toBe(w)
    const [u, s1] = opt.update(fromArray([3, 4]), s0, w)
    const w1 = applyUpdates(w, u)
    expect(cpu.readSync!(w1 as Tensor)).toEqual(Float32Array.from([3.3, 4.4]))
    expect(cpu.readSync!(f.samOuterParams(w1, s1) as Tensor)).toEqual(Float32Array.of(3, 4))
    const [u2, s2] = opt.update(fromArray([1, 1]), s1, w1)
    const w2 = applyUpdates(w1, u2)
    expect(f.samOuterParams(w2, s2)).toBe(w2)
    expect(allClose(Array.from(cpu.readSync!(w2 as Tensor)!), [2.9, 3.9], float32Tolerance).ok).toBe(true)
  })
})

// ---- state round trip through the codecs ---------------------------------------------------------

describe('saveState / loadState round trip: a resumed run continues exactly', () => {
  const adv = () => f.chain(f.normalizeByGlobalNorm(), f.sgd({ learningRate: 0.05 }))
  const makers: [string, () => Optimizer, f.UpdateExtras?][] = [
    ['adopt', () => f.adopt({ learningRate: 0.01 })],
    ['ademamix', () => f.ademamix({ learningRate: 0.01, weightDecay: 0.01 })],
    ['simplifiedAdemamix', () => f.simplifiedAdemamix({ learningRate: 0.01 })],
    ['madgrad', () => f.madgrad({ learningRate: 0.01, weightDecay: 0.01 })],
    ['sophia', () => f.sophia({ learningRate: 0.01, updateInterval: 1 }), { hessianDiagonal: { w: fromArray([1, 2, -1, 0.5], [2, 2]), b: fromArray([3, 1]) } }],
    ['sam (transparent, syncPeriod 3)', () => f.sam(f.adam({ learningRate: 0.01 }), adv(), { syncPeriod: 3 }) as unknown as Optimizer],
    ['sam (opaque)', () => f.sam(f.adam({ learningRate: 0.01 }), adv(), { opaqueMode: true }) as unknown as Optimizer, { gradFn: (p: Params) => f.tree.map((x: Tensor) => f.scaleTensor(x, 2))(p) as Params }],
  ]
  it.each(makers)('%s', async (_n, make, extra) => {
    const opt = make()
    const gs = [[1, -2, 0.5, 0, 3, 1], [0.5, 1, -1, 2, -3, 1], [-1, 2, 0.5, 1, 1, -2]].map((g) => ({ w: fromArray(g.slice(0, 4), [2, 2]), b: fromArray(g.slice(4)) }))
    const step = (p: Params, s: unknown, g: Params) => scope(() => {
      const [u, s2] = opt.update(g, s as never, p, extra)
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

// ---- Optax's own Sophia and SAM runs (objective-contrib.json) -----------------------------------

interface ObjectiveRow {
  readonly id: string
  readonly optimizer: 'sophia' | 'sam'
  readonly problem: string
  readonly learningRate?: number
  readonly options: Readonly<Record<string, unknown>>
  readonly call: string
  readonly params: readonly (readonly string[])[]
  readonly hessianDiagonal?: 'quadratic' | readonly (readonly string[])[]
}
interface ProblemJson {
  readonly leaves: readonly { readonly name: string; readonly shape: readonly number[]; readonly init: string }[]
  readonly grads?: readonly (readonly string[])[]
  readonly quadratic?: { readonly h: string; readonly c: string }
  readonly lrMultipliers?: string
}

const fixtures = new URL('./fixtures/goldens/', import.meta.url)
const readJson = <T,>(name: string): T => JSON.parse(readFileSync(new URL(name, fixtures), 'utf8')) as T
const unhex = (text: string): Float32Array => {
  const words = text === '' ? [] : text.split(' ')
  const view = new DataView(new ArrayBuffer(4 * words.length))
  words.forEach((w, i) => view.setUint32(4 * i, parseInt(w, 16)))
  return Float32Array.from({ length: words.length }, (_, i) => view.getFloat32(4 * i))
}
const goldenTolerance = { rtol: 1e-6, atol: 1e-7 }

const { problems } = readJson<{ problems: Readonly<Record<string, ProblemJson>> }>('problems.json')
const objective = readJson<{ versions: Readonly<Record<string, string>>; trajectories: readonly ObjectiveRow[] }>('objective-contrib.json')

const outerOf = (spec: Readonly<Record<string, Readonly<Record<string, unknown>>>>): Optimizer => {
  const [[name, options]] = Object.entries(spec) as [[string, Readonly<Record<string, unknown>>]]
  return name === 'sgd' ? f.sgd(options as never) : f.adam(options as never)
}

const buildObjective = (row: ObjectiveRow, problem: ProblemJson): Optimizer => {
  if (row.optimizer === 'sophia') {
    const m = problem.lrMultipliers === undefined ? undefined : unhex(problem.lrMultipliers)
    const learningRate = m === undefined ? row.learningRate! : (k: number) => Math.fround(row.learningRate! * m[k]!)
    return f.sophia({ ...(row.options as object), learningRate } as f.SophiaOptions)
  }
  const o = row.options as { outer: Readonly<Record<string, Readonly<Record<string, unknown>>>>; adversary: { rho?: number; adam?: Readonly<Record<string, unknown>> }; syncPeriod: number; opaqueMode: boolean; resetState: boolean }
  const adversary: f.AnyTransformation = o.adversary.rho !== undefined ? f.chain(f.normalizeByGlobalNorm(), f.sgd({ learningRate: o.adversary.rho })) : f.adam(o.adversary.adam as never)
  return f.sam(outerOf(o.outer) as f.AnyTransformation, adversary, { syncPeriod: o.syncPeriod, opaqueMode: o.opaqueMode, resetState: o.resetState }) as unknown as Optimizer
}

const runObjective = (row: ObjectiveRow, compiled: boolean): Float32Array[][] => {
  const problem = problems[row.problem]!
  const opt = buildObjective(row, problem)
  const step = compiled ? compileStep(opt) : undefined
  const q = problem.quadratic && { h: unhex(problem.quadratic.h), c: unhex(problem.quadratic.c) }
  const stored = problem.grads?.map((s) => s.map(unhex))
  const toTree = (values: readonly Float32Array[]): Params => Object.fromEntries(problem.leaves.map((l, i) => [l.name, fromArray(values[i]!, l.shape, cpu)]))
  const valuesOf = (p: Params) => problem.leaves.map((l) => Float32Array.from(cpu.readSync!((p as Record<string, Tensor>)[l.name]!)!))
  const quadraticGrad = (x: Float32Array) => x.map((v, i) => Math.fround(q!.h[i]! * Math.fround(v - q!.c[i]!)))
  const gradFn = (p: Params) => toTree([quadraticGrad(valuesOf(p)[0]!)])
  let params = toTree(problem.leaves.map((l) => unhex(l.init)))
  let state = opt.init(params)
  const out: Float32Array[][] = []
  for (let k = 0; k < row.params.length; k++) {
    const grads = stored !== undefined ? toTree(stored[k]!) : gradFn(params)
    const hessianDiagonal =
      row.hessianDiagonal === undefined ? undefined : row.hessianDiagonal === 'quadratic' ? toTree([q!.h]) : toTree(row.hessianDiagonal[k]!.map(unhex))
    const extra: f.UpdateExtras = { ...(hessianDiagonal ? { hessianDiagonal } : {}), ...(row.optimizer === 'sam' ? { gradFn } : {}) }
    const [p2, s2] = step
      ? step(params, grads, state, extra)
      : scope(() => {
          const [u, s] = opt.update(grads, state, params, extra)
          return [applyUpdates(params, u), s] as const
        })
    dispose([grads, hessianDiagonal ?? [], params, state], [p2, s2])
    params = p2
    state = s2
    out.push(valuesOf(params))
  }
  dispose([params, state])
  return out
}

describe(`Optax's Sophia and SAM runs (${Object.entries(objective.versions).map(([k, v]) => `${k} ${v}`).join(', ')}), on cpu`, () => {
  it('cover sophia on every problem and sam in both modes', () => {
    expect(objective.trajectories.filter((r) => r.optimizer === 'sophia').length).toBe(3 * Object.keys(problems).length)
    expect(new Set(objective.trajectories.filter((r) => r.optimizer === 'sam').map((r) => (r.options as { opaqueMode: boolean }).opaqueMode))).toEqual(new Set([false, true]))
  })
  it.each(objective.trajectories.map((r) => [r.id, r] as const))('%s', (_n, row) => {
    const problem = problems[row.problem]!
    for (const compiled of [false, true]) {
      const got = runObjective(row, compiled)
      row.params.forEach((stepParams, k) =>
        stepParams.forEach((hex, j) => {
          const r = allClose(got[k]![j]!, unhex(hex), goldenTolerance)
          expect(r.ok, `${row.id}${compiled ? ' (compileStep)' : ''} step ${k + 1}, leaf ${problem.leaves[j]!.name}: ${r.ok ? '' : r.message}; ${row.call}`).toBe(true)
        }),
      )
    }
  })
})
