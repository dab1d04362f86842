/**
 * Lion, LAMB, LARS and L-BFGS, each a chain of primitives (Optax's conventions; Lion also Keras').
 *
 * References: Chen et al. 2023 (Lion); You et al. 2020 (LAMB); You et al. 2017 (LARS); Nocedal &
 * Wright 2006 (L-BFGS); seed 003_3f666a11de5b95b1.txt (second-order methods).
 */
import { type Mask, maskCodec } from '../core/mask.js'
import type { ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, ranges, validate } from '../core/validate.js'
import { addDecayedWeights } from '../transforms/decay.js'
import { scaleByLbfgs } from '../transforms/lbfgs.js'
import { rawAdam, rawLion } from '../transforms/raw.js'
import { scaleByLearningRate } from '../transforms/scaling.js'
import { scaleByTrustRatio } from '../transforms/trust.js'
import { type Convention, type Optimizer, asFloat32, conventionCodec, conventionOf, momentumOrIdentity, namedOptimizer } from './common.js'

/** Options of `lion`. */
export interface LionOptions {
  /** α, a number ≥ 0 or a schedule. Required (typically 3–10× smaller than Adam's). */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.99. */
  readonly b2?: number
  /** λ ≥ 0, decoupled weight decay. Default by convention: 1e-3 (optax), 0 (keras). */
  readonly weightDecay?: ScalarOrSchedule
  /** Leaves to decay (default all). */
  readonly mask?: Mask
  /** 'optax' (default) or 'keras': the same update, Keras without weight decay by default. */
  readonly convention?: Convention
}

/**
 * Lion: θ ← θ − α_k (sign(β₁μ + (1 − β₁)g) + λθ), μ ← β₂μ + (1 − β₂)g.
 * `chain(scaleByLion(...), addDecayedWeights(...), scaleByLearningRate(α))`. Keras' Lion is the same
 * update with its optimizers' decoupled weight decay θ ← θ − α_k λθ, which defaults to none.
 *
 * Defaults: b1 = 0.9, b2 = 0.99; weightDecay = 1e-3 (optax), 0 (keras).
 * Reference: Chen et al. 2023, Algorithm 2; Optax `lion`; Keras `keras.optimizers.Lion`.
 *
 * @example
 * ```ts
 * const opt = lion({ learningRate: 1e-4 })
 * ```
 */
export const lion = (options: LionOptions): Optimizer => {
  const conventions: Convention[] = ['optax', 'keras']
  const c = conventionOf('lion', conventions, options)
  const o = validate(
    'lion',
    {
      learningRate: nonNegativeOrSchedule,
      b1: ranges.unitInterval,
      b2: ranges.unitInterval,
      weightDecay: nonNegativeOrSchedule,
      mask: maskCodec,
      convention: conventionCodec('lion', conventions),
    },
    options,
    { b1: 0.9, b2: 0.99, weightDecay: c === 'keras' ? 0 : 1e-3, convention: c },
  )
  return namedOptimizer(
    'lion',
    o,
    rawLion(o.b1, o.b2, c === 'keras'),
    addDecayedWeights({ weightDecay: asFloat32(o.weightDecay), mask: o.mask }),
    scaleByLearningRate(asFloat32(o.learningRate)),
  )
}

/** Options of `lamb`. */
export interface LambOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  readonly b1?: number
  readonly b2?: number
  /** ε outside the root. Default 1e-6. */
  readonly eps?: number
  readonly epsRoot?: number
  /** λ ≥ 0. Default 0. */
  readonly weightDecay?: ScalarOrSchedule
  readonly mask?: Mask
}

/**
 * LAMB: Adam's direction plus weight decay, rescaled per leaf by the trust ratio ‖θ‖ / ‖u‖:
 * `chain(scaleByAdam(...), addDecayedWeights(...), scaleByTrustRatio(), scaleByLearningRate(α))`.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-6, epsRoot = 0, weightDecay = 0.
 * Reference: You et al. 2020, Algorithm 2; Optax `lamb`.
 *
 * @example
 * ```ts
 * const opt = lamb({ learningRate: 1e-3, weightDecay: 1e-2 })
 * ```
 */
