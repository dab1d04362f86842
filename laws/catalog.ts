/**
 * fluxion's optimizers and primitives with the io-ts codecs of their numeric hyperparameters (the
 * same `ranges` codecs the factories validate with), so law runs can draw hyperparameters from
 * exactly the valid domain.
 */
import * as f from '../src/index.js'
import { type AnyTransformation, type Backend, type Params, type Tensor, UnsupportedError, defineElementwise, elementwise, ranges, tree } from '../src/index.js'
import { catalogModern } from './catalog-modern.js'
import { catalogFactored } from './catalog-factored.js'
import { catalogMuon } from './catalog-muon.js'
import { catalogParameterFree } from './catalog-parameter-free.js'
import { catalogContrib } from './catalog-contrib.js'
import { catalogAsgdFtrl } from './catalog-asgd-ftrl.js'
import { catalogGradients } from './catalog-gradients.js'
import { catalogWrappersExtra } from './catalog-wrappers-extra.js'
import { type ValueAndGradFn, scaleByBacktrackingLinesearch, scaleByZoomLinesearch } from '../src/transforms/linesearch.js'

/** One catalogued transformation. */
export interface CatalogEntry {
  readonly name: string
  readonly hyperparameters: Readonly<Record<string, { readonly name: string }>>
  readonly make: (h: Readonly<Record<string, unknown>>) => AnyTransformation
  /** Laws that hold for every valid hyperparameter. */
  readonly scaleInvariantWhenEpsZero?: boolean
  readonly linear?: boolean
  /** Why backend parity cannot hold over the whole valid range, when it cannot. */
  readonly parityException?: string
  /**
   * Why the transform cannot run on a backend whose reads are asynchronous (gpu.js webgpu), when
   * it cannot: a line search decides on the host from values it reads back at once
   * (`Backend.readSync`). Runs on such a backend skip the entry.
   */
  readonly needsSynchronousReads?: string
}

const cancellation =
  'centered RMS computes ν − μ², which cancels catastrophically as the decay → 0: float32 (gpu) and the cpu loop disagree beyond float32 tolerance there; parity at typical decays is tested in test/equivalences.test.ts'

const lbfgsConditioning =
  'driven by arbitrary gradient sequences (not the gradients of one objective), L-BFGS keeps curvature pairs whose sᵀy sits near its 1e-10 safeguard, so float32 rounding decides which pairs cpu and gpu keep; each backend is checked against the float64 two-loop reference on quadratics in test/transforms.test.ts'

const linesearchParity =
  'the zoom search accepts or rejects each trial by comparing float32 values of f and ∇f·u and interpolates the next trial from them; along the laws’ arbitrary directions (often no descent directions) it runs out of evaluations after many interpolations, and there cpu (float64 sums) and gpu (float32 sums) can end on different steps; each backend is checked against the float64 reference on convex problems in test/linesearch.test.ts'

const hostDecisions = 'the line search decides on the host between trial steps, from f and ∇f·u read back at once; gpu.js webgpu reads only asynchronously'

// f(θ) = Σ φ(θᵢ), φ(x) = √(1 + x²) − 1 (pseudo-Huber): smooth, convex, and finite with a bounded
// gradient for every finite θ in float32 (written to avoid x² overflowing where |x| > 1)
const pseudoHuber = defineElementwise({
  name: 'catalogPseudoHuber',
  inputs: ['x'],
  lets: [['a', 'Math.abs(x)']],
  outputs: ['a > 1 ? a / (Math.sqrt(1 + 1 / (x * x)) + 1 / a) : (x * x) / (Math.sqrt(1 + x * x) + 1)', 'a > 1 ? (x / a) / Math.sqrt(1 + 1 / (x * x)) : x / Math.sqrt(1 + x * x)'],
})

/** The pseudo-Huber objective and its gradient, on the params' backend. */
const pseudoHuberObjective: ValueAndGradFn = (p: Params) => {
  const { leaves, structure } = tree.flatten(p)
  const parts = (leaves as Tensor[]).map((x) => (x.size === 0 ? [x.backend.fill([], 0), x.backend.fill(x.shape, 0)] : elementwise(pseudoHuber, [x])))
  const value = parts.length === 0 ? 0 : parts.map(([v]) => f.sum(v!)).reduce((a, b) => f.add(a, b))
  return [value, tree.unflatten(structure, parts.map(([, g]) => g!))] as const
}

