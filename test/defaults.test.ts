/**
 * Defaults are what the docs say: every builder with defaults, built without them, produces the same
 * updates (transforms, optimizers in each convention) or values (schedules) as the same builder
 * given the documented defaults explicitly (doc comments and docs/conventions.md). The gradients
 * span 1e-7 to 10, so ε, decay rates, thresholds and initial accumulators all move the result.
 * Also: each optimizer's state holds exactly the buffers its algorithm needs, and optimizer masks
 * act leaf by leaf.
 */
import { describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import type { AnyTransformation, Schedule } from '../src/index.js'
import { allClose } from '../laws/allclose.js'
import { HostTensor, type HostTree } from '../laws/host.js'
import { exact } from '../laws/predicates/transform.js'
import { runTransform } from '../laws/run.js'
import { backends } from './backends.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any
const steps = 14
const scales = [1e-7, 1e-5, 1e-3, 0.1, 3, 10]
const params0: HostTree = { w: new HostTensor([6], [0.5, -1.5, 2, -0.25, 3, -4]), b: new HostTensor([2, 2], [1, -1, 0.5, 2]) }
const grads: HostTree[] = Array.from({ length: steps }, (_, k) => ({
  w: new HostTensor([6], scales.map((s, i) => s * Math.sin(1 + k * 0.7 + i) * (k % 5 === 3 ? 0.01 : 1))),
  b: new HostTensor([2, 2], [0.3, -2e-6, 5, -0.04].map((x, i) => x * Math.cos(k + i))),
}))

const lr = { learningRate: 0.05 }
const cc = (convention: f.Convention) => ({ ...lr, convention })
const wd = (p: f.Params) => f.tree.map((x: f.Tensor) => x.shape.length > 1)(p)

/** [what, built with defaults, built with the documented defaults spelled out]. */
const transforms: readonly [string, () => AnyTransformation, () => AnyTransformation][] = [
  ['trace', () => f.trace(), () => f.trace({ decay: 0.9, nesterov: false })],
  ['ema', () => f.ema(), () => f.ema({ decay: 0.9, debias: true })],
  ['scaleByAdam', () => f.scaleByAdam(), () => f.scaleByAdam({ b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, nesterov: false })],
  ['scaleByAmsgrad', () => f.scaleByAmsgrad(), () => f.scaleByAmsgrad({ b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0 })],
  ['scaleByAdamax', () => f.scaleByAdamax(), () => f.scaleByAdamax({ b1: 0.9, b2: 0.999, eps: 1e-8 })],
  ['scaleByRms', () => f.scaleByRms(), () => f.scaleByRms({ decay: 0.9, eps: 1e-8, epsInSqrt: true, initialScale: 0, biasCorrection: false })],
  ['scaleByStddev', () => f.scaleByStddev(), () => f.scaleByStddev({ decay: 0.9, eps: 1e-8, epsInSqrt: true, initialScale: 0, biasCorrection: false })],
  ['scaleByRss', () => f.scaleByRss(), () => f.scaleByRss({ initialAccumulatorValue: 0.1, eps: 1e-7, epsInSqrt: true })],
  ['scaleByAdadelta', () => f.scaleByAdadelta(), () => f.scaleByAdadelta({ rho: 0.9, eps: 1e-6 })],
  ['scaleByLion', () => f.scaleByLion(), () => f.scaleByLion({ b1: 0.9, b2: 0.99 })],
  ['scaleByRadam', () => f.scaleByRadam(), () => f.scaleByRadam({ b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, threshold: 5 })],
  ['scaleByTrustRatio', () => f.scaleByTrustRatio(), () => f.scaleByTrustRatio({ minNorm: 0, trustCoefficient: 1, eps: 0 })],
  ['scaleByLbfgs', () => f.scaleByLbfgs(), () => f.scaleByLbfgs({ memorySize: 10, scaleInitPrecond: true })],
  ['addNoise', () => f.addNoise(), () => f.addNoise({ eta: 0.01, gamma: 0.55, seed: 0 })],
  ['adaptiveGradClip', () => f.adaptiveGradClip(), () => f.adaptiveGradClip({ clipping: 0.01, eps: 1e-3 })],
  ['addDecayedWeights', () => f.addDecayedWeights(), () => f.addDecayedWeights({ weightDecay: 0 })],
  ['scaleByLearningRate', () => f.scaleByLearningRate(0.1), () => f.scaleByLearningRate(0.1, { flipSign: true })],
  ['applyEvery', () => f.applyEvery(), () => f.applyEvery(1)],
  ['applyIfFinite', () => f.applyIfFinite(f.adam(lr)), () => f.applyIfFinite(f.adam(lr), { maxConsecutiveErrors: Infinity })],
  ['lookahead', () => f.lookahead(f.sgd(lr)), () => f.lookahead(f.sgd(lr), { syncPeriod: 6, slowStepSize: 0.5 })],
  ['emaParams', () => f.emaParams(), () => f.emaParams({ decay: 0.999 })],
  ['sgd', () => f.sgd(lr), () => f.sgd({ ...lr, momentum: 0, nesterov: false, convention: 'optax' })],
  ['momentum', () => f.momentum(lr), () => f.momentum({ ...lr, momentum: 0.9, nesterov: false })],
  ['noisySgd', () => f.noisySgd(lr), () => f.noisySgd({ ...lr, eta: 0.01, gamma: 0.55, seed: 0 })],
  ['nadam', () => f.nadam(lr), () => f.nadam({ ...lr, b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0 })],
  ['radam', () => f.radam(lr), () => f.radam({ ...lr, b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, threshold: 5 })],
  ['lion', () => f.lion(lr), () => f.lion({ ...lr, b1: 0.9, b2: 0.99, weightDecay: 1e-3 })],
  ['lamb', () => f.lamb(lr), () => f.lamb({ ...lr, b1: 0.9, b2: 0.999, eps: 1e-6, epsRoot: 0, weightDecay: 0 })],
  ['lars', () => f.lars(lr), () => f.lars({ ...lr, weightDecay: 0, trustCoefficient: 0.001, eps: 0, momentum: 0.9, nesterov: false })],
  ['lbfgs', () => f.lbfgs({ linesearch: null }), () => f.lbfgs({ learningRate: 1, memorySize: 10, scaleInitPrecond: true, linesearch: null })],
  ['lion with a mask', () => f.lion({ ...lr, mask: wd }), () => f.lion({ ...lr, b1: 0.9, b2: 0.99, weightDecay: 1e-3, mask: wd })],
  // docs/conventions.md
  ...(['optax', 'pytorch', 'keras', 'tfjs'] as const).flatMap((c): [string, () => AnyTransformation, () => AnyTransformation][] => {
    const keras = c === 'keras' || c === 'tfjs'
    return [
      [`adam ${c}`, () => f.adam(cc(c)), () => f.adam({ ...cc(c), b1: 0.9, b2: 0.999, eps: keras ? 1e-7 : 1e-8, epsRoot: 0 })],
      [`adamax ${c}`, () => f.adamax(cc(c)), () => f.adamax({ ...cc(c), b1: 0.9, b2: 0.999, eps: keras ? 1e-7 : 1e-8 })],
      [`adagrad ${c}`, () => f.adagrad(cc(c)), () => f.adagrad({ ...cc(c), initialAccumulatorValue: c === 'pytorch' ? 0 : 0.1, eps: c === 'pytorch' ? 1e-10 : 1e-7 })],
      [
        `rmsprop ${c}`,
        () => f.rmsprop(cc(c)),
        () => f.rmsprop({ ...cc(c), decay: c === 'pytorch' ? 0.99 : 0.9, eps: keras ? 1e-7 : 1e-8, centered: false, momentum: 0, nesterov: false, initialScale: 0 }),
      ],
      [`adadelta ${c}`, () => f.adadelta(cc(c)), () => f.adadelta({ ...cc(c), rho: keras ? 0.95 : 0.9, eps: keras ? 1e-7 : 1e-6 })],
      [`sgd ${c}`, () => f.sgd({ ...cc(c), momentum: 0.9 }), () => f.sgd({ ...cc(c), momentum: 0.9, nesterov: false })],
    ]
  }),
  ...(['optax', 'pytorch', 'keras'] as const).flatMap((c): [string, () => AnyTransformation, () => AnyTransformation][] => [
    [`adamw ${c}`, () => f.adamw(cc(c)), () => f.adamw({ ...cc(c), b1: 0.9, b2: 0.999, eps: c === 'keras' ? 1e-7 : 1e-8, epsRoot: 0, weightDecay: c === 'pytorch' ? 1e-2 : c === 'keras' ? 4e-3 : 1e-4 })],
    [`amsgrad ${c}`, () => f.amsgrad(cc(c)), () => f.amsgrad({ ...cc(c), b1: 0.9, b2: 0.999, eps: c === 'keras' ? 1e-7 : 1e-8, epsRoot: 0 })],
  ]),
]

describe.each(backends)('defaults are the documented ones on $name', (backend) => {
  it.each(transforms)('%s', async (_n, withDefaults, spelledOut) => {
    const a = await runTransform(withDefaults(), params0, grads, backend)
    const b = await runTransform(spelledOut(), params0, grads, backend)
    const r = allClose(a.updates, b.updates, exact)
    expect(r.ok, r.ok ? '' : r.message).toBe(true)
  })

  it('reduceOnPlateau', () => {
    const p = { w: f.fromArray([1], [1], backend) }
    const curve = Array.from({ length: 40 }, (_, k) => (k < 5 ? 10 - k : k < 20 ? 5.9999 : 5.5))
    const scalesOf = (t: f.GradientTransformation<f.ReduceOnPlateauState>) => {
      let s = t.init(p)
      return curve.map((value) => {
        const [u, s2] = t.update(p, s, p, { value })
        f.dispose(u)
        s = s2
        return s.scale
      })
    }
    const got = scalesOf(f.reduceOnPlateau())
    expect(got).toEqual(scalesOf(f.reduceOnPlateau({ factor: 0.1, patience: 10, cooldown: 0, minScale: 0, rtol: 1e-4, atol: 0, accumulationSize: 1 })))
    expect(got.at(-1)).toBeLessThan(1)
    f.dispose(p)
  })
})

describe('schedule defaults are the documented ones', () => {
  const cases: readonly [string, Schedule, Schedule][] = [
    ['linear', f.linear({ init: 1, end: 0.1, transitionSteps: 50 }), f.linear({ init: 1, end: 0.1, transitionSteps: 50, transitionBegin: 0 })],
    ['polynomial', f.polynomial({ init: 1, end: 0.1, power: 2, transitionSteps: 50 }), f.polynomial({ init: 1, end: 0.1, power: 2, transitionSteps: 50, transitionBegin: 0 })],
    [
      'exponentialDecay',
      f.exponentialDecay({ init: 1, transitionSteps: 7, decayRate: 0.5 }),
      f.exponentialDecay({ init: 1, transitionSteps: 7, decayRate: 0.5, transitionBegin: 0, staircase: false, end: undefined }),
    ],
    ['inverseTimeDecay', f.inverseTimeDecay({ init: 1, decayRate: 0.5 }), f.inverseTimeDecay({ init: 1, decayRate: 0.5, decaySteps: 1, staircase: false })],
    ['naturalExpDecay', f.naturalExpDecay({ init: 1, decayRate: 0.05 }), f.naturalExpDecay({ init: 1, decayRate: 0.05, decaySteps: 1, staircase: false })],
    ['momentumAnnealing', f.momentumAnnealing({ transitionSteps: 50 }), f.momentumAnnealing({ transitionSteps: 50, init: 0.5, end: 0.9 })],
    ['cosineDecay', f.cosineDecay({ init: 1, decaySteps: 50 }), f.cosineDecay({ init: 1, decaySteps: 50, alpha: 0, exponent: 1 })],
    ['warmupCosineDecay', f.warmupCosineDecay({ peak: 1, warmupSteps: 10, decaySteps: 80 }), f.warmupCosineDecay({ peak: 1, warmupSteps: 10, decaySteps: 80, init: 0, end: 0, exponent: 1 })],
    ['sgdr', f.sgdr({ max: 1, period: 10 }), f.sgdr({ max: 1, period: 10, min: 0, mult: 1 })],
    ['onecycle', f.onecycle({ transitionSteps: 100, peak: 1 }), f.onecycle({ transitionSteps: 100, peak: 1, pctStart: 0.3, divFactor: 25, finalDivFactor: 1e4 })],
  ]
  it.each(cases)('%s', (_n, a, b) => {
    const steps = Array.from({ length: 121 }, (_, k) => k - 5)
    expect(steps.map(a)).toEqual(steps.map(b))
  })
})

describe.each(backends)('optimizer state holds exactly the buffers its algorithm needs on $name', (backend) => {
  // [optimizer, tensors kept per parameter tensor]: m for momentum, r/ν for second moments, μ for
  // centred or first moments, ν̂ₘₐₓ for AMSGrad, E[g²] and E[Δθ²] for AdaDelta, the previous
  // params and updates for L-BFGS (its s and y histories start empty).
  const cases: readonly [string, AnyTransformation, number][] = [
    ['sgd', f.sgd(lr), 0],
    ['sgd with momentum', f.sgd({ ...lr, momentum: 0.9 }), 1],
    ['sgd with Nesterov and β = 0', f.sgd({ ...lr, nesterov: true }), 1],
    ['momentum', f.momentum(lr), 1],
    ['noisySgd', f.noisySgd(lr), 0],
    ['adagrad', f.adagrad(lr), 1],
    ['rmsprop', f.rmsprop(lr), 1],
    ['rmsprop centered', f.rmsprop({ ...lr, centered: true }), 2],
    ['rmsprop centered with momentum', f.rmsprop({ ...lr, centered: true, momentum: 0.5 }), 3],
    ['rmsprop pytorch with momentum', f.rmsprop({ ...lr, momentum: 0.5, convention: 'pytorch' }), 2],
    ['adadelta', f.adadelta(lr), 2],
    ['adam', f.adam(lr), 2],
    ['adamw', f.adamw(lr), 2],
    ['nadam', f.nadam(lr), 2],
    ['amsgrad', f.amsgrad(lr), 3],
    ['amsgrad pytorch', f.amsgrad({ ...lr, convention: 'pytorch' }), 3],
    ['adamax', f.adamax(lr), 2],
    ['radam', f.radam(lr), 2],
    ['lion', f.lion(lr), 1],
    ['lamb', f.lamb(lr), 2],
    ['lars', f.lars(lr), 1],
    ['lars without momentum', f.lars({ ...lr, momentum: 0 }), 0],
    ['lbfgs', f.lbfgs({ memorySize: 4, linesearch: null }), 2],
    ['lbfgs with its zoom line search (∇f at the accepted step)', f.lbfgs({ memorySize: 4 }), 3],
  ]
  it.each(cases)('%s', (_n, opt, perParam) => {
    const p = { w: f.fromArray([1, 2, 3], [3], backend), b: f.fromArray([1], [1], backend) }
    const s = opt.init(p)
    const tensors = (f.tree.leaves(s as never) as unknown[]).filter((x): x is f.Tensor => x instanceof f.Tensor)
    expect(tensors.length).toBe(2 * perParam)
    expect(tensors.every((x) => x.backend === backend)).toBe(true)
    f.dispose([p, s])
  })
})

describe.each(backends)('optimizer masks act leaf by leaf on $name', (backend) => {
  // the mask selects `w` (rank 1) and leaves `b` (rank 2) out; every piece of these optimizers is
  // leafwise, so each leaf's updates must equal those of the optimizer with or without the option
  const onlyW = { w: true, b: false }
  const pick = (run: Awaited<ReturnType<typeof runTransform>>, leaf: 'w' | 'b') => run.updates.map((u) => (u as Record<string, HostTensor>)[leaf]!)
  const cases: readonly [string, AnyTransformation, AnyTransformation, AnyTransformation][] = [
    ['adamw', f.adamw({ ...lr, weightDecay: 0.3, mask: onlyW }), f.adamw({ ...lr, weightDecay: 0.3 }), f.adamw({ ...lr, weightDecay: 0 })],
    ['lion', f.lion({ ...lr, weightDecay: 0.3, mask: onlyW }), f.lion({ ...lr, weightDecay: 0.3 }), f.lion({ ...lr, weightDecay: 0 })],
    ['lamb', f.lamb({ ...lr, weightDecay: 0.3, mask: onlyW }), f.lamb({ ...lr, weightDecay: 0.3 }), f.lamb({ ...lr, weightDecay: 0 })],
    ['lars weightDecayMask', f.lars({ ...lr, weightDecay: 0.3, trustCoefficient: 0.2, weightDecayMask: onlyW }), f.lars({ ...lr, weightDecay: 0.3, trustCoefficient: 0.2 }), f.lars({ ...lr, weightDecay: 0, trustCoefficient: 0.2 })],
    [
      'lars trustRatioMask',
      f.lars({ ...lr, weightDecay: 0.3, trustCoefficient: 0.2, trustRatioMask: onlyW }),
      f.lars({ ...lr, weightDecay: 0.3, trustCoefficient: 0.2 }),
      // the optimizers hand their kernels float32 hyperparameters, as the frameworks do
      f.chain(f.addDecayedWeights({ weightDecay: Math.fround(0.3) }), f.scaleByLearningRate(Math.fround(lr.learningRate)), f.trace({ decay: Math.fround(0.9) })),
    ],
  ]
  it.each(cases)('%s', async (_n, withMask, selected, leftOut) => {
    const [a, s, o] = [await runTransform(withMask, params0, grads, backend), await runTransform(selected, params0, grads, backend), await runTransform(leftOut, params0, grads, backend)]
    for (const [leaf, other] of [['w', s], ['b', o]] as const) {
      const r = allClose(pick(a, leaf), pick(other, leaf), exact)
      expect(r.ok, `${leaf}: ${r.ok ? '' : r.message}`).toBe(true)
    }
    // and the option matters: on the left-out leaf, the selected and left-out runs differ
    expect(allClose(pick(s, 'b'), pick(o, 'b'), exact).ok).toBe(false)
  })
})
