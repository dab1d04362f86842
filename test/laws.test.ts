/**
 * The public law suite: planted bugs the runners must catch, every catalogued transform under
 * random valid hyperparameters, extreme values, scale invariance and linearity where they hold,
 * clipping laws, and every schedule and layer through its runner.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type AnyTransformation,
  type GradientTransformation,
  type Params,
  type ScaleByScheduleState,
  type TraceState,
  adam,
  adagrad,
  addDecayedWeights,
  batchNorm,
  clipByGlobalNorm,
  clipByNorm,
  constant,
  ranges,
  cosineDecay,
  cpu,
  dense,
  dropout,
  elu,
  exponentialDecay,
  gaussianNoise,
  identity,
  inverseTimeDecay,
  joinSchedules,
  l2,
  leakyRelu,
  linear,
  lion,
  momentumAnnealing,
  naturalExpDecay,
  noisyDense,
  onecycle,
  piecewiseConstant,
  polynomial,
  relu,
  rmsprop,
  scaleByLearningRate,
  scaleBySign,
  sequential,
  sgd,
  sgdr,
  sigmoid,
  softplus,
  stepDecay,
  tanh,
  trace,
  tree,
  warmupCosineDecay,
  zerosLikeTree,
} from '../src/index.js'
import * as f from '../src/index.js'
import { catalog, runsOn } from '../laws/catalog.js'
import { arbitraryFromCodec, extremeSequenceArb, hyperparametersArb, sequenceArb } from '../laws/arbitraries.js'
import { hostMap } from '../laws/host.js'
import * as laws from '../laws/predicates/index.js'
import { adamFamilyReference, sgdTraceReference } from '../laws/reference/optimizers.js'
import { assertLaw, propertyParameters, propertySeed, verifyTransformLaws } from '../laws/runners.js'
import { checkLayerLaws, checkScheduleLaws, checkTransformLaws } from '../laws/vitest.js'
import { backends } from './backends.js'
import { HostTensor } from '../laws/host.js'

// ---- planted bugs ----------------------------------------------------------------------------

/** Adam with the bias correction left out (a classic bug). */
const adamWithoutBiasCorrection = (): AnyTransformation => {
  const inner = adam({ learningRate: 0.1, b1: 0.9, b2: 0.99 })
  // reusing Adam at t → ∞ where 1 − βᵗ = 1: rebuild it with count pinned far ahead
  return {
    init: (p: Params) => inner.init(p),
    update: (u: Params, s: unknown, p?: Params) => {
      const [adamState, lrState] = s as unknown as [{ count: number; mu: Params; nu: Params }, ScaleByScheduleState]
      const [out, next] = inner.update(u, [{ ...adamState, count: 10_000 + adamState.count }, lrState] as never, p)
      const [a, b] = next as unknown as [{ count: number; mu: Params; nu: Params }, ScaleByScheduleState]
      return [out, [{ ...a, count: a.count - 10_000 }, b]] as never
    },
    stateCodec: inner.stateCodec,
  }
}

/** Momentum that writes its buffer into the incoming updates (mutates its input). */
const mutatingMomentum = (): GradientTransformation<TraceState> => {
  const t = trace({ decay: 0.9 })
  return {
    init: t.init,
    update: (u, s, p) => {
      const [out, next] = t.update(u, s, p)
      tree.leaves(u).forEach((leaf, i) => (leaf.storage as Float32Array).set((tree.leaves(out)[i]!.storage as Float32Array)))
      return [out, next]
    },
    stateCodec: t.stateCodec,
  }
}

/** A chain that drops the state of its first transformation (re-initialises it every step). */
const chainDroppingState = (): AnyTransformation => {
  const [a, b] = [trace({ decay: 0.9 }), scaleByLearningRate(0.1)]
  return {
    init: (p: Params) => [a.init(p), b.init(p)],
    update: (u: Params, s: unknown, p?: Params) => {
      const [u1] = a.update(u, a.init(u), p)
      const [u2, s2] = b.update(u1, (s as unknown[])[1] as never, p)
      return [u2, [(s as unknown[])[0], s2]]
    },
    stateCodec: undefined,
  }
}

type Input = Parameters<typeof laws.matchesReference>[1]
type Leaves = import("../laws/reference/optimizers.js").Leaves

