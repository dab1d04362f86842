/**
 * Strict options (issue 12, items 2, 3 and 6). Every exported builder that takes an options object
 * (transformations, wrappers, optimizers, schedules, initializers, layers, and the loss,
 * regularizer, data and early-stopping builders) reads only the own properties of a plain object:
 * names every object has (`constructor`, `toString`, `valueOf`, `hasOwnProperty`, …), a
 * `"__proto__"` key from `JSON.parse`, symbols and misspellings are refused naming the field and
 * listing the known ones; a non-object options argument (`5`, `null`, `[]`, a function, a string, a
 * class instance, an object inheriting its options) is refused; an explicit `undefined` for an
 * optional field is its default: the same updates, values or outputs as leaving it out. RAdam's
 * threshold must be > 4, and layer and initializer sizes are checked before anything is allocated.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import { HyperparameterError, fromArray, key, liveTensors, readTree } from '../src/index.js'
import { propertyParameters } from '../laws/runners.js'
import * as data from '../src/data/index.js'
import * as init from '../src/init/index.js'
import * as layers from '../src/layers/index.js'
import * as losses from '../src/losses/index.js'
import * as adamModule from '../src/optimizers/adam.js'
import * as adaptive from '../src/optimizers/adaptive.js'
import * as others from '../src/optimizers/others.js'
import * as sgdModule from '../src/optimizers/sgd.js'
import * as regularizers from '../src/regularizers/index.js'
import * as schedules from '../src/schedules/index.js'
import * as training from '../src/training/index.js'
import * as clipping from '../src/transforms/clipping.js'
import * as decay from '../src/transforms/decay.js'
import * as lbfgs from '../src/transforms/lbfgs.js'
import * as linesearchModule from '../src/transforms/linesearch.js'
import * as misc from '../src/transforms/misc.js'
import * as moments from '../src/transforms/moments.js'
import * as scaling from '../src/transforms/scaling.js'
import * as trust from '../src/transforms/trust.js'
import * as wrappers from '../src/transforms/wrappers.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any

const PLAIN = 'a plain options object (or undefined for the defaults)'
const NO_SUCH = 'no such option; known options are '

interface Builder {
  /** The name its errors use. */
  readonly name: string
  /** The name a non-object options argument is refused under, when it is not `name`. */
  readonly outer?: string
  readonly build: (options: unknown) => unknown
  /** The required fields, with valid values. */
  readonly required: Readonly<Record<string, unknown>>
  /** The optional fields: an explicit `undefined` must be the default. */
  readonly optional: readonly string[]
  /** What "behaves the same" compares: the updates, values or outputs of what `build` returned. */
  readonly probe: (built: Any) => Promise<unknown>
  /** `clip`: a number is a valid argument, and a bad one is refused as `bounds`. */
  readonly numberIsValid?: boolean
  readonly optionsField?: string
  readonly optionsExpected?: string
}

// ---- probes: what the built thing does -------------------------------------------------------------

const treeParams = () => ({ w: fromArray([1, -2, 3]), b: fromArray([0.5]) })
const treeGrads = (k: number) => ({ w: fromArray([0.5 - 0.1 * k, -1 + 0.3 * k, 0.25 * k]), b: fromArray([k - 2]) })

/** Seven updates (RAdam rectifies from step 6 with its defaults), with a watched value for reduceOnPlateau. */
const transformProbe = async (t: f.AnyTransformation): Promise<unknown> => {
  const p = treeParams()
  let s = t.init(p)
  const out: unknown[] = []
  for (let k = 0; k < 7; k++) {
    const [u, next] = t.update(treeGrads(k), s, p, { value: 1 / (1 + k) })
    out.push(await readTree(u))
    s = next
  }
  return out
}
const scheduleProbe = async (s: f.Schedule) => [0, 1, 3, 7, 10, 20, 100].map((k) => s(k))
const initializerProbe = async (init: f.Initializer) => readTree(init(key(0), [3, 4]))
const layerProbe = async (layer: f.AnyLayer) => {
  const { params, state, outputShape } = layer.init(key(0), [3])
  const out = layer.apply(params, state, fromArray([0.5, -1, 2, -0.25, 0.75, -3], [2, 3]), { training: true, key: key(1) })
  return { params: await readTree(params), y: await readTree(out.y), state: await readTree(out.state), outputShape, regularization: typeof layer.regularization }
}

