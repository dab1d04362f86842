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
import * as modernTransforms from '../src/transforms/modern.js'
import * as modernOptimizers from '../src/optimizers/modern.js'
import * as factoredTransforms from '../src/transforms/factored.js'
import * as factoredOptimizers from '../src/optimizers/factored.js'
import * as contribTransforms from '../src/transforms/contrib.js'
import * as contribOptimizers from '../src/optimizers/contrib.js'
import * as gradients from '../src/transforms/gradients.js'
import * as privacy from '../src/transforms/privacy.js'
import * as asgdFtrlTransforms from '../src/transforms/asgd-ftrl.js'
import * as asgdFtrlOptimizers from '../src/optimizers/asgd-ftrl.js'
import * as parameterFreeTransforms from '../src/transforms/parameter-free.js'
import * as parameterFreeOptimizers from '../src/optimizers/parameter-free.js'
import * as muonTransforms from '../src/transforms/muon.js'
import * as scheduleFreeTransforms from '../src/transforms/schedule-free.js'
import * as muonOptimizers from '../src/optimizers/muon.js'
import * as scheduleFreeOptimizers from '../src/optimizers/schedule-free.js'
import * as conditional from '../src/transforms/conditional.js'
import * as monitoring from '../src/transforms/monitoring.js'
import * as inject from '../src/transforms/inject.js'
import * as microbatchModule from '../src/transforms/microbatch.js'

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

interface ObjectiveRun {
  /** The params to start from (treeParams). */
  readonly start?: () => f.Params
  /** A primitive `scaleBy…` returns a step along +∇f: the params move by −u so that they descend. */
  readonly primitive?: boolean
  /** What the final state and params give besides the updates (ASGD's averaged params). */
  readonly after?: (state: unknown, params: f.Params) => f.Params
}
/**
 * A read tree with its large leaves as the base64 of their float32 bits: the same equality (bit for
 * bit, −0 ≠ 0) at a fraction of the cost of comparing 16384 elements one by one.
 */
const compact = (x: unknown): unknown => {
  if (x instanceof Float32Array) return x.length > 64 ? `float32 bits ${Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64')}` : x
  if (Array.isArray(x)) return x.map(compact)
  if (typeof x === 'object' && x !== null) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, compact(v)]))
  return x
}
/**
 * Seven steps on f(θ) = Σ‖θ‖², the params moved by the updates, with every extra the optimizers
 * read: f(θ) (Polyak, MoMo), ∇f(θ), the objective and the gradient function (SAM's opaque mode), and
 * a Hessian-diagonal estimate for Sophia (10⁵ rather than the true 2: its EMA after step 0 is 10³,
 * and γh = 10 leaves the steps unclipped, so that they depend on its options).
 */
const objectiveProbe =
  ({ start = treeParams, primitive = false, after }: ObjectiveRun = {}) =>
  async (t: f.AnyTransformation): Promise<unknown> => {
    let p: f.Params = start()
    let s = t.init(p)
    const out: unknown[] = []
    const hessianDiagonal = f.tree.map((x: f.Tensor) => fromArray(new Array<number>(x.size).fill(1e5), x.shape))(p)
    for (let k = 0; k < 7; k++) {
      const [v, grad] = squares(p)
      const value = (await readTree(v as f.Tensor))[0]!
      const extras = { value, grad, valueAndGradFn: squares, valueFn: (q: f.Params) => squares(q)[0], gradFn: (q: f.Params) => squares(q)[1], hessianDiagonal }
      const [u, next] = t.update(grad, s, p, extras)
      out.push(compact(await readTree(u)))
      p = f.applyUpdates(p, primitive ? f.tree.map((x: f.Tensor) => f.scaleTensor(x, -1))(u) : u)
      s = next
    }
    if (after !== undefined) out.push(compact(await readTree(after(s, p))))
    return out
  }
const objective = (name: string, build: (o: Any) => unknown, optional: readonly string[], required: Record<string, unknown> = {}, run: ObjectiveRun = {}): Builder => ({
  name,
  build,
  required,
  optional,
  probe: objectiveProbe(run),
})
const primitive = (name: string, build: (o: Any) => unknown, optional: readonly string[], required: Record<string, unknown> = {}): Builder =>
  objective(name, build, optional, required, { primitive: true })
