/**
 * Catalogue entries (laws/catalog.ts's `CatalogEntry`) of Optax's newer optimizers and their
 * primitives (src/optimizers/modern.ts, src/transforms/modern.ts), with the io-ts codecs of their
 * numeric hyperparameters: the same `ranges` the factories validate with.
 */
import * as f from '../src/index.js'
import { ranges } from '../src/index.js'
import type { CatalogEntry } from './catalog.js'

const lr = { learningRate: ranges.nonNegative }
const betas = { b1: ranges.unitInterval, b2: ranges.unitInterval }
const eps = { eps: ranges.nonNegative, epsRoot: ranges.nonNegative }
const h = <T,>(x: Readonly<Record<string, unknown>>) => x as unknown as T

// Rprop's learning rate is its initial step size, a number, never a schedule: catalogued as
// `initialStepSize`, so that the suites that pass schedules as `learningRate` leave it out
const rprop = { initialStepSize: ranges.nonNegative, etaMinus: ranges.openUnitInterval, etaPlus: ranges.atLeastOne, minStepSize: ranges.nonNegative }
const rpropOptions = ({ initialStepSize, ...x }: Readonly<Record<string, unknown>>) => h<f.RpropOptions>({ ...x, learningRate: initialStepSize ?? 0.1 })

/**
 * Every entry satisfies the whole law catalogue and the non-finite policy (docs/nonfinite.md).
 * Rprop's `maxStepSize` is left at its default (50): drawn independently it could fall below the
 * drawn `minStepSize`, which the factory refuses.
 */
const beliefCancellation =
  'AdaBelief computes the belief g − m, which cancels as β₁ → 0 (m ≈ g): the cpu backend subtracts the float64 m of the same step, the float32 backends the float32 one, and with s ≈ ε_root the relative difference is amplified beyond float32 tolerance (measured: 2e-4 at β₁ = β₂ = 0.001); each backend is checked against the float64 reference for β₁ ≥ 0.1 in test/modern-optimizers.test.ts'

export const catalogModern: readonly CatalogEntry[] = [
  { name: 'adabelief', hyperparameters: { ...lr, ...betas, ...eps, nesterov: ranges.boolean }, make: (x) => f.adabelief(h(x)), parityException: beliefCancellation },
  { name: 'yogi', hyperparameters: { ...lr, ...betas, eps: ranges.nonNegative }, make: (x) => f.yogi(h(x)) },
  { name: 'adan', hyperparameters: { ...lr, ...betas, b3: ranges.unitInterval, ...eps, weightDecay: ranges.nonNegative }, make: (x) => f.adan(h(x)) },
  { name: 'adamaxw', hyperparameters: { ...lr, ...betas, eps: ranges.nonNegative, weightDecay: ranges.nonNegative }, make: (x) => f.adamaxw(h(x)) },
  { name: 'nadamw', hyperparameters: { ...lr, ...betas, ...eps, weightDecay: ranges.nonNegative }, make: (x) => f.nadamw(h(x)) },
  { name: 'novograd', hyperparameters: { ...lr, ...betas, ...eps, weightDecay: ranges.nonNegative }, make: (x) => f.novograd(h(x)) },
  { name: 'rprop', hyperparameters: rprop, make: (x) => f.rprop(rpropOptions(x)) },
  { name: 'optimisticGradientDescent', hyperparameters: { ...lr, alpha: ranges.nonNegative, beta: ranges.nonNegative }, make: (x) => f.optimisticGradientDescent(h(x)) },
  { name: 'optimisticAdam', hyperparameters: { ...lr, alpha: ranges.nonNegative, beta: ranges.nonNegative, ...betas, ...eps, nesterov: ranges.boolean }, make: (x) => f.optimisticAdam(h(x)) },
  { name: 'scaleByBelief', hyperparameters: { ...betas, ...eps, nesterov: ranges.boolean }, make: (x) => f.scaleByBelief(h(x)), parityException: beliefCancellation },
  { name: 'scaleByYogi', hyperparameters: { ...betas, ...eps, initialAccumulatorValue: ranges.nonNegative }, make: (x) => f.scaleByYogi(h(x)) },
  { name: 'scaleByAdan', hyperparameters: { ...betas, b3: ranges.unitInterval, ...eps }, make: (x) => f.scaleByAdan(h(x)) },
  { name: 'scaleByNovograd', hyperparameters: { ...betas, ...eps, weightDecay: ranges.nonNegative }, make: (x) => f.scaleByNovograd(h(x)) },
  { name: 'scaleByRprop', hyperparameters: rprop, make: (x) => f.scaleByRprop(rpropOptions(x)) },
  { name: 'scaleByOptimisticGradient', hyperparameters: { alpha: ranges.nonNegative, beta: ranges.nonNegative }, make: (x) => f.scaleByOptimisticGradient(h(x)) },
]

/**
 * signSGD and Signum: lawful like the entries above, but bounded by definition like `scaleBySign`
 * (a ±∞ gradient gives a finite step of ∓α), so they are outside the non-finite policy that
 * test/nonfinite.test.ts checks on every entry of the catalogue.
 */
export const catalogModernSign: readonly CatalogEntry[] = [
  { name: 'signSgd', hyperparameters: lr, make: (x) => f.signSgd(h(x)) },
  { name: 'signum', hyperparameters: { ...lr, beta: ranges.unitInterval }, make: (x) => f.signum(h(x)) },
]
