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
import { rawDampedTrace } from '../transforms/raw.js'
import { type Convention, type Optimizer, asFloat32, conventionCodec, momentumOrIdentity, namedOptimizer, onlyIn, pytorchGradient, unavailable } from './common.js'

/** Options of `sgd`. */
export interface SgdOptions {
  /** α, a number ≥ 0 or a schedule k ↦ α_k. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β in [0, 1); 0 means plain SGD (no momentum buffer). Default 0. */
  readonly momentum?: number
  /** Nesterov's look-ahead momentum. Default false. */
  readonly nesterov?: boolean
  /** d in [0, 1], PyTorch's `dampening` (pytorch only): m ← βm + (1 − d)g after the first step. Default 0. */
  readonly dampening?: number
  /** λ ≥ 0, PyTorch's `weight_decay` (pytorch only): coupled L2, g ← g + λθ before the momentum. Default 0. */
  readonly weightDecay?: number
  /** PyTorch's `maximize` (pytorch only): ascend, g ← −g first. Default false. */
  readonly maximize?: boolean
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
 * PyTorch's options (convention 'pytorch' only): `dampening` d gives m ← g on the first step and
 * m ← βm + (1 − d)g after (not with Nesterov, as in PyTorch); `weightDecay` λ adds λθ to the
 * gradient first; `maximize` negates the gradient before that.
 *
 * Defaults: momentum = 0, nesterov = false, dampening = 0, weightDecay = 0, maximize = false,
 * convention = 'optax'.
 * Reference: seed 000_33f4fbf331723dec.txt, "Stochastic Gradient Descent", "SGD with momentum",
 * "SGD with Nesterov momentum"; Optax `sgd`; PyTorch `torch.optim.SGD`.
 *
 * @example
 * ```ts
 * const opt = sgd({ learningRate: 0.01, momentum: 0.9, nesterov: true })
 * const torchLike = sgd({ learningRate: 0.01, momentum: 0.9, dampening: 0.1, weightDecay: 1e-4, convention: 'pytorch' })
 * ```
 */
export const sgd = (options: SgdOptions): Optimizer => {
  const o = validate(
    'sgd',
    {
      learningRate: nonNegativeOrSchedule,
      momentum: ranges.unitInterval,
      nesterov: ranges.boolean,
      dampening: ranges.unitIntervalClosed,
      weightDecay: ranges.nonNegative,
      maximize: ranges.boolean,
      convention: conventionCodec('sgd', ['optax', 'pytorch', 'keras', 'tfjs']),
    },
    options,
    { momentum: 0, nesterov: false, dampening: 0, weightDecay: 0, maximize: false, convention: 'optax' },
  )
  const c = o.convention
  onlyIn('sgd', c, ['pytorch'], 'dampening', o.dampening, 0)
  onlyIn('sgd', c, ['pytorch'], 'weightDecay', o.weightDecay, 0)
  onlyIn('sgd', c, ['pytorch'], 'maximize', o.maximize, false)
  if (o.nesterov && o.dampening > 0) unavailable('sgd', 'dampening', o.dampening, '0 with nesterov (PyTorch: "Nesterov momentum requires a momentum and zero dampening")')
  const moment = o.dampening > 0 && o.momentum > 0 ? rawDampedTrace(o.momentum, o.dampening) : momentumOrIdentity(o.momentum, o.nesterov)
  const lr = scaleByLearningRate(asFloat32(o.learningRate))
  return c === 'keras' ? namedOptimizer('sgd', o, lr, moment) : namedOptimizer('sgd', o, ...pytorchGradient(o.maximize, o.weightDecay), moment, lr)
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
  return namedOptimizer('momentum', o, scaleByLearningRate(asFloat32(o.learningRate)), momentumOrIdentity(o.momentum, o.nesterov))
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
  return namedOptimizer('noisySgd', o, addNoise(noise), scaleByLearningRate(asFloat32(learningRate)))
}