const transform = (name: string, build: (o: Any) => unknown, optional: readonly string[], required: Record<string, unknown> = {}): Builder => ({
  name,
  build,
  required,
  optional,
  probe: transformProbe,
})
const schedule = (name: string, build: (o: Any) => unknown, required: Record<string, unknown>, optional: readonly string[]): Builder => ({
  name,
  build,
  required,
  optional,
  probe: scheduleProbe,
})
const initializer = (name: string, build: (o: Any) => unknown, optional: readonly string[]): Builder => ({ name, build, required: {}, optional, probe: initializerProbe })
const layer = (name: string, build: (o: Any) => unknown, optional: readonly string[]): Builder => ({ name, build, required: {}, optional, probe: layerProbe })

/** f(θ) = Σ‖θ‖², the objective a line search's probe passes in update's extras. */
const squares: f.ValueAndGradFn = (q) => {
  const ls = f.tree.leaves(q) as f.Tensor[]
  return [ls.map((x) => f.sumOfSquares(x)).reduce((a, b) => f.add(a, b)), f.tree.map((x: f.Tensor) => f.scaleTensor(x, 2))(q)] as const
}
/** Seven updates of a line search along −∇f (or of an optimizer given ∇f), with f(θ), ∇f(θ) and the objective in the extras. */
const linesearchProbe = (negate: boolean) => async (t: f.AnyTransformation): Promise<unknown> => {
  let p: f.Params = treeParams()
  let s = t.init(p)
  const out: unknown[] = []
  for (let k = 0; k < 7; k++) {
    const [v, grad] = squares(p)
    const value = (await readTree(v as f.Tensor))[0]!
    const [u, next] = t.update(negate ? f.tree.map((x: f.Tensor) => f.scaleTensor(x, -1))(grad) : grad, s, p, { value, grad, valueAndGradFn: squares, valueFn: (q) => squares(q)[0] })
    out.push(await readTree(u))
    p = f.applyUpdates(p, u)
    s = next
  }
  return out
}
const linesearch = (name: string, build: (o: Any) => unknown, optional: readonly string[], required: Record<string, unknown> = {}, negate = true): Builder => ({
  name,
  build,
  required,
  optional,
  probe: linesearchProbe(negate),
})

const lr = { learningRate: 0.1 }
const inner = f.sgd(lr)
const adamish = ['b1', 'b2', 'eps', 'epsRoot', 'convention']
// PyTorch's options on its optimizers (convention 'pytorch' only)
const torchish = ['weightDecay', 'maximize']
const sgdOptions = ['momentum', 'nesterov', 'dampening', 'weightDecay', 'maximize', 'convention']
const rms = ['decay', 'eps', 'epsInSqrt', 'initialScale', 'biasCorrection']
const bnInit = f.batchNorm().init(key(0), [4])
const denseInit = f.dense(4).init(key(1), [3])
const run = {
  initial: 0,
  train: (theta: number, n: number) => theta + 0.2 * n * (3 - theta),
  validationError: (theta: number) => (theta - 2.9) ** 2,
}

