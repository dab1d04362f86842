/**
 * Optax's newer optimizers, each a chain of primitives with Optax 0.2.8's defaults: AdaBelief,
 * Yogi, Adan, AdamaxW, NAdamW, NovoGrad, Rprop, signSGD, Signum, optimistic gradient descent and
 * optimistic Adam (docs/modern-optimizers.md).
 *
 * References: the papers cited on each function; Optax 0.2.8 `optax/_src/alias.py`.
 */
import { type Mask, maskCodec } from '../core/mask.js'
import type { ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, ranges, validate } from '../core/validate.js'
import { addDecayedWeights } from '../transforms/decay.js'
import { scaleBySign } from '../transforms/misc.js'
import { scaleByAdan, scaleByBelief, scaleByNovograd, scaleByOptimisticGradient, scaleByRprop, scaleByYogi } from '../transforms/modern.js'
import { ema } from '../transforms/moments.js'
import { rawAdam, rawAdamax } from '../transforms/raw.js'
import { scale, scaleByLearningRate } from '../transforms/scaling.js'
import { type Optimizer, asFloat32, namedOptimizer } from './common.js'

const lr = { learningRate: nonNegativeOrSchedule }
const betas = { b1: ranges.unitInterval, b2: ranges.unitInterval }
const eps = { eps: ranges.nonNegative, epsRoot: ranges.nonNegative }
const decay = { weightDecay: nonNegativeOrSchedule, mask: maskCodec }
const learningRateStep = (o: { readonly learningRate: ScalarOrSchedule }) => scaleByLearningRate(asFloat32(o.learningRate))

/** Options of `adabelief`. */
export interface AdabeliefOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0 added to √ŝ. Default 1e-16. */
  readonly eps?: number
  /** ε̄ ≥ 0 added to s. Default 1e-16. */
  readonly epsRoot?: number
  /** Nesterov's m̂. Default false. */
  readonly nesterov?: boolean
}

/**
 * AdaBelief: θ ← θ − α_k m̂ / (√ŝ + ε), with s the moving average of (g − m)² + ε̄ (see
 * `scaleByBelief`). `chain(scaleByBelief(...), scaleByLearningRate(α))`.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-16, epsRoot = 1e-16, nesterov = false (Optax's).
 * Reference: Zhuang et al. 2020, "AdaBelief Optimizer", Algorithm 2; Optax `adabelief`.
 *
 * @example
 * ```ts
 * const opt = adabelief({ learningRate: 1e-3 })
 * ```
 */
export const adabelief = (options: AdabeliefOptions): Optimizer => {
  const o = validate('adabelief', { ...lr, ...betas, ...eps, nesterov: ranges.boolean }, options, { b1: 0.9, b2: 0.999, eps: 1e-16, epsRoot: 1e-16, nesterov: false })
  return namedOptimizer('adabelief', o, scaleByBelief({ b1: o.b1, b2: o.b2, eps: o.eps, epsRoot: o.epsRoot, nesterov: o.nesterov }), learningRateStep(o))
}

/** Options of `yogi`. */
export interface YogiOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0. Default 1e-3. */
  readonly eps?: number
}

/**
 * Yogi: θ ← θ − α_k m̂ / (√v̂ + ε) with v ← v − (1 − β₂) sign(v − g²) g² (see `scaleByYogi`; m and v
 * start at 1e-6). `chain(scaleByYogi(...), scaleByLearningRate(α))`.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-3.
 * Reference: Zaheer et al. 2018, "Adaptive Methods for Nonconvex Optimization"; Optax `yogi`.
 *
 * @example
 * ```ts
 * const opt = yogi({ learningRate: 1e-2 })
 * ```
 */
export const yogi = (options: YogiOptions): Optimizer => {
  const o = validate('yogi', { ...lr, ...betas, eps: ranges.nonNegative }, options, { b1: 0.9, b2: 0.999, eps: 1e-3 })
  return namedOptimizer('yogi', o, scaleByYogi({ b1: o.b1, b2: o.b2, eps: o.eps }), learningRateStep(o))
}

/** Options of `adan`. */
export interface AdanOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.98. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.92. */
  readonly b2?: number
  /** β₃ in [0, 1). Default 0.99. */
  readonly b3?: number
  /** ε ≥ 0 outside the root. Default 1e-8. */
  readonly eps?: number
  /** ε ≥ 0 inside the root. Default 1e-8. */
  readonly epsRoot?: number
  /** λ ≥ 0, decoupled weight decay, a number or a schedule. Default 0. */
  readonly weightDecay?: ScalarOrSchedule
  /** Leaves to decay (default all). */
  readonly mask?: Mask
}