export const lamb = (options: LambOptions): Optimizer => {
  const o = validate(
    'lamb',
    { learningRate: nonNegativeOrSchedule, b1: ranges.unitInterval, b2: ranges.unitInterval, eps: ranges.nonNegative, epsRoot: ranges.nonNegative, weightDecay: nonNegativeOrSchedule, mask: maskCodec },
    options,
    { b1: 0.9, b2: 0.999, eps: 1e-6, epsRoot: 0, weightDecay: 0 },
  )
  return namedOptimizer(
    'lamb',
    o,
    rawAdam(o.b1, o.b2, o.eps, o.epsRoot, false),
    addDecayedWeights({ weightDecay: asFloat32(o.weightDecay), mask: o.mask }),
    scaleByTrustRatio(),
    scaleByLearningRate(asFloat32(o.learningRate)),
  )
}

/** Options of `lars`. */
export interface LarsOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** λ ≥ 0. Default 0. */
  readonly weightDecay?: ScalarOrSchedule
  /** Leaves to decay (default all). */
  readonly weightDecayMask?: Mask
  /** η, the trust coefficient. Default 0.001. */
  readonly trustCoefficient?: number
  /** ε added to the update norm. Default 0. */
  readonly eps?: number
  /** Leaves to rescale by the trust ratio (default all). */
  readonly trustRatioMask?: Mask
  /** β in [0, 1). Default 0.9. */
  readonly momentum?: number
  readonly nesterov?: boolean
}

/**
 * LARS: weight decay, then the layer-wise trust ratio η‖θ‖ / (‖g + λθ‖ + ε), then the learning rate
 * and momentum: `chain(addDecayedWeights, scaleByTrustRatio({ trustCoefficient, eps }),
 * scaleByLearningRate(α), trace({ decay: momentum, nesterov }))`.
 *
 * Defaults: weightDecay = 0, trustCoefficient = 0.001, eps = 0, momentum = 0.9, nesterov = false.
 * Reference: You et al. 2017, Algorithm 1; Optax `lars`.
 *
 * @example
 * ```ts
 * const opt = lars({ learningRate: 1, weightDecay: 1e-4 })
 * ```
 */
export const lars = (options: LarsOptions): Optimizer => {
  const o = validate(
    'lars',
    {
      learningRate: nonNegativeOrSchedule,
      weightDecay: nonNegativeOrSchedule,
      weightDecayMask: maskCodec,
      trustCoefficient: ranges.nonNegative,
      eps: ranges.nonNegative,
      trustRatioMask: maskCodec,
      momentum: ranges.unitInterval,
      nesterov: ranges.boolean,
    },
    options,
    { weightDecay: 0, trustCoefficient: 0.001, eps: 0, momentum: 0.9, nesterov: false },
  )
  return namedOptimizer(
    'lars',
    o,
    addDecayedWeights({ weightDecay: asFloat32(o.weightDecay), mask: o.weightDecayMask }),
    scaleByTrustRatio({ trustCoefficient: Math.fround(o.trustCoefficient), eps: Math.fround(o.eps), mask: o.trustRatioMask }),
    scaleByLearningRate(asFloat32(o.learningRate)),
    momentumOrIdentity(o.momentum, o.nesterov),
  )
}

/** Options of `lbfgs`. */
export interface LbfgsOptions {
  /** α, a number ≥ 0 or a schedule. Default 1. */
  readonly learningRate?: ScalarOrSchedule
  /** m ≥ 1. Default 10. */
  readonly memorySize?: number
  /** Scale the initial inverse Hessian by sᵀy / yᵀy. Default true. */
  readonly scaleInitPrecond?: boolean
}

/**
 * L-BFGS with a fixed step: θ ← θ − α_k H̃⁻¹g, H̃⁻¹g from the two-loop recursion over the last m
 * pairs (see `scaleByLbfgs`). No line search: a gradient transformation never sees objective
 * values, so choose α (1 on well-scaled problems).
 *
 * Defaults: learningRate = 1, memorySize = 10, scaleInitPrecond = true.
 * Reference: Nocedal & Wright 2006, Algorithm 7.4 and 7.5; seed 003_3f666a11de5b95b1.txt
 * (Newton-Raphson: θ ← θ − ηH⁻¹∇L); Optax `lbfgs` (without its line search).
 *
 * @example
 * ```ts
 * const opt = lbfgs({ memorySize: 5 })
 * ```
 */
export const lbfgs = (options: LbfgsOptions = {}): Optimizer => {
  const o = validate(
    'lbfgs',
    { learningRate: nonNegativeOrSchedule, memorySize: ranges.positiveInteger, scaleInitPrecond: ranges.boolean },
    options,
    { learningRate: 1, memorySize: 10, scaleInitPrecond: true },
  )
  return namedOptimizer('lbfgs', o, scaleByLbfgs({ memorySize: o.memorySize, scaleInitPrecond: o.scaleInitPrecond }), scaleByLearningRate(asFloat32(o.learningRate)))
}
