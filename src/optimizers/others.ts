/**
 * Lion, LAMB, LARS and L-BFGS, each a chain of primitives (Optax's conventions; Lion also Keras').
 *
 * References: Chen et al. 2023 (Lion); You et al. 2020 (LAMB); You et al. 2017 (LARS); Nocedal &
 * Wright 2006 (L-BFGS); seed 003_3f666a11de5b95b1.txt (second-order methods).
 */
import { type Mask, maskCodec } from '../core/mask.js'
import type { AnyTransformation } from '../core/base.js'
import { transformationName } from '../core/internal.js'
import type { ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, ranges, refinement, validate } from '../core/validate.js'
import { addDecayedWeights } from '../transforms/decay.js'
import { scaleByLbfgs } from '../transforms/lbfgs.js'
import { scaleByZoomLinesearch } from '../transforms/linesearch.js'
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
  /** α, a number ≥ 0 or a schedule: the direction is −α_k·H̃⁻¹g before the line search. Default 1. */
  readonly learningRate?: ScalarOrSchedule
  /** m ≥ 1. Default 10. */
  readonly memorySize?: number
  /** Scale the initial inverse Hessian by sᵀy / yᵀy. Default true. */
  readonly scaleInitPrecond?: boolean
  /**
   * The line search that scales the direction (it then needs `update`'s extras `{ value, grad,
   * valueAndGradFn }`), or null for a fixed step α. Default
   * `scaleByZoomLinesearch({ maxLinesearchSteps: 20, initialGuessStrategy: 'one' })`, as Optax.
   */
  readonly linesearch?: AnyTransformation | null
}

const linesearchCodec = refinement(
  'null (a fixed step) or a line-search transformation { init, update }, e.g. scaleByZoomLinesearch({ maxLinesearchSteps: 20 })',
  (u): u is AnyTransformation | null =>
    u === null || (typeof u === 'object' && typeof (u as { init?: unknown }).init === 'function' && typeof (u as { update?: unknown }).update === 'function'),
)

/**
 * L-BFGS: θ ← θ + η_k d with d = −α_k H̃⁻¹g, H̃⁻¹g from the two-loop recursion over the last m
 * pairs (see `scaleByLbfgs`) and η_k from a line search along d, by default Optax's: the zoom
 * search for a strong Wolfe step (c₁ = 1e-4, c₂ = 0.9), first trial η = 1, at most 20 evaluations
 * (`scaleByZoomLinesearch`). The search needs the objective: pass
 * `update(g, state, θ, { value: f(θ), grad: g, valueAndGradFn })`, e.g. through
 * `valueAndGradFromState` or `minimize`. With `linesearch: null` the step is the fixed α (1 on
 * well-scaled problems; on Rosenbrock α above about 0.1 can diverge).
 *
 * Defaults: learningRate = 1, memorySize = 10, scaleInitPrecond = true, linesearch = zoom (20 steps, 'one').
 * Reference: Nocedal & Wright 2006, Algorithms 7.4 and 7.5 (L-BFGS), 3.5 and 3.6 (line search);
 * seed 003_3f666a11de5b95b1.txt (Newton-Raphson: θ ← θ − ηH⁻¹∇L); Optax `lbfgs`.
 *
 * @example
 * ```ts
 * // f(w) = Σw², ∇f = 2w
 * const valueAndGradFn = (p: Params) => [sumOfSquares(p as Tensor), scaleTensor(p as Tensor, 2)] as const
 * const r = minimize(valueAndGradFn, fromArray([1, 2, 3]), lbfgs({ memorySize: 5 }))
 * const fixedStep = lbfgs({ learningRate: 0.05, linesearch: null }) // no objective needed
 * ```
 */
export const lbfgs = (options: LbfgsOptions = {}): Optimizer => {
  const o = validate(
    'lbfgs',
    { learningRate: nonNegativeOrSchedule, memorySize: ranges.positiveInteger, scaleInitPrecond: ranges.boolean, linesearch: linesearchCodec },
    options,
    { learningRate: 1, memorySize: 10, scaleInitPrecond: true, linesearch: scaleByZoomLinesearch({ maxLinesearchSteps: 20, initialGuessStrategy: 'one' }) },
  )
  const linesearch = o.linesearch === null ? null : o.linesearch.identity ?? transformationName(o.linesearch)
  return namedOptimizer(
    'lbfgs',
    { ...o, linesearch },
    scaleByLbfgs({ memorySize: o.memorySize, scaleInitPrecond: o.scaleInitPrecond }),
    scaleByLearningRate(asFloat32(o.learningRate)),
    ...(o.linesearch === null ? [] : [o.linesearch]),
  )
}