/**
 * Adan: θ ← θ − α_k ((m̂ + (1 − β₂)v̂) / (√(n̂ + ε_root) + ε) + λθ) (see `scaleByAdan`).
 * `chain(scaleByAdan(...), addDecayedWeights({ weightDecay, mask }), scaleByLearningRate(α))`.
 *
 * Defaults: b1 = 0.98, b2 = 0.92, b3 = 0.99, eps = 1e-8, epsRoot = 1e-8, weightDecay = 0.
 * Reference: Xie et al. 2022, "Adan: Adaptive Nesterov Momentum Algorithm", Algorithm 1; Optax `adan`.
 *
 * @example
 * ```ts
 * const opt = adan({ learningRate: 1e-3, weightDecay: 0.02 })
 * ```
 */
export const adan = (options: AdanOptions): Optimizer => {
  const o = validate('adan', { ...lr, ...betas, b3: ranges.unitInterval, ...eps, ...decay }, options, { b1: 0.98, b2: 0.92, b3: 0.99, eps: 1e-8, epsRoot: 1e-8, weightDecay: 0 })
  return namedOptimizer(
    'adan',
    o,
    scaleByAdan({ b1: o.b1, b2: o.b2, b3: o.b3, eps: o.eps, epsRoot: o.epsRoot }),
    addDecayedWeights({ weightDecay: asFloat32(o.weightDecay), mask: o.mask }),
    learningRateStep(o),
  )
}

/** Options of `adamaxw`. */
export interface AdamaxwOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0, inside the max. Default 1e-8. */
  readonly eps?: number
  /** λ ≥ 0, decoupled weight decay, a number or a schedule. Default 1e-4. */
  readonly weightDecay?: ScalarOrSchedule
  /** Leaves to decay (default all). */
  readonly mask?: Mask
}

/**
 * AdamaxW, Adamax with decoupled weight decay: ν ← max(β₂ν, |g| + ε),
 * θ ← θ − α_k ((m/(1 − β₁ᵗ)) / ν + λθ). `chain(scaleByAdamax(...), addDecayedWeights(...),
 * scaleByLearningRate(α))`.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-8, weightDecay = 1e-4.
 * Reference: Kingma & Ba 2015, Section 7.1; Loshchilov & Hutter 2019; Optax `adamaxw`.
 *
 * @example
 * ```ts
 * const opt = adamaxw({ learningRate: 2e-3, weightDecay: 1e-2 })
 * ```
 */
export const adamaxw = (options: AdamaxwOptions): Optimizer => {
  const o = validate('adamaxw', { ...lr, ...betas, eps: ranges.nonNegative, ...decay }, options, { b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 1e-4 })
  return namedOptimizer('adamaxw', o, rawAdamax(o.b1, o.b2, o.eps, true), addDecayedWeights({ weightDecay: asFloat32(o.weightDecay), mask: o.mask }), learningRateStep(o))
}

/** Options of `nadamw`. */
export interface NadamwOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0 outside the root. Default 1e-8. */
  readonly eps?: number
  /** ε ≥ 0 inside the root. Default 0. */
  readonly epsRoot?: number
  /** λ ≥ 0, decoupled weight decay, a number or a schedule. Default 1e-4. */
  readonly weightDecay?: ScalarOrSchedule
  /** Leaves to decay (default all). */
  readonly mask?: Mask
}

/**
 * NAdamW, AdamW with Nesterov's m̂ = β₁m/(1 − β₁ᵗ⁺¹) + (1 − β₁)g/(1 − β₁ᵗ):
 * θ ← θ − α_k (m̂ / (√(ν̂ + ε_root) + ε) + λθ). `chain(scaleByAdam({ nesterov: true, ... }),
 * addDecayedWeights(...), scaleByLearningRate(α))` (Optax's `adamw(nesterov=True)`).
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0, weightDecay = 1e-4.
 * Reference: Dozat 2016, "Incorporating Nesterov Momentum into Adam"; Loshchilov & Hutter 2019;
 * Optax `nadamw`.
 *
 * @example
 * ```ts
 * const opt = nadamw({ learningRate: 1e-3, weightDecay: 1e-2 })
 * ```
 */