const builders: readonly Builder[] = [
  // transformations
  transform('trace', (o) => f.trace(o), ['decay', 'nesterov']),
  transform('ema', (o) => f.ema(o), ['decay', 'debias']),
  transform('scaleByAdam', (o) => f.scaleByAdam(o), ['b1', 'b2', 'eps', 'epsRoot', 'nesterov']),
  transform('scaleByAmsgrad', (o) => f.scaleByAmsgrad(o), ['b1', 'b2', 'eps', 'epsRoot']),
  transform('scaleByAdamax', (o) => f.scaleByAdamax(o), ['b1', 'b2', 'eps']),
  transform('scaleByRms', (o) => f.scaleByRms(o), rms),
  transform('scaleByStddev', (o) => f.scaleByStddev(o), rms),
  transform('scaleByRss', (o) => f.scaleByRss(o), ['initialAccumulatorValue', 'eps', 'epsInSqrt']),
  transform('scaleByAdadelta', (o) => f.scaleByAdadelta(o), ['rho', 'eps']),
  transform('scaleByLion', (o) => f.scaleByLion(o), ['b1', 'b2']),
  transform('scaleByRadam', (o) => f.scaleByRadam(o), ['b1', 'b2', 'eps', 'epsRoot', 'threshold']),
  transform('scaleByLearningRate', (o) => f.scaleByLearningRate(0.1, o), ['flipSign']),
  {
    ...transform('clip', (o) => f.clip(o), [], { min: -0.5, max: 1 }),
    numberIsValid: true,
    optionsField: 'bounds',
    optionsExpected: 'a number ≥ 0 (clip to [−δ, δ]) or a plain object { min, max }',
  },
  transform('adaptiveGradClip', (o) => f.adaptiveGradClip(o), ['clipping', 'eps']),
  transform('addDecayedWeights', (o) => f.addDecayedWeights(o), ['weightDecay', 'mask']),
  transform('addL1Penalty', (o) => f.addL1Penalty(o), ['mask'], { l1: 0.1 }),
  transform('addElasticNet', (o) => f.addElasticNet(o), ['mask'], { l1: 0.1, l2: 0.2 }),
  transform('addNoise', (o) => f.addNoise(o), ['eta', 'gamma', 'seed']),
  transform('scaleByTrustRatio', (o) => f.scaleByTrustRatio(o), ['minNorm', 'trustCoefficient', 'eps', 'mask']),
  transform('scaleByLbfgs', (o) => f.scaleByLbfgs(o), ['memorySize', 'scaleInitPrecond']),
  // wrappers; injectHyperparams hands the names to its factory, which refuses the unknown ones
  { ...transform('sgd', (o) => f.injectHyperparams(f.sgd)(o), sgdOptions, lr), outer: 'injectHyperparams' },
  transform('applyIfFinite', (o) => f.applyIfFinite(inner, o), ['maxConsecutiveErrors']),
  transform('multiSteps', (o) => f.multiSteps(inner, o), [], { everyK: 2 }),
  transform('lookahead', (o) => f.lookahead(inner, o), ['syncPeriod', 'slowStepSize']),
  transform('emaParams', (o) => f.emaParams(o), ['decay']),
  transform('reduceOnPlateau', (o) => f.reduceOnPlateau(o), ['factor', 'patience', 'cooldown', 'minScale', 'rtol', 'atol', 'accumulationSize']),
  // optimizers
  transform('sgd', (o) => f.sgd(o), sgdOptions, lr),
  transform('momentum', (o) => f.momentum(o), ['momentum', 'nesterov'], lr),
  transform('noisySgd', (o) => f.noisySgd(o), ['eta', 'gamma', 'seed'], lr),
  transform('adagrad', (o) => f.adagrad(o), ['initialAccumulatorValue', 'eps', 'lrDecay', 'weightDecay', 'maximize', 'convention'], lr),
  transform('rmsprop', (o) => f.rmsprop(o), ['decay', 'eps', 'centered', 'momentum', 'nesterov', 'initialScale', 'epsInSqrt', 'biasCorrection', 'weightDecay', 'maximize', 'convention'], lr),
  transform('adadelta', (o) => f.adadelta(o), ['rho', 'eps', 'weightDecay', 'maximize', 'convention'], lr),
  transform('adam', (o) => f.adam(o), [...adamish, 'nesterov', ...torchish], lr),
  transform('adamw', (o) => f.adamw(o), [...adamish, 'weightDecay', 'mask', 'nesterov', 'maximize'], lr),
  transform('nadam', (o) => f.nadam(o), [...adamish, ...torchish, 'momentumDecay', 'decoupledWeightDecay'], lr),
  transform('amsgrad', (o) => f.amsgrad(o), [...adamish, ...torchish, 'biasCorrectionMu', 'biasCorrectionNu'], lr),
  transform('adamax', (o) => f.adamax(o), ['b1', 'b2', 'eps', 'convention', ...torchish], lr),
  transform('radam', (o) => f.radam(o), [...adamish, 'threshold', 'nesterov', ...torchish, 'decoupledWeightDecay'], lr),
  transform('lion', (o) => f.lion(o), ['b1', 'b2', 'weightDecay', 'mask', 'convention'], lr),
  transform('lamb', (o) => f.lamb(o), ['b1', 'b2', 'eps', 'epsRoot', 'weightDecay', 'mask'], lr),
  transform('lars', (o) => f.lars(o), ['weightDecay', 'weightDecayMask', 'trustCoefficient', 'eps', 'trustRatioMask', 'momentum', 'nesterov'], lr),
  linesearch('scaleByBacktrackingLinesearch', (o) => f.scaleByBacktrackingLinesearch(o), ['slopeRtol', 'decreaseFactor', 'increaseFactor', 'maxLearningRate', 'atol', 'rtol', 'storeGrad'], { maxBacktrackingSteps: 10 }),
  linesearch('scaleByZoomLinesearch', (o) => f.scaleByZoomLinesearch(o), ['maxLearningRate', 'tol', 'increaseFactor', 'slopeRtol', 'curvRtol', 'approxDecRtol', 'stepsizePrecision', 'initialGuessStrategy'], { maxLinesearchSteps: 10 }),
  // lbfgs takes the gradient (its line search then scales its direction)
  linesearch('lbfgs', (o) => f.lbfgs(o), ['learningRate', 'memorySize', 'scaleInitPrecond', 'linesearch'], {}, false),
  {
    name: 'minimize',
    build: (o) => f.minimize(squares, treeParams(), f.lbfgs(), o as Any),
    required: {},
    optional: ['maxIterations', 'tolerance'],
    probe: async (r: f.MinimizeResult<f.Params, unknown>) => ({ params: await readTree(r.params), iterations: r.iterations, values: r.values }),
  },
  // schedules
  schedule('linear', (o) => f.linear(o), { init: 1, end: 0.1, transitionSteps: 10 }, ['transitionBegin']),
  schedule('warmupConstant', (o) => f.warmupConstant(o), { peak: 1, warmupSteps: 3 }, ['init']),
  schedule('warmupExponentialDecay', (o) => f.warmupExponentialDecay(o), { peak: 1, warmupSteps: 3, transitionSteps: 5, decayRate: 0.5 }, ['init', 'transitionBegin', 'staircase', 'end']),
  schedule('piecewiseInterpolate', (o) => f.piecewiseInterpolate(o), { interpolateType: 'linear', init: 1 }, ['boundariesAndScales']),
  schedule('linearOnecycle', (o) => f.linearOnecycle(o), { transitionSteps: 100, peak: 1 }, ['pctStart', 'pctFinal', 'divFactor', 'finalDivFactor']),
  schedule('polynomial', (o) => f.polynomial(o), { init: 1, end: 0.1, power: 2, transitionSteps: 10 }, ['transitionBegin']),
  schedule('exponentialDecay', (o) => f.exponentialDecay(o), { init: 1, transitionSteps: 3, decayRate: 0.5 }, ['transitionBegin', 'staircase', 'end']),
  schedule('inverseTimeDecay', (o) => f.inverseTimeDecay(o), { init: 1, decayRate: 0.5 }, ['decaySteps', 'staircase']),
  schedule('naturalExpDecay', (o) => f.naturalExpDecay(o), { init: 1, decayRate: 0.5 }, ['decaySteps', 'staircase']),
  schedule('stepDecay', (o) => f.stepDecay(o), { init: 1, factor: 0.5, stepSize: 3 }, []),
  schedule('piecewiseConstant', (o) => f.piecewiseConstant(o), { boundaries: [2, 8], values: [1, 0.5, 0.1] }, []),
  schedule('momentumAnnealing', (o) => f.momentumAnnealing(o), { transitionSteps: 10 }, ['init', 'end']),
  schedule('cosineDecay', (o) => f.cosineDecay(o), { init: 1, decaySteps: 10 }, ['alpha', 'exponent']),
  schedule('warmupCosineDecay', (o) => f.warmupCosineDecay(o), { peak: 1, warmupSteps: 3, decaySteps: 20 }, ['init', 'end', 'exponent']),
  schedule('sgdr', (o) => f.sgdr(o), { max: 1, period: 5 }, ['min', 'mult']),
  schedule('onecycle', (o) => f.onecycle(o), { transitionSteps: 50, peak: 1 }, ['pctStart', 'divFactor', 'finalDivFactor']),
  // initializers
  initializer('uniformInit', (o) => f.uniformInit(o), ['minval', 'maxval']),
  initializer('normalInit', (o) => f.normalInit(o), ['mean', 'stddev']),
  initializer('truncatedNormalInit', (o) => f.truncatedNormalInit(o), ['mean', 'stddev']),
  initializer('varianceScaling', (o) => f.varianceScaling(o), ['scale', 'mode', 'distribution']),
  initializer('glorotNormal', (o) => f.glorotNormal(o), ['gain']),
  initializer('glorotUniform', (o) => f.glorotUniform(o), ['gain']),
  initializer('orthogonal', (o) => f.orthogonal(o), ['gain']),
  // layers
  layer('dense', (o) => f.dense(3, o), ['kernelInitializer', 'biasInitializer', 'kernelRegularizer', 'biasRegularizer']),
  layer('noisyDense', (o) => f.noisyDense(3, o), ['kernelInitializer', 'biasInitializer', 'kernelRegularizer', 'biasRegularizer', 'stddev']),
  layer('leakyRelu', (o) => f.leakyRelu(o), ['alpha']),
  layer('elu', (o) => f.elu(o), ['alpha']),
  layer('batchNorm', (o) => f.batchNorm(o), ['momentum', 'eps']),
  {
    name: 'foldBatchNorm',
    build: (o) => f.foldBatchNorm(denseInit.params, bnInit.params, bnInit.state, o as Any),
    required: {},
    optional: ['eps'],
    probe: (p: f.DenseParams) => readTree(p),
  },
  // losses, regularizers, data, early stopping
  { name: 'huber', build: (o) => f.huber(o as Any), required: {}, optional: ['delta'], probe: async (l: f.Loss) => readTree(l(fromArray([0.5, 3, -2]), fromArray([0, 0, 0]))) },
  { name: 'l1l2', build: (o) => f.l1l2(o as Any), required: {}, optional: ['l1', 'l2'], probe: async (r: f.Regularizer) => readTree(r(fromArray([1, -2, 0]))) },
  {
    name: 'fitStandardizer',
    build: (o) => f.fitStandardizer(f.hostMatrix([1, 10, 2, 20, 3, 30], 3, 2), o as Any),
    required: {},
    optional: ['minStd'],
    probe: async (s: f.Standardizer) => s.transform(f.hostMatrix([4, 40], 1, 2)).data,
  },
  {
    name: 'earlyStoppingMonitor',
    build: (o) => f.earlyStoppingMonitor(o as Any),
    required: { patience: 2 },
    optional: ['minDelta', 'baseline', 'startStep'],
    probe: async (m: f.EarlyStoppingMonitor) => [0.9, 0.7, 0.72, 0.71, 0.6, 0.65, 0.66].map((v, i) => m.observe(i, v)),
  },
  {
    name: 'earlyStopping',
    build: (o) => f.earlyStopping(o as Any, run),
    required: { evaluateEvery: 2, patience: 2 },
    optional: ['minDelta', 'baseline', 'startStep', 'maxSteps'],
    probe: async (r: unknown) => r,
  },
]