/**
 * A transformation that needs an objective (a line search) run on the pseudo-Huber objective:
 * each update passes it f(θ), ∇f(θ) and the value functions in its extras, so the laws drive it
 * like any other transformation (the gradient sequences are then only the search directions).
 */
const onObjective = (name: string, t: AnyTransformation): AnyTransformation => ({
  init: t.init,
  update: (u, s, p, extra) => {
    if (p === undefined) throw new f.MissingParamsError(name)
    return f.scope(() => {
      const [v, grad] = pseudoHuberObjective(p)
      const value = typeof v === 'number' ? v : v.backend.readSync?.(v)?.[0]
      if (value === undefined) throw new UnsupportedError(`${name}: ${hostDecisions}`)
      return t.update(u, s, p, { ...extra, value, grad, valueFn: (q: Params) => pseudoHuberObjective(q)[0], valueAndGradFn: pseudoHuberObjective })
    })
  },
  ...(t.stateCodec ? { stateCodec: t.stateCodec } : {}),
  ...(t.identity ? { identity: t.identity } : {}),
})

/**
 * Whether `entry` can run on `backend`: every entry can, except those that need synchronous reads
 * (`needsSynchronousReads`) on a backend where a computed tensor cannot be read back at once.
 */
export const runsOn = (entry: CatalogEntry, backend: Backend): boolean => {
  if (entry.needsSynchronousReads === undefined) return true
  const t = f.scope(() => f.add(backend.fill([1], 1), backend.fill([1], 1)))
  try {
    return backend.readSync?.(t) !== undefined
  } finally {
    f.dispose(t)
  }
}

const lr = { learningRate: ranges.nonNegative }
const adamish = { ...lr, b1: ranges.unitInterval, b2: ranges.unitInterval, eps: ranges.nonNegative, epsRoot: ranges.nonNegative }
const h = <T,>(x: Readonly<Record<string, unknown>>) => x as unknown as T

