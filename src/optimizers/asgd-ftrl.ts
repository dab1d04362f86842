/**
 * PyTorch's averaged SGD and Keras' FTRL-Proximal, each a chain of primitives with its framework's
 * defaults and options (docs/asgd-ftrl.md).
 *
 * References: PyTorch 2 `torch.optim.ASGD`; Keras 3 `keras.optimizers.Ftrl`; the papers cited on
 * each function.
 */
import type { ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, ranges, refinement, validate } from '../core/validate.js'
import { scaleByAsgd, scaleByFtrl } from '../transforms/asgd-ftrl.js'
import { type Optimizer, namedOptimizer, pytorchGradient } from './common.js'

/** Options of `asgd` (PyTorch's `ASGD`). */
export interface AsgdOptions {
  /** γ, a number ≥ 0 or a schedule. Required (PyTorch's default: 1e-2). */
  readonly learningRate: ScalarOrSchedule
  /** λ ≥ 0, the decay term. Default 1e-4. */
  readonly lambd?: number
  /** α ≥ 0, the power of η's decay. Default 0.75. */
  readonly alpha?: number
  /** t₀ ≥ 0: the average ax follows θ for t₀ + 2 steps, then averages. Default 1e6. */
  readonly t0?: number
  /** λ_wd ≥ 0, PyTorch's `weight_decay`: coupled L2, g ← g + λ_wd θ first. Default 0. */
  readonly weightDecay?: number
  /** PyTorch's `maximize`: ascend, g ← −g first. Default false. */
  readonly maximize?: boolean
}

/**
 * Averaged SGD (PyTorch's `torch.optim.ASGD`): SGD with a decaying step and a decay term,
 *
 *   θ ← (1 − λη_t) θ − η_t g,   η_t = γ / (1 + λγ(t − 1))^α,
 *
 * and the Polyak–Ruppert average of the params from step t₀ + 2 on, which `asgdEvalParams` gives
 * for evaluation (see `scaleByAsgd`). `chain(scale(-1) if maximize, addDecayedWeights(weightDecay)
 * if > 0, scaleByAsgd(...))`: PyTorch negates the gradient, then adds the coupled weight decay,
 * then steps. The learning rate is inside `scaleByAsgd` (η decays from it), and nothing follows it.
 *
 * Defaults: lambd = 1e-4, alpha = 0.75, t0 = 1e6, weightDecay = 0, maximize = false (PyTorch's;
 * its learning rate default is 1e-2).
 * Reference: Polyak & Juditsky 1992, "Acceleration of Stochastic Approximation by Averaging";
 * PyTorch `torch.optim.ASGD`.
 *
 * @example
 * ```ts
 * const opt = asgd({ learningRate: 0.01, t0: 1000 })
 * ```
 */
export const asgd = (options: AsgdOptions): Optimizer => {
  const o = validate(
    'asgd',
    { learningRate: nonNegativeOrSchedule, lambd: ranges.nonNegative, alpha: ranges.nonNegative, t0: ranges.nonNegative, weightDecay: ranges.nonNegative, maximize: ranges.boolean },
    options,
    { lambd: 1e-4, alpha: 0.75, t0: 1e6, weightDecay: 0, maximize: false },
  )
  return namedOptimizer('asgd', o, ...pytorchGradient(o.maximize, o.weightDecay), scaleByAsgd({ learningRate: o.learningRate, lambd: o.lambd, alpha: o.alpha, t0: o.t0 }))
}

// the ranges scaleByFtrl validates with, so that ftrl names its own field
const positiveOrSchedule = refinement(
  'a finite number > 0 or a schedule (step) => number',
  (u): u is ScalarOrSchedule => ranges.positive.is(u) || typeof u === 'function',
)
const nonPositive = refinement('a finite number ≤ 0', (u): u is number => typeof u === 'number' && Number.isFinite(u) && u <= 0)

/** Options of `ftrl` (Keras' `Ftrl`, names camel-cased). */
export interface FtrlOptions {
  /** α > 0, a number or a schedule. Required (Keras' default: 1e-3). */
  readonly learningRate: ScalarOrSchedule
  /** −p ≤ 0: the per-coordinate rate is α / n^p; 0 keeps it fixed. Default −0.5. */
  readonly learningRatePower?: number
  /** n₀ ≥ 0. Default 0.1. */
  readonly initialAccumulatorValue?: number
  /** λ₁ ≥ 0 (sparsity). Default 0. */
  readonly l1RegularizationStrength?: number
  /** λ₂ ≥ 0 (the proximal L2). Default 0. */
  readonly l2RegularizationStrength?: number
  /** λₛ ≥ 0 (the L2 penalty on the loss, in z only). Default 0. */
  readonly l2ShrinkageRegularizationStrength?: number
  /** β ≥ 0 of the per-coordinate rate α / (β + √n). Default 0. */
  readonly beta?: number
  /** w ≥ 0, Keras' decoupled `weight_decay`: θ ← θ − wαθ before the step. Default 0. */
  readonly weightDecay?: number
}

/**
 * FTRL-Proximal (Keras' `keras.optimizers.Ftrl`): per coordinate, z accumulates the gradient
 * corrected by the change of the adaptive rate, and θ is the closed-form minimiser
 *
 *   θ = 0 where |z| ≤ λ₁,   else −(z − sign(z)λ₁) / (n^p/α + 2λ₂ + β/α),   n = n₀ + Σg²
 *
 * (see `scaleByFtrl`), which makes L1-regularised models truly sparse. It suits shallow models
 * over large, sparse feature spaces (click-through prediction). `chain(scaleByFtrl(...))`: the
 * learning rate is inside the step.
 *
 * Defaults: learningRatePower = −0.5, initialAccumulatorValue = 0.1, the three strengths 0,
 * beta = 0, weightDecay = 0 (Keras'; its learning rate default is 1e-3).
 * Reference: McMahan et al. 2013, "Ad Click Prediction: a View from the Trenches", Algorithm 1;
 * Keras `keras.optimizers.Ftrl`.
 *
 * @example
 * ```ts
 * const opt = ftrl({ learningRate: 0.05, l1RegularizationStrength: 1e-3, l2RegularizationStrength: 1e-3 })
 * ```
 */
export const ftrl = (options: FtrlOptions): Optimizer => {
  const o = validate(
    'ftrl',
    {
      learningRate: positiveOrSchedule,
      learningRatePower: nonPositive,
      initialAccumulatorValue: ranges.nonNegative,
      l1RegularizationStrength: ranges.nonNegative,
      l2RegularizationStrength: ranges.nonNegative,
      l2ShrinkageRegularizationStrength: ranges.nonNegative,
      beta: ranges.nonNegative,
      weightDecay: ranges.nonNegative,
    },
    options,
    { learningRatePower: -0.5, initialAccumulatorValue: 0.1, l1RegularizationStrength: 0, l2RegularizationStrength: 0, l2ShrinkageRegularizationStrength: 0, beta: 0, weightDecay: 0 },
  )
  return namedOptimizer('ftrl', o, scaleByFtrl(o))
}