/**
 * The builder modules, each as `src/index.ts` re-exports it; every function they export is either in
 * the table above or one of these, which take no options object (positional arguments or none:
 * validated in test/validation.test.ts) or are not builders.
 */
const builderModules = [scaling, moments, clipping, decay, misc, trust, lbfgs, linesearchModule, wrappers, sgdModule, adaptive, adamModule, others, schedules, init, layers, losses, regularizers, data, training]
const withoutOptionsObject = new Set([
  'scale', 'scaleBySchedule', 'clipByBlockRms', 'clipByGlobalNorm', 'clipByNorm', 'globalNorm', 'l2Norm', 'centralize', 'keepParamsNonnegative',
  'scaleBySign', 'zeroNans', 'applyEvery', 'freeze', 'masked', 'multiTransform', 'partition', 'constant', 'joinSchedules', 'constantInit', 'fans',
  'heNormal', 'heUniform', 'lecunNormal', 'lecunUniform', 'zerosInit', 'checkInput', 'sequential', 'relu', 'sigmoid', 'softplus', 'tanh', 'dropout',
  'gaussianNoise', 'binaryCrossEntropyFromLogits', 'checkLabels', 'hinge', 'meanAbsoluteError', 'meanSquaredError', 'multiclassHinge',
  'softmaxCrossEntropy', 'l1', 'l2', 'epochBatches', 'fitCentering', 'hostMatrix', 'oneHot', 'permutation', 'takeRows', 'toTensor',
  // `injectHyperparams(factory)` returns the options builder tested above
  'injectHyperparams',
  // takes the objective, returns the loop's value-and-gradient function
  'valueAndGradFromState',
  // wraps a layer's gradients and the function computing its input gradient
  'lazyInputGradient',
])
/** Builders whose options mix data with hyperparameters and are not strict yet (see the report). */
// options that mix data with hyperparameters: their names and types are checked in test/regressions.test.ts
const notStrictYet = new Set(['gradCheck', 'evaluate', 'fit'])

