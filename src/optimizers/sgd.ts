/**
 * SGD and its momentum variants, and noisy SGD.
 *
 * References: seed 000_33f4fbf331723dec.txt ("Stochastic Gradient Descent", "SGD with momentum",
 * "SGD with Nesterov momentum"); Optax `sgd`, `noisy_sgd`; Keras `SGD`; PyTorch `SGD`;
 * TensorFlow.js `train.momentum`.
 */
import type { ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, ranges, validate } from '../core/validate.js'
import { addNoise } from '../transforms/misc.js'
import { scaleByLearningRate } from '../transforms/scaling.js'
import { type Convention, type Optimizer, conventionCodec, momentumOrIdentity, namedOptimizer } from './common.js'

/** Options of `sgd`. */
export interface SgdOptions {
  /** α, a number ≥ 0 or a schedule k ↦ α_k. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β in [0, 1); 0 means plain SGD (no momentum buffer). Default 0. */
  readonly momentum?: number
  /** Nesterov's look-ahead momentum. Default false. */
  readonly nesterov?: boolean
  /** 'optax' (= 'pytorch' = 'tfjs': m ← g + βm, θ ← θ − α_k m) or 'keras' (v ← βv − α_k g). Default 'optax'. */
  readonly convention?: Convention
}

/**
 * Stochastic gradient descent, with optional (Nesterov) momentum:
 *
 *   plain:     θ ← θ − α_k g
 *   momentum:  m ← g + βm,  θ ← θ − α_k m                 (optax, pytorch, tfjs)
 *              v ← βv − α_k g,  θ ← θ + v                  (keras; the lectures' velocity form)
 *   Nesterov:  m ← g + βm,  θ ← θ − α_k (g + βm)          (keras: θ ← θ + βv − α_k g)
 *
 * The two momentum forms agree while α is constant; with a schedule, Keras' buffer keeps the past
 * learning rates inside it. `chain(trace({ decay: momentum, nesterov }), scaleByLearningRate(α))`, or
 * the reverse order for 'keras'; the trace is left out when momentum = 0 and nesterov is false.
 *
 * Defaults: momentum = 0, nesterov = false, convention = 'optax'.
 * Reference: seed 000_33f4fbf331723dec.txt, "Stochastic Gradient Descent", "SGD with momentum",
 * "SGD with Nesterov momentum"; Optax `sgd`.
 *
 * @example
 * ```ts
 * const opt = sgd({ learningRate: 0.01, momentum: 0.9, nesterov: true })
 * ```
 */
export const sgd = (options: SgdOptions): Optimizer => {
  const o = validate(
    'sgd',
    { learningRate: nonNegativeOrSchedule, momentum: ranges.unitInterval, nesterov: ranges.boolean, convention: conventionCodec('sgd', ['optax', 'pytorch', 'keras', 'tfjs']) },
    options,
    { momentum: 0, nesterov: false, convention: 'optax' },
  )
  const moment = momentumOrIdentity(o.momentum, o.nesterov)
  return o.convention === 'keras'
    ? namedOptimizer('sgd', o, scaleByLearningRate(o.learningRate), moment)
    : namedOptimizer('sgd', o, moment, scaleByLearningRate(o.learningRate))
}

/** Options of `momentum`. */
export interface MomentumOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β in [0, 1). Default 0.9. */
  readonly momentum?: number
  /** Nesterov's look-ahead form. Default false. */
  readonly nesterov?: boolean
}

/**
 * Momentum in the lectures' velocity form: v ← βv − α_k g, θ ← θ + v (Nesterov: θ ← θ + βv − α_k g).
 * The learning rate is applied before the buffer, so a changing α_k stays inside v;
 * `chain(scaleByLearningRate(α), trace({ decay: β, nesterov }))`.
 *
 * Defaults: momentum = 0.9, nesterov = false.
 * Reference: seed 000_33f4fbf331723dec.txt, "Stochastic Gradient Descent (SGD) with momentum".
 *
 * @example
 * ```ts
 * const opt = momentum({ learningRate: 0.01, momentum: 0.9 })
 * ```
 */
export const momentum = (options: MomentumOptions): Optimizer => {
  const o = validate(
    'momentum',
    { learningRate: nonNegativeOrSchedule, momentum: ranges.unitInterval, nesterov: ranges.boolean },
    options,
    { momentum: 0.9, nesterov: false },
  )
  return namedOptimizer('momentum', o, scaleByLearningRate(o.learningRate), momentumOrIdentity(o.momentum, o.nesterov))
}

/** Options of `noisySgd`. */
export interface NoisySgdOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** η, initial noise variance. Default 0.01. */
  readonly eta?: number
  /** γ, annealing exponent. Default 0.55. */
  readonly gamma?: number
  /** Seed of the noise. Default 0. */
  readonly seed?: number
}

/**
 * SGD with annealed Gaussian gradient noise: θ ← θ − α_k (g + N(0, η / (1 + k)^γ)).
 * `chain(addNoise({ eta, gamma, seed }), scaleByLearningRate(α))`.
 *
 * Defaults: eta = 0.01, gamma = 0.55, seed = 0.
 * Reference: Neelakantan et al. 2015; seed 000_33f4fbf331723dec.txt ("noise injection"); Optax
 * `noisy_sgd`.
 *
 * @example
 * ```ts
 * const opt = noisySgd({ learningRate: 0.01, eta: 0.3, seed: 7 })
 * ```
 */
export const noisySgd = (options: NoisySgdOptions): Optimizer => {
  const o = validate(
    'noisySgd',
    { learningRate: nonNegativeOrSchedule, eta: ranges.nonNegative, gamma: ranges.nonNegative, seed: ranges.seed },
    options,
    { eta: 0.01, gamma: 0.55, seed: 0 },
  )
  const { learningRate, ...noise } = o
  return namedOptimizer('noisySgd', o, addNoise(noise), scaleByLearningRate(learningRate))
}
