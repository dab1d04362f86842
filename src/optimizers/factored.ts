/**
 * Optax's memory-light and step-size-free optimizers, each a chain of primitives with Optax 0.2.8's
 * defaults: Adafactor, SM3, Fromage and SGD with Polyak's step size (docs/factored-optimizers.md).
 *
 * References: the papers cited on each function; Optax 0.2.8 `optax/_src/alias.py`.
 */
import * as t from 'io-ts'
import type { AnyTransformation } from '../core/base.js'
import { type Mask, maskCodec } from '../core/mask.js'
import type { ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, ranges, refinement, validate } from '../core/validate.js'
import { clipByBlockRms } from '../transforms/clipping.js'
import { addDecayedWeights } from '../transforms/decay.js'
import { addScaledParams, scaleByFactoredRms, scaleByParamBlockRms, scaleByPolyak, scaleBySm3 } from '../transforms/factored.js'
import { ema } from '../transforms/moments.js'
import { scale, scaleByLearningRate } from '../transforms/scaling.js'
import { scaleByTrustRatio } from '../transforms/trust.js'
import { type Optimizer, asFloat32, namedOptimizer } from './common.js'

const f32 = Math.fround
const orNull = <C extends t.Mixed>(codec: C, name: string) => t.union([codec, t.null], name)

/** Options of `adafactor` (Optax's names in camel case). */
export interface AdafactorOptions {
  /** α, a number ≥ 0 or a schedule; absent, the step is the relative one alone (Optax's `learning_rate=None`). */
  readonly learningRate?: ScalarOrSchedule
  /** Factor the second moment only where the second largest axis has at least this many elements, an integer ≥ 1. Default 128. */
  readonly minDimSizeToFactor?: number
  /** c in the second-moment decay 1 − t^(−c), ≥ 0. Default 0.8. */
  readonly decayRate?: number
  /** The step the decay schedule starts from (fine-tuning), an integer ≥ 0. Default 0. */
  readonly decayOffset?: number
  /** Scale the step by the RMS of each parameter leaf (the relative step). Default true. */
  readonly multiplyByParameterScale?: boolean
  /** d > 0, clip each leaf's update to RMS ≤ d (Adafactor's update clipping; Optax advises d ≥ 1), or null for none. Default 1. */
  readonly clippingThreshold?: number | null
  /** β₁ in [0, 1): momentum (an EMA of the updates, without debiasing); absent, none. */
  readonly momentum?: number
  /** λ ≥ 0, a number or a schedule: decayed weights added after the step (not scaled by α); absent, none. */
  readonly weightDecayRate?: ScalarOrSchedule
  /** ε₁ > 0 added to g². Default 1e-30. */
  readonly eps?: number
  /** Use factored second moments at all. Default true. */
  readonly factored?: boolean
  /** Leaves to decay (default all). */
  readonly weightDecayMask?: Mask
}

/**
 * Adafactor: the factored second moment of `scaleByFactoredRms`, then, as Optax chains them,
 *
 *   u ← clip_rms(u, d)   (u / max(1, rms(u)/d), per leaf: update clipping),
 *   u ← α_k u,  u ← u · max(rms(θ), 10⁻³)  (relative step),
 *   u ← m = β₁m + (1 − β₁)u  (momentum),  u ← u + λθ,  θ ← θ − u,
 *
 * each stage present only when asked for (`clippingThreshold: null`, no `learningRate`,
 * `multiplyByParameterScale: false`, no `momentum`, no `weightDecayRate` leave it out). The
 * weight decay comes after the learning rate, so λ is not scaled by α (Optax's order).
 * `dtype_momentum` has no counterpart: every buffer is float32.
 *
 * Defaults: minDimSizeToFactor = 128, decayRate = 0.8, decayOffset = 0,
 * multiplyByParameterScale = true, clippingThreshold = 1, eps = 1e-30, factored = true; no learning
 * rate, momentum or weight decay (Optax's).
 * Reference: Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
 * Algorithms 4–5 and Sections 6–8; Optax `adafactor`.
 *
 * @example
 * ```ts
 * const opt = adafactor({ learningRate: 1e-2, minDimSizeToFactor: 32, momentum: 0.9 })
 * ```
 */