/** Per-step updates θ_{k+1} − θ_k from a reference that maps a gradient prefix to the params. */
const referenceUpdates = (x: Input, paramsAfter: (theta0: Leaves, grads: Leaves[]) => Leaves) => {
  const leaves = (t: Params | typeof x.params) => tree.leaves(t as never).map((h: HostTensor) => Float64Array.from(h.data))
  const theta0 = leaves(x.params)
  const shapes = tree.leaves(x.params).map((h) => h.shape)
  let prev: Leaves = theta0
  return x.grads.map((_, k) => {
    const next = paramsAfter(theta0, x.grads.slice(0, k + 1).map((g) => leaves(g)))
    const u = next.map((l, j) => new HostTensor(shapes[j]!, Array.from(l, (v, i) => v - prev[j]![i]!)))
    prev = next
    return tree.unflatten(tree.structureOf(x.params), u)
  })
}
const momentumReference = (x: Input) => referenceUpdates(x, (t, g) => sgdTraceReference(t, g, () => 0.1, 0.9, false))
const adamReference = (x: Input) => referenceUpdates(x, (t, g) => adamFamilyReference(t, g, () => 0.1, { b1: 0.9, b2: 0.99, eps: 1e-8, epsRoot: 0 }))

describe('the runners catch planted bugs', () => {
  const failing = async (make: () => AnyTransformation, options: Partial<Parameters<typeof verifyTransformLaws>[1]>) =>
    (await verifyTransformLaws(make, { backends: [cpu], numRuns: 25, inputs: sequenceArb({ minSteps: 2, maxSteps: 5, grads: { zeroWeight: 0 } }), ...options })).filter((r) => !r.ok)

  it('the correct transforms pass the same checks', async () => {
    expect(await failing(() => adam({ learningRate: 0.1, b1: 0.9, b2: 0.99 }), { reference: adamReference })).toEqual([])
    expect(await failing(() => sgd({ learningRate: 0.1, momentum: 0.9 }), { reference: momentumReference })).toEqual([])
  })

  it('Adam with the bias correction off fails the reference law, with a replayable seed', async () => {
    const bad = await failing(adamWithoutBiasCorrection, { reference: adamReference })
    expect(bad.map((r) => r.law)).toContain('reference')
    expect(bad[0]!.seed).toBe(propertySeed())
    expect(bad[0]!.path).toMatch(/^\d+(:\d+)*$/)
  })

  it('momentum that mutates its input fails purity', async () => {
    expect((await failing(mutatingMomentum, {})).map((r) => r.law)).toContain('purity')
  })

  it('a chain that drops a state fails the momentum reference and the state round trip', async () => {
    const laws = (await failing(chainDroppingState, { reference: momentumReference })).map((r) => r.law)
    expect(laws).toContain('reference')
    expect(laws).toContain('stateRoundTrip')
  })
})

// ---- every catalogued transform, random valid hyperparameters ------------------------------

describe('catalogued transforms under hyperparameters drawn from their codecs', () => {
  it.each(catalog.map((e) => [e.name, e] as const))('%s', async (_n, entry) => {
    const draws = fc.sample(hyperparametersArb(entry.hyperparameters), { numRuns: 3, seed: propertySeed() })
    for (const hp of draws) {
      for (const [k, v] of Object.entries(hp)) expect((entry.hyperparameters[k] as unknown as { is: (u: unknown) => boolean }).is(v)).toBe(true)
      // a line search decides on the host: not on a backend whose reads are asynchronous (gpu.js webgpu)
      const reports = await verifyTransformLaws(() => entry.make(hp), { backends: backends.filter((b) => runsOn(entry, b)), numRuns: 3, except: { associativity: 'covered elsewhere', ...(entry.parityException ? { parity: entry.parityException } : {}) } })
      expect(reports.filter((r) => !r.ok).map((r) => `${r.law} ${r.backend}: ${r.message}`), JSON.stringify(hp)).toEqual([])
    }
  })
})

