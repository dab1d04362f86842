/**
 * fluxion's optimizers and primitives with the io-ts codecs of their numeric hyperparameters (the
 * same `ranges` codecs the factories validate with), so law runs can draw hyperparameters from
 * exactly the valid domain.
 */
import * as f from '../src/index.js'
import { type AnyTransformation, ranges } from '../src/index.js'

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
}

const cancellation =
  'centered RMS computes ν − μ², which cancels catastrophically as the decay → 0: float32 (gpu) and the cpu loop disagree beyond float32 tolerance there; parity at typical decays is tested in test/equivalences.test.ts'

const lbfgsConditioning =
  'driven by arbitrary gradient sequences (not the gradients of one objective), L-BFGS keeps curvature pairs whose sᵀy sits near its 1e-10 safeguard, so float32 rounding decides which pairs cpu and gpu keep; each backend is checked against the float64 two-loop reference on quadratics in test/transforms.test.ts'

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
  { name: 'lbfgs', hyperparameters: { ...lr, memorySize: ranges.positiveInteger, scaleInitPrecond: ranges.boolean }, make: (x) => f.lbfgs(h(x)), parityException: lbfgsConditioning },
  { name: 'clipByNorm', hyperparameters: { maxNorm: ranges.nonNegative }, make: (x) => f.clipByNorm(x.maxNorm as number) },
  { name: 'clipByGlobalNorm', hyperparameters: { maxNorm: ranges.nonNegative }, make: (x) => f.clipByGlobalNorm(x.maxNorm as number) },
  { name: 'clipByBlockRms', hyperparameters: { threshold: ranges.positive }, make: (x) => f.clipByBlockRms(x.threshold as number) },
  { name: 'addDecayedWeights', hyperparameters: { weightDecay: ranges.nonNegative }, make: (x) => f.addDecayedWeights(h(x)) },
  { name: 'ema', hyperparameters: { decay: ranges.unitInterval, debias: ranges.boolean }, make: (x) => f.ema(h(x)) },
  { name: 'scaleByRss', hyperparameters: { initialAccumulatorValue: ranges.nonNegative, eps: ranges.nonNegative, epsInSqrt: ranges.boolean }, make: (x) => f.scaleByRss(h(x)) },
  { name: 'scaleByStddev', hyperparameters: { decay: ranges.unitInterval, eps: ranges.positive, epsInSqrt: ranges.boolean, initialScale: ranges.nonNegative, biasCorrection: ranges.boolean }, make: (x) => f.scaleByStddev(h(x)), parityException: cancellation },
]