export const nadamw = (options: NadamwOptions): Optimizer => {
  const o = validate('nadamw', { ...lr, ...betas, ...eps, ...decay }, options, { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, weightDecay: 1e-4 })
  return namedOptimizer('nadamw', o, rawAdam(o.b1, o.b2, o.eps, o.epsRoot, true), addDecayedWeights({ weightDecay: asFloat32(o.weightDecay), mask: o.mask }), learningRateStep(o))
}

/** Options of `novograd`. */
export interface NovogradOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.25. */
  readonly b2?: number
  /** ε ≥ 0 outside the root. Default 1e-6. */
  readonly eps?: number
  /** ε ≥ 0 inside the root. Default 0. */
  readonly epsRoot?: number
  /** λ ≥ 0, weight decay inside the momentum (a number). Default 0. */
  readonly weightDecay?: number
}

/**
 * NovoGrad: per leaf ν ← β₂ν + (1 − β₂)‖g‖², m ← β₁m + g/(√ν + ε) + λθ, θ ← θ − α_k m (the first
 * step initialises ν = ‖g‖² and m without decay; see `scaleByNovograd`).
 * `chain(scaleByNovograd(...), scaleByLearningRate(α))`.
 *
 * Defaults: b1 = 0.9, b2 = 0.25, eps = 1e-6, epsRoot = 0, weightDecay = 0.
 * Reference: Ginsburg et al. 2019, Algorithm 1; Optax `novograd`.
 *
 * @example
 * ```ts
 * const opt = novograd({ learningRate: 1e-2 })
 * ```
 */
export const novograd = (options: NovogradOptions): Optimizer => {
  const o = validate('novograd', { ...lr, ...betas, ...eps, weightDecay: ranges.nonNegative }, options, { b1: 0.9, b2: 0.25, eps: 1e-6, epsRoot: 0, weightDecay: 0 })
  return namedOptimizer('novograd', o, scaleByNovograd({ b1: o.b1, b2: o.b2, eps: o.eps, epsRoot: o.epsRoot, weightDecay: o.weightDecay }), learningRateStep(o))
}

/** Options of `rprop`. */
export interface RpropOptions {
  /** The initial step size η₀ ≥ 0 of every element (a number). Required. */
  readonly learningRate: number
  /** η⁻ in (0, 1). Default 0.5. */
  readonly etaMinus?: number
  /** η⁺ ≥ 1. Default 1.2. */
  readonly etaPlus?: number
  /** Smallest step ≥ 0. Default 1e-6. */
  readonly minStepSize?: number
  /** Largest step ≥ minStepSize. Default 50. */
  readonly maxStepSize?: number
}

/**
 * Rprop: θ ← θ − η sign(g) per element, η growing by η⁺ while the gradient keeps its sign and
 * shrinking by η⁻ (with no step) where it flips (see `scaleByRprop`; as in Optax 0.2.8, each step is
 * applied one update late). `chain(scaleByRprop(...), scale(-1))`. A full-batch method: minibatch
 * noise flips signs at random.
 *
 * Defaults: etaMinus = 0.5, etaPlus = 1.2, minStepSize = 1e-6, maxStepSize = 50.
 * Reference: Riedmiller & Braun 1993; Igel & Hüsken 2000; Optax `rprop`.
 *
 * @example
 * ```ts
 * const opt = rprop({ learningRate: 1e-3 })
 * ```
 */
export const rprop = (options: RpropOptions): Optimizer => {
  const o = validate(
    'rprop',
    { learningRate: ranges.nonNegative, etaMinus: ranges.openUnitInterval, etaPlus: ranges.atLeastOne, minStepSize: ranges.nonNegative, maxStepSize: ranges.nonNegative },
    options,
    { etaMinus: 0.5, etaPlus: 1.2, minStepSize: 1e-6, maxStepSize: 50 },
  )
  return namedOptimizer('rprop', o, scaleByRprop(o), scale(-1))
}

/** Options of `signSgd`. */
export interface SignSgdOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
}

/**
 * signSGD: θ ← θ − α_k sign(g). `chain(scaleBySign(), scaleByLearningRate(α))`. Like
 * `scaleBySign`, a bounded step: a ±∞ gradient gives a step of ∓α_k, NaN stays NaN.
 *
 * Reference: Bernstein et al. 2018, "signSGD: Compressed Optimisation for Non-Convex Problems",
 * Algorithm 1; Optax `sign_sgd`.
 *
 * @example
 * ```ts
 * const opt = signSgd({ learningRate: 1e-3 })
 * ```
 */