// ---- helpers --------------------------------------------------------------------------------------

type Attempt = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown }
const attempt = async (thunk: () => unknown): Promise<Attempt> => {
  try {
    return { ok: true, value: await thunk() }
  } catch (error) {
    return { ok: false, error }
  }
}
const refused = async (thunk: () => unknown): Promise<HyperparameterError> => {
  const a = await attempt(thunk)
  if (a.ok) throw new Error('expected a HyperparameterError, but the call returned')
  expect(a.error).toBeInstanceOf(HyperparameterError)
  return a.error as HyperparameterError
}
const built = async (b: Builder, options: unknown): Promise<unknown> => {
  const a = await attempt(() => b.build(options))
  if (!a.ok) throw a.error
  return a.value
}
const known = (b: Builder) => [...Object.keys(b.required), ...b.optional].sort()
const knownOf = (e: HyperparameterError) => e.expected.slice(NO_SUCH.length).split(', ').sort()

/** A refusal of the unknown name `field`, listing exactly the builder's fields. */
const expectUnknown = (b: Builder, e: HyperparameterError, field: string, value: unknown) => {
  expect([e.transform, e.field, e.value]).toEqual([b.name, field, value])
  expect(e.expected.startsWith(NO_SUCH), e.expected).toBe(true)
  expect(knownOf(e)).toEqual(known(b))
}