/** A vector and a 128 × 128 matrix: Adafactor factors the second moment of a matrix whose two dimensions are ≥ 128 (its default). */
const matrixParams = () => ({ w: fromArray([1, -2, 3]), k: fromArray(Array.from({ length: 128 * 128 }, (_, i) => Math.sin(i)), [128, 128]) })
/** A wide and a tall matrix: Muon orthogonalises 2-D leaves only. */
const muonParams = () => ({ w: fromArray([1, -2, 3, 0.5, 2, -1], [2, 3]), v: fromArray([0.25, 1, -1.5, 2, 3, -0.5], [3, 2]) })
/** And a vector, which muon sends to AdamW. */
const muonMixed = () => ({ ...muonParams(), b: fromArray([0.5, -1]) })
/** Every other step without the extras, every third with them. */
const everyOther: f.ShouldTransformFn = (step, extras) => (extras === undefined ? step % 2 === 0 : step % 3 === 0)
/** Σ‖x ⊙ w‖² over a batch x (rows), microbatched over its second argument. */
const batchLoss = (w: f.Tensor, x: f.Tensor): f.Tensor => f.sumOfSquares(f.mul(x, w))
/** Per-example gradients, a leading batch axis of 2 on each leaf of treeParams. */
const perExample = (k: number) => ({ w: fromArray([0.5 - 0.1 * k, -1 + 0.3 * k, 0.25 * k, 2, -k, 0.5], [2, 3]), b: fromArray([k - 2, 3], [2, 1]) })
/** Seven DP-SGD steps from per-example gradients. */
const perExampleProbe = async (t: f.AnyTransformation): Promise<unknown> => {
  const p = treeParams()
  let s = t.init(p)
  const out: unknown[] = []
  for (let k = 0; k < 7; k++) {
    const [u, next] = t.update(perExample(k), s, p)
    out.push(await readTree(u))
    s = next
  }
  return out
}
/** H = 2I + 11ᵀ on each leaf: its Hutchinson estimate 2 + vᵢΣv depends on the probes drawn. */
const hvp: f.HessianVectorProduct = (_p, v) => f.tree.map((x: f.Tensor) => f.add(f.scaleTensor(x, 2), f.sum(x)))(v)
/** ∇ of Σθ⁴/4, θ³: its finite-difference Hessian-vector product depends on the step h. */
const cubes = (q: f.Params): f.Params => f.tree.map((x: f.Tensor) => f.mul(x, f.mul(x, x)))(q)

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
  // modern primitives and optimizers (src/transforms/modern.ts, src/optimizers/modern.ts)
  primitive('scaleByBelief', (o) => f.scaleByBelief(o), ['b1', 'b2', 'eps', 'epsRoot', 'nesterov']),
  primitive('scaleByYogi', (o) => f.scaleByYogi(o), ['b1', 'b2', 'eps', 'epsRoot', 'initialAccumulatorValue']),
  primitive('scaleByAdan', (o) => f.scaleByAdan(o), ['b1', 'b2', 'b3', 'eps', 'epsRoot']),
  primitive('scaleByNovograd', (o) => f.scaleByNovograd(o), ['b1', 'b2', 'eps', 'epsRoot', 'weightDecay']),
  // a learning rate of 1 overshoots the minimum, so that the sign flips and etaMinus shrinks the steps
  primitive('scaleByRprop', (o) => f.scaleByRprop(o), ['etaMinus', 'etaPlus', 'minStepSize', 'maxStepSize'], { learningRate: 1 }),
  primitive('scaleByOptimisticGradient', (o) => f.scaleByOptimisticGradient(o), ['alpha', 'beta']),
  objective('adabelief', (o) => f.adabelief(o), ['b1', 'b2', 'eps', 'epsRoot', 'nesterov'], lr),
  objective('yogi', (o) => f.yogi(o), ['b1', 'b2', 'eps'], lr),
  objective('adan', (o) => f.adan(o), ['b1', 'b2', 'b3', 'eps', 'epsRoot', 'weightDecay', 'mask'], lr),
  objective('adamaxw', (o) => f.adamaxw(o), ['b1', 'b2', 'eps', 'weightDecay', 'mask'], lr),
  objective('nadamw', (o) => f.nadamw(o), ['b1', 'b2', 'eps', 'epsRoot', 'weightDecay', 'mask'], lr),
  objective('novograd', (o) => f.novograd(o), ['b1', 'b2', 'eps', 'epsRoot', 'weightDecay'], lr),
  objective('rprop', (o) => f.rprop(o), ['etaMinus', 'etaPlus', 'minStepSize', 'maxStepSize'], { learningRate: 1 }),
  objective('signSgd', (o) => f.signSgd(o), [], lr),
  objective('signum', (o) => f.signum(o), ['beta'], lr),
  objective('optimisticGradientDescent', (o) => f.optimisticGradientDescent(o), ['alpha', 'beta'], lr),
  objective('optimisticAdam', (o) => f.optimisticAdam(o), ['alpha', 'beta', 'b1', 'b2', 'eps', 'epsRoot', 'nesterov'], lr),
  // factored and Polyak (src/transforms/factored.ts, src/optimizers/factored.ts)
  objective('scaleByFactoredRms', (o) => f.scaleByFactoredRms(o), ['factored', 'decayRate', 'stepOffset', 'minDimSizeToFactor', 'epsilon'], {}, { start: matrixParams, primitive: true }),
  objective('scaleByParamBlockRms', (o) => f.scaleByParamBlockRms(o), ['minScale'], {}, { start: matrixParams, primitive: true }),
  objective('scaleBySm3', (o) => f.scaleBySm3(o), ['b1', 'b2', 'eps'], {}, { start: matrixParams, primitive: true }),
  primitive('scaleByPolyak', (o) => f.scaleByPolyak(o), ['fMin', 'maxLearningRate', 'eps', 'variant']),
  objective('adafactor', (o) => f.adafactor(o), ['learningRate', 'minDimSizeToFactor', 'decayRate', 'decayOffset', 'multiplyByParameterScale', 'clippingThreshold', 'momentum', 'weightDecayRate', 'eps', 'factored', 'weightDecayMask'], {}, { start: matrixParams }),
  objective('sm3', (o) => f.sm3(o), ['momentum', 'b2', 'eps'], lr, { start: matrixParams }),
  objective('fromage', (o) => f.fromage(o), ['minNorm'], lr),
  objective('polyakSgd', (o) => f.polyakSgd(o), ['maxLearningRate', 'scaling', 'fMin', 'eps', 'variant']),
  // Optax contrib (src/transforms/contrib.ts, src/optimizers/contrib.ts)
  primitive('scaleByAdopt', (o) => f.scaleByAdopt(o), ['b1', 'b2', 'eps', 'nesterov', 'useClipping', 'clipValueFn']),
  primitive('scaleByAdemamix', (o) => f.scaleByAdemamix(o), ['b1', 'b2', 'b3', 'alpha', 'eps', 'epsRoot']),
  schedule('ademamixAlphaSchedule', (o) => f.ademamixAlphaSchedule(o), { alpha: 5, warmupSteps: 10 }, []),
  schedule('ademamixBeta3Schedule', (o) => f.ademamixBeta3Schedule(o), { b3Start: 0.9, b3: 0.999, warmupSteps: 10 }, []),
  primitive('scaleBySimplifiedAdemamix', (o) => f.scaleBySimplifiedAdemamix(o), ['b1', 'b2', 'alpha', 'eps', 'epsRoot']),
  objective('scaleByMadgrad', (o) => f.scaleByMadgrad(o), ['momentum', 'eps'], lr),
  primitive('scaleBySophia', (o) => f.scaleBySophia(o), ['b1', 'b2', 'eps', 'gamma', 'clipThreshold', 'updateInterval']),
  {
    name: 'hutchinsonHessianDiagonal',
    build: (o) => f.hutchinsonHessianDiagonal(hvp, treeParams(), key(3), o as Any),
    required: {},
    optional: ['samples'],
    probe: (h: f.Params) => readTree(h),
  },
  {
    name: 'finiteDifferenceHvp',
    build: (o) => f.finiteDifferenceHvp(cubes, o as Any),
    required: {},
    optional: ['h'],
    probe: (product: f.HessianVectorProduct) => readTree(product(treeParams(), treeGrads(3))),
  },
  // an adversary with state (momentum), which resetState re-initialises
  objective('sam', (o) => f.sam(inner, f.chain(f.normalizeByGlobalNorm(), f.sgd({ learningRate: 0.05, momentum: 0.9 })), o), ['syncPeriod', 'resetState', 'opaqueMode']),
  objective('adopt', (o) => f.adopt(o), ['b1', 'b2', 'eps', 'nesterov', 'useClipping', 'clipValueFn'], lr),
  objective('ademamix', (o) => f.ademamix(o), ['b1', 'b2', 'b3', 'alpha', 'eps', 'epsRoot', 'weightDecay', 'mask'], lr),
  objective('simplifiedAdemamix', (o) => f.simplifiedAdemamix(o), ['b1', 'b2', 'alpha', 'eps', 'epsRoot', 'weightDecay', 'mask'], lr),
  objective('madgrad', (o) => f.madgrad(o), ['momentum', 'weightDecay', 'eps'], lr),
  objective('sophia', (o) => f.sophia(o), ['b1', 'b2', 'eps', 'weightDecay', 'weightDecayMask', 'gamma', 'clipThreshold', 'updateInterval'], lr),
  // gradient wrappers and differential privacy (src/transforms/gradients.ts, src/transforms/privacy.ts)
  primitive('normalizeByUpdateNorm', (o) => f.normalizeByUpdateNorm(o), ['scaleFactor', 'eps']),
  // ‖∇f‖² = 57 at the start, below 100: the inner steps are taken
  objective('skipLargeUpdates', (o) => f.skipLargeUpdates(inner, o), [], { maxSquaredNorm: 100 }),
  {
    name: 'perExampleLayerNormClip',
    build: (o) => f.perExampleLayerNormClip(perExample(1), 2, o as Any),
    required: {},
    optional: ['uniform'],
    probe: async (r: f.PerExampleLayerClipResult) => ({ sum: await readTree(r.sum), numClipped: await readTree(r.numClipped) }),
  },
  {
    ...objective('differentiallyPrivateAggregate', (o) => f.differentiallyPrivateAggregate(o), [], { l2NormClip: 1, noiseMultiplier: 0.5, seed: 7 }),
    probe: perExampleProbe,
  },
  { ...objective('dpsgd', (o) => f.dpsgd(o), ['momentum', 'nesterov'], { ...lr, l2NormClip: 1, noiseMultiplier: 0.5, seed: 7 }), probe: perExampleProbe },
  // PyTorch ASGD, Keras FTRL (src/transforms/asgd-ftrl.ts, src/optimizers/asgd-ftrl.ts)
  // and the averaged params, which t0 starts
  { ...objective('scaleByAsgd', (o) => f.scaleByAsgd(o), ['lambd', 'alpha', 't0'], lr), probe: objectiveProbe({ after: f.asgdEvalParams }) },
  objective('scaleByFtrl', (o) => f.scaleByFtrl(o), ['learningRatePower', 'initialAccumulatorValue', 'l1RegularizationStrength', 'l2RegularizationStrength', 'l2ShrinkageRegularizationStrength', 'beta', 'weightDecay'], lr),
  { ...objective('asgd', (o) => f.asgd(o), ['lambd', 'alpha', 't0', 'weightDecay', 'maximize'], lr), probe: objectiveProbe({ after: f.asgdEvalParams }) },
  objective('ftrl', (o) => f.ftrl(o), ['learningRatePower', 'initialAccumulatorValue', 'l1RegularizationStrength', 'l2RegularizationStrength', 'l2ShrinkageRegularizationStrength', 'beta', 'weightDecay'], lr),
  // learning-rate-free (src/transforms/parameter-free.ts, src/optimizers/parameter-free.ts)
  primitive('scaleByProdigy', (o) => f.scaleByProdigy(o), ['learningRate', 'b1', 'b2', 'b3', 'eps', 'estimLr0', 'estimLrCoef', 'weightDecay', 'safeguardWarmup']),
  primitive('scaleByDadaptAdamw', (o) => f.scaleByDadaptAdamw(o), ['learningRate', 'b1', 'b2', 'eps', 'estimLr0', 'weightDecay']),
  primitive('scaleByDog', (o) => f.scaleByDog(o), ['initStep', 'eps']),
  primitive('scaleByDowg', (o) => f.scaleByDowg(o), ['initEstimSqDist', 'eps']),
  primitive('scaleByDistanceOverGradients', (o) => f.scaleByDistanceOverGradients(o), ['repsRel', 'eps', 'globalScale']),
  objective('scaleByCocob', (o) => f.scaleByCocob(o), ['alpha', 'eps']),
  primitive('scaleByMomo', (o) => f.scaleByMomo(o), ['learningRate', 'beta', 'lowerBound', 'weightDecay', 'adaptLowerBound']),
  primitive('scaleByMomoAdam', (o) => f.scaleByMomoAdam(o), ['learningRate', 'b1', 'b2', 'eps', 'lowerBound', 'weightDecay', 'adaptLowerBound']),
  objective('mechanize', (o) => f.mechanize(inner, o), ['weightDecay', 'eps', 'sInit', 'numBetas']),
  objective('prodigy', (o) => f.prodigy(o), ['learningRate', 'b1', 'b2', 'b3', 'eps', 'estimLr0', 'estimLrCoef', 'weightDecay', 'safeguardWarmup']),
  objective('dadaptAdamw', (o) => f.dadaptAdamw(o), ['learningRate', 'b1', 'b2', 'eps', 'estimLr0', 'weightDecay']),
  objective('dog', (o) => f.dog(o), ['learningRate', 'initStep', 'eps', 'weightDecay', 'mask']),
  objective('dowg', (o) => f.dowg(o), ['learningRate', 'initEstimSqDist', 'eps', 'weightDecay', 'mask']),
  objective('cocob', (o) => f.cocob(o), ['learningRate', 'alpha', 'eps', 'weightDecay', 'mask']),
  objective('momo', (o) => f.momo(o), ['learningRate', 'lowerBound', 'weightDecay', 'adaptLowerBound', 'beta']),
  objective('momoAdam', (o) => f.momoAdam(o), ['learningRate', 'lowerBound', 'weightDecay', 'adaptLowerBound', 'b1', 'b2', 'eps']),
  // Muon and schedule-free (src/transforms/muon.ts, src/transforms/schedule-free.ts, src/optimizers/muon.ts, src/optimizers/schedule-free.ts)
  objective('scaleByMuon', (o) => f.scaleByMuon(o), ['nsCoeffs', 'nsSteps', 'beta', 'eps', 'nesterov', 'adaptive', 'preconditioning', 'convention'], {}, { start: muonParams, primitive: true }),
  objective('scaleByShape', (o) => f.scaleByShape(o), ['consistentRms', 'convention'], {}, { start: muonParams, primitive: true }),
  {
    name: 'newtonSchulz',
    build: (o) => f.newtonSchulz(muonParams().w, f.newtonSchulzSchedule('newtonSchulz', f.muonNsCoefficients, 5), o as Any),
    required: {},
    optional: ['preconditioning', 'eps', 'clampNorm'],
    probe: (x: f.Tensor) => readTree(x),
  },
  objective('muon', (o) => f.muon(o), ['nsCoeffs', 'nsSteps', 'beta', 'eps', 'weightDecay', 'weightDecayMask', 'nesterov', 'adaptive', 'preconditioning', 'adamB1', 'adamB2', 'adamEpsRoot', 'adamWeightDecay', 'adamLearningRate', 'muonMask', 'consistentRms', 'adamEps', 'convention'], lr, { start: muonMixed }),
  // and the averaged params it evaluates at
  objective('scheduleFree', (o) => f.scheduleFree(inner, o), ['b1', 'weightLrPower'], lr, { after: f.scheduleFreeEvalParams }),
  objective('scheduleFreeAdamw', (o) => f.scheduleFreeAdamw(o), ['learningRate', 'warmupSteps', 'b1', 'b2', 'eps', 'weightDecay', 'weightLrPower'], {}, { after: f.scheduleFreeEvalParams }),
  objective('scheduleFreeSgd', (o) => f.scheduleFreeSgd(o), ['learningRate', 'warmupSteps', 'b1', 'weightDecay', 'weightLrPower'], {}, { after: f.scheduleFreeEvalParams }),
  // wrappers (src/transforms/conditional.ts, src/transforms/monitoring.ts, src/transforms/inject.ts, src/transforms/microbatch.ts);
  // the predicate answers differently when it is given the extras, so that forwardExtraArgs shows
  objective('conditionallyTransform', (o) => f.conditionallyTransform(f.adam(lr), everyOther, o), ['forwardExtraArgs']),
  objective('conditionallyMask', (o) => f.conditionallyMask(f.adam(lr), everyOther, o), ['forwardExtraArgs']),
  // its output is the averaged measurement (here ‖u‖), not the updates
  transform('measureWithEma', (o) => f.measureWithEma(f.globalNorm, o), ['debias'], { decay: 0.9 }),
  objective('injectStatefulHyperparams', (o) => f.injectStatefulHyperparams(f.sgd, o)({ ...lr, momentum: 0.9 }), ['staticArgs']),
  { ...objective('sgd', (o) => f.injectStatefulHyperparams(f.sgd)(o), sgdOptions, lr), outer: 'injectStatefulHyperparams' },
  {
    name: 'microbatch',
    build: (o) => f.microbatch(batchLoss, o as Any),
    required: { argnums: 1, microbatchSize: 2 },
    optional: ['accumulator', 'numRealMicrobatches'],
    probe: async (fn: typeof batchLoss) => readTree(fn(fromArray([2]), fromArray([1, -2, 3, 0.5, 4, -1, 2, 2], [4, 2]))),
  },
]