export const signSgd = (options: SignSgdOptions): Optimizer => {
  const o = validate('signSgd', lr, options)
  return namedOptimizer('signSgd', o, scaleBySign(), learningRateStep(o))
}

/** Options of `signum`. */
export interface SignumOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β, the momentum, in [0, 1). Default 0.9. */
  readonly beta?: number
}

/**
 * Signum, signSGD with momentum: m ← βm + (1 − β)g, θ ← θ − α_k sign(m).
 * `chain(ema({ decay: β, debias: false }), scaleBySign(), scaleByLearningRate(α))`.
 *
 * Defaults: beta = 0.9.
 * Reference: Bernstein et al. 2018, Algorithm 3; Optax `signum`.
 *
 * @example
 * ```ts
 * const opt = signum({ learningRate: 1e-3, beta: 0.95 })
 * ```
 */
export const signum = (options: SignumOptions): Optimizer => {
  const o = validate('signum', { ...lr, beta: ranges.unitInterval }, options, { beta: 0.9 })
  return namedOptimizer('signum', o, ema({ decay: o.beta, debias: false }), scaleBySign(), learningRateStep(o))
}

/** Options of `optimisticGradientDescent`. */
export interface OptimisticGradientDescentOptions {
  /** η, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** α ≥ 0. Default 1. */
  readonly alpha?: number
  /** β ≥ 0, the optimism. Default 1. */
  readonly beta?: number
}

/**
 * Optimistic gradient descent: θ ← θ − η_k (αgₜ + β(gₜ − gₜ₋₁)).
 * `chain(scaleByOptimisticGradient({ alpha, beta }), scaleByLearningRate(η))`.
 *
 * Defaults: alpha = 1, beta = 1.
 * Reference: Mokhtari, Ozdaglar & Pattathil 2020; Optax `optimistic_gradient_descent`.
 *
 * @example
 * ```ts
 * const opt = optimisticGradientDescent({ learningRate: 0.1 })
 * ```
 */
export const optimisticGradientDescent = (options: OptimisticGradientDescentOptions): Optimizer => {
  const o = validate('optimisticGradientDescent', { ...lr, alpha: ranges.nonNegative, beta: ranges.nonNegative }, options, { alpha: 1, beta: 1 })
  return namedOptimizer('optimisticGradientDescent', o, scaleByOptimisticGradient({ alpha: o.alpha, beta: o.beta }), learningRateStep(o))
}

/** Options of `optimisticAdam`. */
export interface OptimisticAdamOptions {
  /** η, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** α ≥ 0, the weight of the current Adam direction. Default 1. */
  readonly alpha?: number
  /** β ≥ 0, the optimism. Default 1. */
  readonly beta?: number
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0 outside the root. Default 1e-8. */
  readonly eps?: number
  /** ε ≥ 0 inside the root. Default 0. */
  readonly epsRoot?: number
  /** Nesterov's m̂ in the Adam step. Default true. */
  readonly nesterov?: boolean
}

/**
 * Optimistic Adam: the optimistic step applied to Adam's direction dₜ = m̂ / (√ν̂ + ε),
 * θ ← θ − η_k (αdₜ + β(dₜ − dₜ₋₁)). `chain(scaleByAdam({ nesterov, ... }),
 * scaleByOptimisticGradient({ alpha, beta }), scaleByLearningRate(η))`: Optax 0.2.8's
 * `optimistic_adam_v2` (its older `optimistic_adam`, deprecated, is α = η, β = optimism and a unit
 * learning rate: `optimisticAdam({ learningRate: 1, alpha: η, beta: optimism })`).
 *
 * Defaults: alpha = 1, beta = 1, b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0, nesterov = true.
 * Reference: Daskalakis et al. 2018, "Training GANs with Optimism", Algorithm 1; Optax
 * `optimistic_adam_v2`.
 *
 * @example
 * ```ts
 * const opt = optimisticAdam({ learningRate: 1e-3, beta: 0.5 })
 * ```
 */
export const optimisticAdam = (options: OptimisticAdamOptions): Optimizer => {
  const o = validate(
    'optimisticAdam',
    { ...lr, alpha: ranges.nonNegative, beta: ranges.nonNegative, ...betas, ...eps, nesterov: ranges.boolean },
    options,
    { alpha: 1, beta: 1, b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, nesterov: true },
  )
  return namedOptimizer('optimisticAdam', o, rawAdam(o.b1, o.b2, o.eps, o.epsRoot, o.nesterov), scaleByOptimisticGradient({ alpha: o.alpha, beta: o.beta }), learningRateStep(o))
}