export const adafactor = (options: AdafactorOptions = {}): Optimizer => {
  const o = validate(
    'adafactor',
    {
      learningRate: t.union([nonNegativeOrSchedule, t.undefined], 'a finite number ≥ 0 or a schedule (step) => number, or undefined'),
      minDimSizeToFactor: ranges.positiveInteger,
      decayRate: ranges.nonNegative,
      decayOffset: ranges.nonNegativeInteger,
      multiplyByParameterScale: ranges.boolean,
      clippingThreshold: orNull(ranges.positive, 'a finite number > 0, or null (no clipping)'),
      momentum: t.union([ranges.unitInterval, t.undefined], 'a number in [0, 1), or undefined (no momentum)'),
      weightDecayRate: t.union([nonNegativeOrSchedule, t.undefined], 'a finite number ≥ 0 or a schedule (step) => number, or undefined'),
      eps: ranges.positive,
      factored: ranges.boolean,
      weightDecayMask: maskCodec,
    },
    options,
    { minDimSizeToFactor: 128, decayRate: 0.8, decayOffset: 0, multiplyByParameterScale: true, clippingThreshold: 1, eps: 1e-30, factored: true },
  )
  const tx: AnyTransformation[] = [
    scaleByFactoredRms({ factored: o.factored, decayRate: o.decayRate, stepOffset: o.decayOffset, minDimSizeToFactor: o.minDimSizeToFactor, epsilon: o.eps }),
  ]
  if (o.clippingThreshold !== null) tx.push(clipByBlockRms(f32(o.clippingThreshold)))
  if (o.learningRate !== undefined) tx.push(scaleByLearningRate(asFloat32(o.learningRate), { flipSign: false }))
  if (o.multiplyByParameterScale) tx.push(scaleByParamBlockRms())
  // β₁ as the float32 kernels take it, unless that rounds it up to 1 (ema refuses 1)
  if (o.momentum !== undefined) tx.push(ema({ decay: f32(o.momentum) < 1 ? f32(o.momentum) : o.momentum, debias: false }))
  if (o.weightDecayRate !== undefined) tx.push(addDecayedWeights({ weightDecay: asFloat32(o.weightDecayRate), mask: o.weightDecayMask }))
  tx.push(scale(-1))
  return namedOptimizer('adafactor', o, ...tx)
}

/** Options of `sm3`. */
export interface Sm3Options {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1), the momentum. Default 0.9. */
  readonly momentum?: number
  /** β₂ in [0, 1] (1: sums of squares). Default 1 (Optax's `sm3` fixes it). */
  readonly b2?: number
  /** ε ≥ 0 inside the root. Default 1e-8 (Optax's `sm3` fixes it). */
  readonly eps?: number
}

/**
 * SM3: θ ← θ − α_k m with m the momentum of g / √ν over SM3's cover accumulators (see
 * `scaleBySm3`): AdaGrad's adaptivity with memory n + m for an n × m matrix.
 * `chain(scaleBySm3({ b1: momentum, b2, eps }), scaleByLearningRate(α))`.
 *
 * Defaults: momentum = 0.9, b2 = 1, eps = 1e-8 (Optax's `sm3(learning_rate, momentum=0.9)`,
 * which exposes neither b2 nor eps).
 * Reference: Anil et al. 2019, "Memory-Efficient Adaptive Optimization"; Optax `sm3`.
 *
 * @example
 * ```ts
 * const opt = sm3({ learningRate: 0.1 })
 * ```
 */
export const sm3 = (options: Sm3Options): Optimizer => {
  const o = validate('sm3', { learningRate: nonNegativeOrSchedule, momentum: ranges.unitInterval, b2: ranges.unitIntervalClosed, eps: ranges.nonNegative }, options, { momentum: 0.9, b2: 1, eps: 1e-8 })
  return namedOptimizer('sm3', o, scaleBySm3({ b1: o.momentum, b2: o.b2, eps: o.eps }), scaleByLearningRate(asFloat32(o.learningRate)))
}

/** Options of `fromage`. */
export interface FromageOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** The norms of each leaf's update and params are raised to at least this, ≥ 0. Default 1e-6. */
  readonly minNorm?: number
}

/**
 * Fromage (Frobenius matched gradient descent), per leaf:
 *
 *   θ ← (θ − α_k (‖θ‖ / ‖g‖) g) / √(1 + α_k²),
 *
 * norms raised to `minNorm`: the step is α times the size of the leaf, whatever the gradient's
 * scale, and the division keeps ‖θ‖ from growing. `chain(scaleByTrustRatio({ minNorm }),
 * scaleByLearningRate(α_k/√(1 + α_k²)), addScaledParams(1/√(1 + α_k²) − 1))`. As Optax does, a
 * constant α's factors are computed in float64 and a schedule's in float32.
 *
 * Defaults: minNorm = 1e-6.
 * Reference: Bernstein et al. 2020, "On the distance between two neural networks and the
 * stability of learning", Algorithm 1; Optax `fromage`.
 *
 * @example
 * ```ts
 * const opt = fromage({ learningRate: 0.01 })
 * ```
 */