const everyObjectHas = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString', '__defineGetter__', '__lookupGetter__']
const misspellings = (name: string): string[] => [name.toLowerCase(), `${name}s`, name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), name.slice(0, -1)]

class OptionsClass {
  readonly learningRate = 0.1
}
const nonObjects = (b: Builder): unknown[] => [
  ...(b.numberIsValid ? [] : [5, 0, Number.NaN]),
  null,
  [],
  [b.required],
  () => 1,
  'x',
  '',
  true,
  Symbol('options'),
  10n,
  new Date(0),
  new Map(Object.entries(b.required)),
  new OptionsClass(),
  // options it would only inherit: a prototype is not read
  Object.create(b.required),
]

// ---- the table ------------------------------------------------------------------------------------

describe('every exported options builder is strict', () => {
  it('the table lists every builder that takes an options object', () => {
    const exported = builderModules.flatMap((m) =>
      Object.entries(m)
        .filter(([, v]) => typeof v === 'function')
        .map(([k]) => k),
    )
    for (const k of exported) expect([k, (f as Record<string, unknown>)[k] !== undefined]).toEqual([k, true])
    const listed = new Set(builders.map((b) => (b.outer === 'injectHyperparams' ? 'injectHyperparams' : b.name)))
    const unclassified = exported.filter((k) => !listed.has(k) && !withoutOptionsObject.has(k) && !notStrictYet.has(k))
    expect(unclassified).toEqual([])
    expect(builders.length).toBe(79)
  })

  it.each(builders.map((b) => [b.outer ?? b.name, b] as const))(
    '%s',
    async (_n, b) => {
      await built(b, b.required)

      // names every object has, and a "__proto__" key as JSON.parse makes it
      for (const name of everyObjectHas) expectUnknown(b, await refused(() => b.build({ ...b.required, [name]: 1 })), name, 1)
      const parsed = Object.assign(JSON.parse('{"__proto__": {"polluted": true}}') as object, b.required)
      expect(Object.hasOwn(parsed, '__proto__')).toBe(true)
      expectUnknown(b, await refused(() => b.build(parsed)), '__proto__', { polluted: true })
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      const sym = Symbol('option')
      const es = await refused(() => b.build({ ...b.required, [sym]: 1 }))
      expect([es.transform, es.field]).toEqual([b.name, 'Symbol(option)'])

      // misspellings of each field, and arbitrary unknown names
      for (const field of known(b)) {
        for (const typo of misspellings(field).filter((x) => x !== '' && !known(b).includes(x))) {
          expectUnknown(b, await refused(() => b.build({ ...b.required, [typo]: 0.5 })), typo, 0.5)
        }
      }
      await fc.assert(
        fc.asyncProperty(
          fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !known(b).includes(k)),
          async (k) => expectUnknown(b, await refused(() => b.build({ ...b.required, [k]: 'v' })), k, 'v'),
        ),
        propertyParameters(10),
      )

      // options that are not a plain object
      for (const bad of nonObjects(b)) {
        const e = await refused(() => b.build(bad))
        expect([e.transform, e.field, e.expected]).toEqual([b.outer ?? b.name, b.optionsField ?? 'options', b.optionsExpected ?? PLAIN])
        expect(Object.is(e.value, bad)).toBe(true)
      }

      // an explicit undefined is the default, and so are undefined options when nothing is required
      const reference = await b.probe(await built(b, b.required))
      for (const field of b.optional) {
        expect([field, await b.probe(await built(b, { ...b.required, [field]: undefined }))]).toEqual([field, reference])
      }
      expect(await b.probe(await built(b, Object.fromEntries(known(b).map((k) => [k, b.required[k]]))))).toEqual(reference)
      if (Object.keys(b.required).length === 0) expect(await b.probe(await built(b, undefined))).toEqual(reference)
      else if (!b.numberIsValid) {
        const e = await refused(() => b.build(undefined))
        expect([e.transform, Object.keys(b.required).includes(e.field), e.value]).toEqual([b.name, true, undefined])
      }
    },
  )
})