describe('every transform maps the empty tree to the empty tree (as Optax does with empty pytrees)', () => {
  const lr = { learningRate: 0.1 }
  const hyper = (e: (typeof catalog)[number]) =>
    Object.fromEntries(Object.keys(e.hyperparameters).filter((k) => ['learningRate', 'maxNorm', 'threshold'].includes(k)).map((k) => [k, 0.1]))
  const cases: [string, AnyTransformation][] = [
    ...catalog.map((e): [string, AnyTransformation] => [e.name, e.make(hyper(e))]),
    ['clip', f.clip(1)],
    ['adaptiveGradClip', f.adaptiveGradClip()],
    ['addNoise', f.addNoise()],
    ['centralize', f.centralize()],
    ['keepParamsNonnegative', f.keepParamsNonnegative()],
    ['zeroNans', f.zeroNans()],
    ['scaleByTrustRatio', f.scaleByTrustRatio()],
    ['scaleByLbfgs', f.scaleByLbfgs()],
    ['multiSteps', f.multiSteps(adam(lr), { everyK: 2 })],
    ['applyEvery', f.applyEvery(2)],
    ['lookahead', f.lookahead(sgd(lr), { syncPeriod: 2 })],
    ['emaParams', f.emaParams()],
    ['reduceOnPlateau', f.reduceOnPlateau({ patience: 1 })],
    ['masked', f.masked(adam(lr), {})],
    ['multiTransform', f.multiTransform({ a: sgd(lr) }, {})],
    ['injectHyperparams', f.injectHyperparams(adam)(lr)],
    ['applyIfFinite', f.applyIfFinite(adam(lr))],
  ]
  it.each(cases)('%s', (_n, t) => {
    let s = t.init({})
    for (let k = 0; k < 4; k++) {
      const [u, s2] = t.update({}, s, {}, { value: 1 })
      expect(u).toEqual({})
      f.dispose(s)
      s = s2
    }
    f.dispose(s)
  })
})

describe.each(backends)('laws that hold whatever the values, on $name', (backend) => {
  const cases: [string, () => AnyTransformation][] = [
    ['adam', () => adam({ learningRate: 0.1 })],
    ['sgd momentum', () => sgd({ learningRate: 0.1, momentum: 0.9 })],
    ['clipByGlobalNorm', () => clipByGlobalNorm(1)],
  ]
  it.each(cases)('%s: purity, determinism and identity with tiny, huge, zero and non-finite values', (_n, make) =>
    assertLaw(extremeSequenceArb(), async (x) => {
      // the inputs hold NaN and ±∞, which the policy (docs/nonfinite.md) carries through: both sides are NaN at the same places
      for (const law of [laws.inputsUnchanged(make(), x, backend), laws.deterministic(make(), x, backend), laws.leftIdentity(make(), x, backend, laws.unchanged)]) {
        const r = await law
        if (!r.ok) return r
      }
      return { ok: true as const }
    }, 8, backend.name))

  it('addDecayedWeights(0) is the identity', () => assertLaw(sequenceArb(), (x) => laws.isIdentity(addDecayedWeights({ weightDecay: 0 }), x, backend), 10, backend.name))
  it('identity() is the identity', () => assertLaw(extremeSequenceArb(), (x) => laws.isIdentity(identity(), x, backend), 10, backend.name))

  it.each([
    ['adam (ε = 0)', () => adam({ learningRate: 0.1, eps: 0 })],
    ['rmsprop (ε = 0)', () => rmsprop({ learningRate: 0.1, eps: 0 })],
    ['adagrad (ε = 0, r₀ = 0)', () => adagrad({ learningRate: 0.1, eps: 0, initialAccumulatorValue: 0 })],
    ['scaleBySign', () => scaleBySign()],
    ['lion', () => lion({ learningRate: 0.1 })],
  ] as [string, () => AnyTransformation][])('scale invariance f(c·g) = f(g): %s', (_n, make) =>
    assertLaw(fc.tuple(sequenceArb(), fc.double({ min: 0.01, max: 100, noNaN: true })), ([x, c]) => laws.scaleInvariant(make(), x, c, backend, { rtol: 1e-3, atol: 1e-5 }), 10, backend.name))

  it.each([
    ['sgd', () => sgd({ learningRate: 0.1 })],
    ['sgd momentum', () => sgd({ learningRate: 0.1, momentum: 0.9 })],
    ['sgd nesterov', () => sgd({ learningRate: 0.1, momentum: 0.5, nesterov: true })],
  ] as [string, () => AnyTransformation][])('linearity (homogeneity and additivity): %s', (_n, make) =>
    assertLaw(fc.tuple(sequenceArb(), fc.double({ min: -10, max: 10, noNaN: true })), async ([x, c]) => {
      const r = await laws.homogeneous(make(), x, c, backend, { rtol: 1e-4, atol: 1e-5 })
      return r.ok ? laws.additive(make(), x, x.grads.map((g) => hostMap((v) => Math.fround(v * 0.3 + 1), g)), backend, { rtol: 1e-4, atol: 1e-4 }) : r
    }, 10, backend.name))

  it('clipping: norm bound, direction preserved, idempotent (per leaf and global)', () =>
    assertLaw(fc.tuple(sequenceArb({ grads: { min: -100, max: 100 } }), fc.double({ min: 0.1, max: 20, noNaN: true })), async ([x, v]) => {
      for (const r of [
        await laws.normBounded(clipByNorm(v), x, v, backend),
        await laws.normBounded(clipByGlobalNorm(v), x, v, backend, true),
        await laws.directionPreserved(clipByNorm(v), x, backend),
        await laws.directionPreserved(clipByGlobalNorm(v), x, backend, true),
        await laws.idempotent(clipByNorm(v), x, backend),
        await laws.idempotent(clipByGlobalNorm(v), x, backend),
      ]) if (!r.ok) return r
      return { ok: true as const }
    }, 10, backend.name))
})