/**
 * The builder modules, each as `src/index.ts` re-exports it; every function they export is either in
 * the table above or one of these, which take no options object (positional arguments or none:
 * validated in test/validation.test.ts) or are not builders.
 */
const builderModules = [
  scaling, moments, clipping, decay, misc, trust, lbfgs, linesearchModule, wrappers, sgdModule, adaptive, adamModule, others, schedules, init, layers, losses, regularizers, data, training,
  modernTransforms, modernOptimizers, factoredTransforms, factoredOptimizers, contribTransforms, contribOptimizers, gradients, privacy, asgdFtrlTransforms, asgdFtrlOptimizers,
  parameterFreeTransforms, parameterFreeOptimizers, muonTransforms, scheduleFreeTransforms, muonOptimizers, scheduleFreeOptimizers, conditional, monitoring, inject, microbatchModule,
]
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
  // a number or a schedule (addScaledParams, scaleGradient, the clip norm of perExampleGlobalNormClip), nothing
  // (normalizeByGlobalNorm), an inner transformation (skipNotFinite), or params and state (samOuterParams, asgdEvalParams)
  'addScaledParams', 'scaleGradient', 'perExampleGlobalNormClip', 'normalizeByGlobalNorm', 'skipNotFinite', 'samOuterParams', 'asgdEvalParams',
  // positional (newtonSchulzSchedule(transform, coefficients, steps), snapshot(name, measure), getMeasurement(state, name),
  // wrappedSchedule(schedule)), a predicate (isStatefulSchedule), params and state (scheduleFreeEvalParams), and monitor's
  // record of measures, whose keys are the user's names
  'newtonSchulzSchedule', 'snapshot', 'getMeasurement', 'wrappedSchedule', 'isStatefulSchedule', 'scheduleFreeEvalParams', 'monitor',
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
    const listed = new Set(builders.map((b) => (b.outer?.startsWith('inject') ? b.outer : b.name)))
    const unclassified = exported.filter((k) => !listed.has(k) && !withoutOptionsObject.has(k) && !notStrictYet.has(k))
    expect(unclassified).toEqual([])
    expect(builders.length).toBe(157)
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