// ---- RAdam's threshold ----------------------------------------------------------------------------

describe("RAdam's threshold is a finite number > 4", () => {
  const RANGE = 'a finite number > 4 (RAdam rectifies only where ρₜ > 4)'
  const radams = [
    ['radam', (threshold: unknown) => f.radam({ learningRate: 0.1, threshold } as Any)],
    ['scaleByRadam', (threshold: unknown) => f.scaleByRadam({ threshold } as Any)],
  ] as const

  it.each(radams)('%s refuses thresholds ≤ 4 and non-finite ones', async (name, make) => {
    // 3 used to give NaN params at step 4: ρ₄ ≈ 3.997 ≥ 3, and ρ₄ − 4 < 0 under the root
    for (const bad of [3, 4, 4 - 2 ** -50, 0, -5, Number.NaN, Infinity, -Infinity]) {
      const e = await refused(() => make(bad))
      expect([e.transform, e.field, e.value, e.expected]).toEqual([name, 'threshold', bad, RANGE])
    }
    await fc.assert(
      fc.asyncProperty(fc.double({ max: 4, noNaN: true }), async (t) => {
        expect((await refused(() => make(t))).field).toBe('threshold')
      }),
      propertyParameters(50),
    )
  })

  const finiteRun = async (t: f.AnyTransformation, grads: readonly (readonly number[])[]): Promise<boolean> => {
    const p = { w: fromArray([1, -2, 0.5]) }
    let s = t.init(p)
    for (const g of grads) {
      const [u, next] = t.update({ w: fromArray(g as number[]) }, s, p)
      const values = ((await readTree(u)) as Any).w as Float32Array
      if (!values.every(Number.isFinite)) return false
      s = next
    }
    return true
  }

  it('any threshold > 4 gives finite updates, through the switch to the rectified step', async () => {
    const gradient = fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 3, maxLength: 3 })
    await fc.assert(
      fc.asyncProperty(
        fc.double({ min: 4, max: 60, noNaN: true, minExcluded: true }),
        fc.double({ min: 0, max: 0.9999, noNaN: true }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        fc.array(gradient, { minLength: 12, maxLength: 12 }),
        async (threshold, b2, b1, grads) => {
          expect(await finiteRun(f.scaleByRadam({ threshold, b1, b2 }), grads)).toBe(true)
        },
      ),
      propertyParameters(30),
    )
  })

  it('just above 4 with ρ∞ = 4 (β₂ = 0.6), where a threshold of 4 would give 0/0 at step 81', async () => {
    const grads = Array.from({ length: 100 }, (_, k) => [Math.sin(k), 1, -0.5])
    expect(await finiteRun(f.scaleByRadam({ threshold: 4 + 1e-12, b2: 0.6 }), grads)).toBe(true)
    expect(await finiteRun(f.radam({ learningRate: 0.1, threshold: 4.000001, b2: 0.999 }), grads.slice(0, 12))).toBe(true)
  })
})

// ---- layers and initializers ----------------------------------------------------------------------