// ---- every schedule --------------------------------------------------------------------------

checkScheduleLaws('constant', constant(0.3), { closedForm: () => 0.3, monotone: 'decreasing', holdsBeforeStart: true })
checkScheduleLaws('linear', linear({ init: 1, end: 0.01, transitionSteps: 500 }), { closedForm: (k) => (k >= 500 ? 0.01 : 1 - (k / 500) * 0.99), monotone: 'decreasing', holdsBeforeStart: true })
checkScheduleLaws('polynomial', polynomial({ init: 1, end: 0, power: 2, transitionSteps: 500 }), { closedForm: (k) => (k >= 500 ? 0 : (1 - k / 500) ** 2), monotone: 'decreasing', holdsBeforeStart: true })
checkScheduleLaws('exponentialDecay', exponentialDecay({ init: 0.1, transitionSteps: 100, decayRate: 0.5 }), { closedForm: (k) => 0.1 * 0.5 ** (k / 100), monotone: 'decreasing', holdsBeforeStart: true })
checkScheduleLaws('inverseTimeDecay', inverseTimeDecay({ init: 0.1, decayRate: 0.01 }), { closedForm: (k) => 0.1 / (1 + 0.01 * k), monotone: 'decreasing', holdsBeforeStart: true })
checkScheduleLaws('naturalExpDecay', naturalExpDecay({ init: 0.1, decayRate: 0.01 }), { closedForm: (k) => 0.1 * Math.exp(-0.01 * k), monotone: 'decreasing', holdsBeforeStart: true })
checkScheduleLaws('stepDecay', stepDecay({ init: 0.1, factor: 0.5, stepSize: 100 }), { closedForm: (k) => 0.1 * 0.5 ** Math.floor(k / 100), monotone: 'decreasing', holdsBeforeStart: true })
checkScheduleLaws('piecewiseConstant', piecewiseConstant({ boundaries: [100, 200], values: [1, 0.5, 0.1] }), { closedForm: (k) => (k <= 100 ? 1 : k <= 200 ? 0.5 : 0.1), monotone: 'decreasing', holdsBeforeStart: true })
checkScheduleLaws('cosineDecay', cosineDecay({ init: 0.1, decaySteps: 1000, alpha: 0.1 }), { closedForm: (k) => 0.1 * (0.9 * 0.5 * (1 + Math.cos((Math.PI * Math.min(k, 1000)) / 1000)) + 0.1), monotone: 'decreasing', holdsBeforeStart: true })
checkScheduleLaws('warmupCosineDecay', warmupCosineDecay({ peak: 0.1, warmupSteps: 100, decaySteps: 1000 }), { continuousAt: [{ step: 100, maxStep: 0.1 / 100 }], holdsBeforeStart: true })
checkScheduleLaws('joinSchedules (linear then cosine, continuous)', joinSchedules([linear({ init: 0, end: 1, transitionSteps: 50 }), cosineDecay({ init: 1, decaySteps: 500 })], [50]), { continuousAt: [{ step: 50, maxStep: 1 / 50 }], holdsBeforeStart: true })
checkScheduleLaws('sgdr', sgdr({ max: 0.1, min: 0.001, period: 100, mult: 2 }), { holdsBeforeStart: true })
checkScheduleLaws('onecycle', onecycle({ transitionSteps: 1000, peak: 0.1 }), { continuousAt: [{ step: 300, maxStep: 0.01 }], holdsBeforeStart: true })
checkScheduleLaws('momentumAnnealing', momentumAnnealing({ transitionSteps: 500 }), { closedForm: (k) => (k >= 500 ? 0.9 : 0.5 + (k / 500) * 0.4), monotone: 'increasing', holdsBeforeStart: true })