export const fromage = (options: FromageOptions): Optimizer => {
  const o = validate('fromage', { learningRate: nonNegativeOrSchedule, minNorm: ranges.nonNegative }, options, { minNorm: 1e-6 })
  const lr = o.learningRate
  // Optax: Python floats for a number, float32 jnp arithmetic for a schedule's values
  const mult = (a: number) => f32(1 / f32(Math.sqrt(f32(1 + f32(a * a)))))
  const steps = typeof lr === 'number'
    ? { rate: lr / Math.sqrt(1 + lr * lr), shrink: 1 / Math.sqrt(1 + lr * lr) - 1 }
    : { rate: (k: number) => f32(mult(f32(lr(k))) * f32(lr(k))), shrink: (k: number) => f32(mult(f32(lr(k))) - 1) }
  return namedOptimizer(
    'fromage',
    o,
    scaleByTrustRatio({ minNorm: o.minNorm }),
    scaleByLearningRate(asFloat32(steps.rate)),
    addScaledParams(typeof steps.shrink === 'number' ? f32(steps.shrink) : steps.shrink),
  )
}

/** Options of `polyakSgd` (Optax's names in camel case). */
export interface PolyakSgdOptions {
  /** γ_max > 0, the largest step. Default 1. */
  readonly maxLearningRate?: number
  /** s, a number ≥ 0 or a schedule, scaling the gradient before the Polyak step. Default 1. */
  readonly scaling?: ScalarOrSchedule
  /** f*, a lower bound of the objective. Default 0. */
  readonly fMin?: number
  /** ε ≥ 0 added to the squared norm. Default 0. */
  readonly eps?: number
  /** `'sps'` or `'sps+'` (the gap clipped at 0). Default 'sps'. */
  readonly variant?: 'sps' | 'sps+'
}

/**
 * SGD with Polyak's step size (SPS_max): θ ← θ − η g with
 *
 *   η = min((f(θ) − f*) / (‖g‖² + ε), γ_max),
 *
 * f(θ) passed to every update: `opt.update(grad, state, params, { value: loss })` (without it the
 * update throws a HyperparameterError naming `value`). `chain(scaleByLearningRate(s),
 * scaleByPolyak({ maxLearningRate, fMin, eps, variant }))`, Optax's chain: the Polyak step sees the
 * scaled direction −s·g, so for s ≠ 1 the step is s·g·min(gap/(s²‖g‖² + ε), γ_max).
 *
 * Defaults: maxLearningRate = 1, scaling = 1, fMin = 0, eps = 0, variant = 'sps'. f* must be a
 * lower bound of f (0 for a model that fits its data exactly); a wrong one diverges or stalls.
 * Reference: Loizou et al. 2021, "Stochastic Polyak Step-size for SGD: An Adaptive Learning Rate
 * for Fast Convergence"; Berrada et al. 2020; Garrigos et al. 2023 (SPS+); Optax `polyak_sgd`.
 *
 * @example
 * ```ts
 * const opt = polyakSgd({ maxLearningRate: 0.5 })
 * const w = fromArray([1, 2, 3])
 * // f(w) = Σw² = 14, ∇f = 2w
 * const [updates, state] = opt.update(scaleTensor(w, 2), opt.init(w), w, { value: 14 })
 * ```
 */
export const polyakSgd = (options: PolyakSgdOptions = {}): Optimizer => {
  const o = validate(
    'polyakSgd',
    { maxLearningRate: ranges.positive, scaling: nonNegativeOrSchedule, fMin: ranges.finite, eps: ranges.nonNegative, variant: refinement("'sps' or 'sps+'", (u): u is 'sps' | 'sps+' => u === 'sps' || u === 'sps+') },
    options,
    { maxLearningRate: 1, scaling: 1, fMin: 0, eps: 0, variant: 'sps' },
  )
  return namedOptimizer(
    'polyakSgd',
    o,
    scaleByLearningRate(asFloat32(o.scaling)),
    scaleByPolyak({ maxLearningRate: o.maxLearningRate, fMin: o.fMin, eps: o.eps, variant: o.variant }),
  )
}