describe('layer options are validated when the layer is built, and sizes before anything is allocated', () => {
  const fast = async (thunk: () => unknown): Promise<HyperparameterError> => {
    const live = liveTensors()
    const t0 = performance.now()
    const e = await refused(thunk)
    expect(performance.now() - t0).toBeLessThan(1000)
    expect(liveTensors()).toBe(live)
    return e
  }

  it('dense(1e9) and other oversized layers are refused at once, naming the field and the size', async () => {
    const units = await fast(() => f.dense(1e9))
    expect([units.transform, units.field, units.value, units.expected]).toEqual(['dense', 'units', 1e9, 'an integer in [1, 2^28 = 268435456]'])
    expect((await fast(() => f.noisyDense(2 ** 28 + 1))).field).toBe('units')
    expect(() => f.dense(2 ** 28)).not.toThrow()
    // the kernel [in, units] of 10^10 elements: refused before either initializer runs
    const calls: string[] = []
    const spy = (name: string): f.Initializer => (k, shape, backend) => {
      calls.push(name)
      return f.zerosInit()(k, shape, backend)
    }
    const layer = f.dense(100_000, { kernelInitializer: spy('kernel'), biasInitializer: spy('bias') })
    const kernel = await fast(() => layer.init(key(0), [100_000]))
    expect([kernel.transform, kernel.field, kernel.value]).toEqual(['dense(100000)', 'kernel', [100_000, 100_000]])
    expect(kernel.expected).toBe('a shape with at most 2^28 = 268435456 elements; this one has 10000000000')
    expect(calls).toEqual([])
    for (const bad of [[1.5], [-1], ['3'], 3, null]) expect((await fast(() => f.dense(2).init(key(0), bad as Any))).field).toBe('inputShape')
    expect((await fast(() => f.batchNorm().init(key(0), [2 ** 29]))).field).toBe('inputShape')
  })

  it('every initializer checks the shape it is asked for before drawing anything', async () => {
    const initializers: [string, f.Initializer][] = [
      ['zerosInit', f.zerosInit()],
      ['constantInit', f.constantInit(2)],
      ['uniformInit', f.uniformInit()],
      ['normalInit', f.normalInit()],
      ['truncatedNormalInit', f.truncatedNormalInit()],
      ['varianceScaling', f.varianceScaling()],
      ['glorotNormal', f.glorotNormal()],
      ['glorotUniform', f.glorotUniform()],
      ['heNormal', f.heNormal()],
      ['heUniform', f.heUniform()],
      ['lecunNormal', f.lecunNormal()],
      ['lecunUniform', f.lecunUniform()],
      ['orthogonal', f.orthogonal()],
    ]
    for (const [name, init] of initializers) {
      const big = await fast(() => init(key(0), [100_000, 100_000]))
      expect([big.transform, big.field, big.value, big.expected]).toEqual([name, 'shape', [100_000, 100_000], 'a shape with at most 2^28 = 268435456 elements; this one has 10000000000'])
      expect((await fast(() => init(key(0), [2 ** 14, 2 ** 14, 2]))).field).toBe('shape')
      for (const bad of [[2, 1.5], [-1, 2], [Number.NaN, 2], 'x', null]) expect((await fast(() => init(key(0), bad as Any))).field).toBe('shape')
      const ok = init(key(0), [3, 2])
      expect(ok.shape).toEqual([3, 2])
      f.dispose(ok)
    }
  })

  it('misspelt, mistyped and missing layer options are named when the layer is built', async () => {
    const misspelt = await refused(() => f.dense(3, { kernelInitialiser: f.heNormal() } as Any))
    expect([misspelt.transform, misspelt.field]).toEqual(['dense', 'kernelInitialiser'])
    const five = await refused(() => f.dense(3, { kernelInitializer: 5 } as Any))
    expect([five.transform, five.field, five.value, five.expected]).toEqual(['dense', 'kernelInitializer', 5, 'an initializer (key, shape, backend?) => Tensor'])
    const reg = await refused(() => f.noisyDense(3, { biasRegularizer: 0.1 } as Any))
    expect([reg.transform, reg.field, reg.expected]).toEqual(['noisyDense', 'biasRegularizer', 'a regularizer (w) => { value, grad }, or undefined'])
    expect((await refused(() => f.dense(3, null as Any))).field).toBe('options')
    const seq = await refused(() => f.sequential([f.dense(2), null] as Any))
    expect([seq.transform, seq.field, seq.value, seq.expected]).toEqual(['sequential', 'layers.1', null, 'a layer { name, init, apply }'])
    for (const bad of [null, 5, { layers: [] }]) expect((await refused(() => f.sequential(bad as Any))).field).toBe('layers')
    for (const bad of [{}, { name: 'x', init: () => 0 }, f.dense]) expect((await refused(() => f.sequential([bad] as Any))).field).toBe('layers.0')
  })

  it('an initializer that does not return a tensor of the asked shape is named at init', async () => {
    const notTensor = await refused(() => f.dense(3, { kernelInitializer: (() => 5) as Any }).init(key(0), [2]))
    expect([notTensor.transform, notTensor.field, notTensor.value, notTensor.expected]).toEqual(['dense(3)', 'kernelInitializer', 5, 'an initializer returning a Tensor of shape [2, 3]'])
    const wrong = await refused(() => f.dense(3, { biasInitializer: (k: Any, _s: Any, b: Any) => f.zerosInit()(k, [4], b) }).init(key(0), [2]))
    expect([wrong.field, wrong.value]).toEqual(['biasInitializer', 'a Tensor of shape [4]'])
  })
})