// ---- every layer -----------------------------------------------------------------------------

checkLayerLaws('dense', dense(3, { kernelRegularizer: l2(0.01) }), { backends, inputShape: [4] })
checkLayerLaws('noisyDense', noisyDense(3), { backends, inputShape: [4], training: true })
for (const [name, layer] of [['sigmoid', sigmoid()], ['tanh', tanh()], ['relu', relu()], ['leakyRelu', leakyRelu()], ['elu', elu()], ['softplus', softplus()]] as const) {
  checkLayerLaws(name, layer, { backends, inputShape: [4] })
}
checkLayerLaws('dropout', dropout(0.3), { backends, inputShape: [4], training: true, identityAtEvaluation: true })
checkLayerLaws('gaussianNoise', gaussianNoise(0.2), { backends, inputShape: [4], training: true, identityAtEvaluation: true })
checkLayerLaws('batchNorm (training)', batchNorm(), { backends, inputShape: [4], training: true })
// evaluation mode: with random weights in front of it, batch norm's training statistics can be
// near-degenerate, where finite differences are unreliable (test/layers checks it on fixed inputs)
checkLayerLaws('sequential', sequential([dense(4), batchNorm(), tanh(), dense(2)]), { backends, inputShape: [3] })

it('zerosLikeTree and checkTransformLaws stay exported for researchers', () => {
  expect(typeof zerosLikeTree).toBe('function')
  expect(typeof checkTransformLaws).toBe('function')
})

describe('the schedule predicates catch planted bugs', () => {
  it('each fails on a schedule that breaks it, and passes on the fixed one', () => {
    const unclamped = (k: number) => 0.1 / (1 + 0.5 * k)
    const cases: readonly [string, laws.LawResult, laws.LawResult][] = [
      ['holdsBeforeStart', laws.holdsBeforeStart(unclamped), laws.holdsBeforeStart(inverseTimeDecay({ init: 0.1, decayRate: 0.5 }))],
      ['matchesClosedForm', laws.matchesClosedForm(constant(0.3), () => 0.31, [0, 5]), laws.matchesClosedForm(constant(0.3), () => 0.3, [0, 5])],
      ['monotone', laws.monotone((k) => k % 2, -1, 0, 5), laws.monotone(unclamped, -1, 0, 5)],
      ['continuousAt', laws.continuousAt(joinSchedules([constant(1), constant(0)], [5]), 5, 0.1), laws.continuousAt(joinSchedules([constant(1), constant(1)], [5]), 5, 0.1)],
      ['finiteValues', laws.finiteValues((k) => 1 / (k - 3), [0, 1, 2, 3, 4]), laws.finiteValues(unclamped, [0, 1, 2, 3, 4])],
    ]
    for (const [name, broken, fixed] of cases) expect([name, broken.ok, fixed.ok]).toEqual([name, false, true])
  })
})

describe('arbitraryFromCodec draws only values its codec accepts', () => {
  it.each(Object.entries(ranges))('%s', (_name, codec) =>
    fc.assert(
      fc.property(arbitraryFromCodec(codec), (v) => codec.is(v)),
      propertyParameters(200),
    ),
  )
  it('a codec it does not know is an error naming it', () => {
    expect(() => arbitraryFromCodec({ name: 'a prime' })).toThrow('arbitraryFromCodec: no arbitrary for the codec "a prime"')
  })
})