export const catalog: readonly CatalogEntry[] = [
  { name: 'sgd', hyperparameters: { ...lr, momentum: ranges.unitInterval, nesterov: ranges.boolean }, make: (x) => f.sgd(h(x)), linear: true },
  { name: 'momentum', hyperparameters: { ...lr, momentum: ranges.unitInterval, nesterov: ranges.boolean }, make: (x) => f.momentum(h(x)), linear: true },
  { name: 'adagrad', hyperparameters: { ...lr, initialAccumulatorValue: ranges.nonNegative, eps: ranges.nonNegative }, make: (x) => f.adagrad(h(x)) },
  { name: 'rmsprop', hyperparameters: { ...lr, decay: ranges.unitInterval, eps: ranges.positive, centered: ranges.boolean, momentum: ranges.unitInterval, nesterov: ranges.boolean }, make: (x) => f.rmsprop(h(x)), parityException: cancellation },
  { name: 'adadelta', hyperparameters: { ...lr, rho: ranges.unitInterval, eps: ranges.positive }, make: (x) => f.adadelta(h(x)) },
  { name: 'adam', hyperparameters: adamish, make: (x) => f.adam(h(x)), scaleInvariantWhenEpsZero: true },
  { name: 'adamw', hyperparameters: { ...adamish, weightDecay: ranges.nonNegative }, make: (x) => f.adamw(h(x)) },
  { name: 'nadam', hyperparameters: adamish, make: (x) => f.nadam(h(x)), scaleInvariantWhenEpsZero: true },
  { name: 'amsgrad', hyperparameters: adamish, make: (x) => f.amsgrad(h(x)), scaleInvariantWhenEpsZero: true },
  { name: 'adamax', hyperparameters: { ...lr, b1: ranges.unitInterval, b2: ranges.unitInterval, eps: ranges.nonNegative }, make: (x) => f.adamax(h(x)) },
  { name: 'radam', hyperparameters: adamish, make: (x) => f.radam(h(x)) },
  { name: 'lion', hyperparameters: { ...lr, b1: ranges.unitInterval, b2: ranges.unitInterval, weightDecay: ranges.nonNegative }, make: (x) => f.lion(h(x)) },
  { name: 'lamb', hyperparameters: { ...adamish, weightDecay: ranges.nonNegative }, make: (x) => f.lamb(h(x)) },
  { name: 'lars', hyperparameters: { ...lr, weightDecay: ranges.nonNegative, trustCoefficient: ranges.nonNegative, eps: ranges.nonNegative, momentum: ranges.unitInterval, nesterov: ranges.boolean }, make: (x) => f.lars(h(x)) },
  { name: 'noisySgd', hyperparameters: { ...lr, eta: ranges.nonNegative, gamma: ranges.nonNegative }, make: (x) => f.noisySgd(h(x)) },
  { name: 'lbfgs', hyperparameters: { ...lr, memorySize: ranges.positiveInteger, scaleInitPrecond: ranges.boolean }, make: (x) => f.lbfgs({ ...h<object>(x), linesearch: null }), parityException: lbfgsConditioning },
  {
    name: 'lbfgs (zoom line search)',
    hyperparameters: { ...lr, memorySize: ranges.positiveInteger, scaleInitPrecond: ranges.boolean },
    make: (x) => onObjective('lbfgs', f.lbfgs(h(x))),
    parityException: `${lbfgsConditioning}; and ${linesearchParity}`,
    needsSynchronousReads: hostDecisions,
  },
  {
    name: 'scaleByBacktrackingLinesearch',
    hyperparameters: {
      maxBacktrackingSteps: ranges.nonNegativeInteger,
      slopeRtol: ranges.unitInterval,
      decreaseFactor: ranges.openUnitInterval,
      maxLearningRate: ranges.positive,
      atol: ranges.nonNegative,
      rtol: ranges.nonNegative,
      storeGrad: ranges.boolean,
    },
    make: (x) => onObjective('scaleByBacktrackingLinesearch', scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 15, ...h<object>(x) })),
    needsSynchronousReads: hostDecisions,
  },
  {
    name: 'scaleByZoomLinesearch',
    hyperparameters: { maxLinesearchSteps: ranges.positiveInteger, tol: ranges.nonNegative, stepsizePrecision: ranges.nonNegative },
    make: (x) => onObjective('scaleByZoomLinesearch', scaleByZoomLinesearch({ maxLinesearchSteps: 15, ...h<object>(x) })),
    parityException: linesearchParity,
    needsSynchronousReads: hostDecisions,
  },
  { name: 'clipByNorm', hyperparameters: { maxNorm: ranges.nonNegative }, make: (x) => f.clipByNorm(x.maxNorm as number) },
  { name: 'clipByGlobalNorm', hyperparameters: { maxNorm: ranges.nonNegative }, make: (x) => f.clipByGlobalNorm(x.maxNorm as number) },
  { name: 'clipByBlockRms', hyperparameters: { threshold: ranges.positive }, make: (x) => f.clipByBlockRms(x.threshold as number) },
  { name: 'addDecayedWeights', hyperparameters: { weightDecay: ranges.nonNegative }, make: (x) => f.addDecayedWeights(h(x)) },
  { name: 'ema', hyperparameters: { decay: ranges.unitInterval, debias: ranges.boolean }, make: (x) => f.ema(h(x)) },
  { name: 'scaleByRss', hyperparameters: { initialAccumulatorValue: ranges.nonNegative, eps: ranges.nonNegative, epsInSqrt: ranges.boolean }, make: (x) => f.scaleByRss(h(x)) },
  { name: 'scaleByStddev', hyperparameters: { decay: ranges.unitInterval, eps: ranges.positive, epsInSqrt: ranges.boolean, initialScale: ranges.nonNegative, biasCorrection: ranges.boolean }, make: (x) => f.scaleByStddev(h(x)), parityException: cancellation },
  ...catalogModern,
  ...catalogFactored,
  ...catalogMuon,
  ...catalogParameterFree,
  ...catalogContrib,
  ...catalogAsgdFtrl,
  ...catalogGradients,
  ...catalogWrappersExtra,
]
