/**
 * Optax contrib's ADOPT, AdEMAMix, simplified AdEMAMix, MADGRAD and Sophia, each a chain of
 * primitives with Optax 0.2.8's defaults (docs/contrib-optimizers.md). SAM is the wrapper `sam`
 * (src/transforms/contrib.ts).
 *
 * References: the papers cited on each function; Optax 0.2.8 `optax/contrib/`.
 */
import { type Mask, maskCodec } from '../core/mask.js'
import type { ScalarOrSchedule, Schedule } from '../core/types.js'
import { nonNegativeOrSchedule, ranges, refinement, validate } from '../core/validate.js'
import { scaleByAdemamix, scaleByAdopt, scaleByMadgrad, scaleBySimplifiedAdemamix, scaleBySophia } from '../transforms/contrib.js'
import { addDecayedWeights } from '../transforms/decay.js'
import { scaleByLearningRate } from '../transforms/scaling.js'
import { type Optimizer, asFloat32, namedOptimizer } from './common.js'

const lr = { learningRate: nonNegativeOrSchedule }
const learningRateStep = (o: { readonly learningRate: ScalarOrSchedule }) => scaleByLearningRate(asFloat32(o.learningRate))
const anything = refinement('any value (checked by the primitive)', (u): u is unknown => true)

/** Options of `adopt`. */
export interface AdoptOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.9999. */
  readonly b2?: number
  /** ε in max(√v, ε), a normal float32 > 0. Default 1e-6. */
  readonly eps?: number
  /** Nesterov's look-ahead. Default false. */
  readonly nesterov?: boolean
  /** Clip the normalised gradient to ±c(k). Default true. */
  readonly useClipping?: boolean
  /** c(k) at the 0-based step k. Default k ↦ k^¼. */
  readonly clipValueFn?: Schedule
}

/**
 * ADOPT: θ ← θ − α_k m, m ← β₁m + (1 − β₁) clip(g / max(√v_prev, ε), ±(t − 1)^¼), v ← β₂v + (1 − β₂)g²,
 * the first step only initialising v = g² (see `scaleByAdopt`). `chain(scaleByAdopt(...), scaleByLearningRate(α))`.
 *
 * Defaults: b1 = 0.9, b2 = 0.9999, eps = 1e-6, nesterov = false, useClipping = true, clipValueFn = k ↦ k^¼.
 * Reference: Taniguchi et al. 2024, "ADOPT: Modified Adam Can Converge with Any β₂ with the Optimal
 * Rate", Algorithm 2; Optax `contrib.adopt`.
 *
 * @example
 * ```ts
 * const opt = adopt({ learningRate: 1e-3 })
 * ```
 */
export const adopt = (options: AdoptOptions): Optimizer => {
  const o = validate('adopt', { ...lr, b1: ranges.unitInterval, b2: ranges.unitInterval, eps: anything, nesterov: ranges.boolean, useClipping: ranges.boolean, clipValueFn: anything }, options, {
    b1: 0.9,
    b2: 0.9999,
    eps: 1e-6,
    nesterov: false,
    useClipping: true,
  })
  const { learningRate: _, ...rest } = o
  return namedOptimizer('adopt', o, scaleByAdopt(rest as never), learningRateStep(o))
}

/** Options of `ademamix`. */
export interface AdemamixOptions {
  /** α_k, the learning rate, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** β₃ in [0, 1], or a schedule (`ademamixBeta3Schedule`). Default 0.9999. */
  readonly b3?: ScalarOrSchedule
  /** The slow EMA's weight ≥ 0, or a schedule (`ademamixAlphaSchedule`). Default 5. */
  readonly alpha?: ScalarOrSchedule
  /** ε ≥ 0 outside the root. Default 1e-8. */
  readonly eps?: number
  /** ε ≥ 0 inside the root. Default 0. */
  readonly epsRoot?: number
  /** λ ≥ 0, decoupled weight decay (a number or a schedule). Default 0. */
  readonly weightDecay?: ScalarOrSchedule
  /** Leaves to decay (default all). */
  readonly mask?: Mask
}

/**
 * AdEMAMix: θ ← θ − α_k ((m̂₁ + α m₂) / (√(ν̂ + ε_root) + ε) + λθ), a fast EMA m₁ (β₁, bias-corrected)
 * and a slow one m₂ (β₃, not bias-corrected) of the gradient (see `scaleByAdemamix`).
 * `chain(scaleByAdemamix(...), addDecayedWeights({ weightDecay, mask }), scaleByLearningRate(α))`.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, b3 = 0.9999, alpha = 5, eps = 1e-8, epsRoot = 0, weightDecay = 0
 * (Optax's). The paper warms α and β₃ up over the run (`ademamixAlphaSchedule`,
 * `ademamixBeta3Schedule`); with β₃ = 0.9999 it pays off over tens of thousands of steps.
 * Reference: Pagliardini, Ablin & Grangier 2024, "The AdEMAMix Optimizer: Better, Faster, Older",
 * Algorithm 1; Optax `contrib.ademamix`.
 *
 * @example
 * ```ts
 * const opt = ademamix({ learningRate: 1e-3, weightDecay: 0.01 })
 * ```
 */
export const ademamix = (options: AdemamixOptions): Optimizer => {
  const o = validate(
    'ademamix',
    { ...lr, b1: ranges.unitInterval, b2: ranges.unitInterval, b3: anything, alpha: anything, eps: ranges.nonNegative, epsRoot: ranges.nonNegative, weightDecay: nonNegativeOrSchedule, mask: maskCodec },
    options,
    { b1: 0.9, b2: 0.999, b3: 0.9999, alpha: 5, eps: 1e-8, epsRoot: 0, weightDecay: 0 },
  )
  return namedOptimizer(
    'ademamix',
    o,
    scaleByAdemamix({ b1: o.b1, b2: o.b2, b3: o.b3 as ScalarOrSchedule, alpha: o.alpha as ScalarOrSchedule, eps: o.eps, epsRoot: o.epsRoot }),
    addDecayedWeights({ weightDecay: asFloat32(o.weightDecay), mask: o.mask }),
    learningRateStep(o),
  )
}

/** Options of `simplifiedAdemamix`. */
export interface SimplifiedAdemamixOptions {
  /** α_k, the learning rate, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.99. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.95. */
  readonly b2?: number
  /** The current gradient's weight ≥ 0, or a schedule. Default 0. */
  readonly alpha?: ScalarOrSchedule
  /** ε ≥ 0 outside the root. Default 1e-8. */
  readonly eps?: number
  /** ε ≥ 0 inside the root. Default 0. */
  readonly epsRoot?: number
  /** λ ≥ 0, decoupled weight decay (a number or a schedule). Default 0. */
  readonly weightDecay?: ScalarOrSchedule
  /** Leaves to decay (default all). */
  readonly mask?: Mask
}

/**
 * Simplified AdEMAMix: θ ← θ − α_k ((m + a g) / (√(n̂ + ε_root) + ε) + λθ), m ← g + β₁m (no
 * (1 − β₁) factor, no bias correction), n̂ Adam's bias-corrected second moment (see
 * `scaleBySimplifiedAdemamix`). Because m sums gradients, the learning rate is about (1 − β₁)
 * times Adam's. `chain(scaleBySimplifiedAdemamix(...), addDecayedWeights(...), scaleByLearningRate(α))`.
 *
 * Defaults: b1 = 0.99, b2 = 0.95, alpha = 0, eps = 1e-8, epsRoot = 0, weightDecay = 0 (Optax's).
 * Reference: Morwani et al. 2025, "Connections between Schedule-Free Optimizers, AdEMAMix, and
 * Accelerated SGD Variants"; Optax `contrib.simplified_ademamix`.
 *
 * @example
 * ```ts
 * const opt = simplifiedAdemamix({ learningRate: 1e-4, alpha: 2 })
 * ```
 */
export const simplifiedAdemamix = (options: SimplifiedAdemamixOptions): Optimizer => {
  const o = validate(
    'simplifiedAdemamix',
    { ...lr, b1: ranges.unitInterval, b2: ranges.unitInterval, alpha: nonNegativeOrSchedule, eps: ranges.nonNegative, epsRoot: ranges.nonNegative, weightDecay: nonNegativeOrSchedule, mask: maskCodec },
    options,
    { b1: 0.99, b2: 0.95, alpha: 0, eps: 1e-8, epsRoot: 0, weightDecay: 0 },
  )
  return namedOptimizer(
    'simplifiedAdemamix',
    o,
    scaleBySimplifiedAdemamix({ b1: o.b1, b2: o.b2, alpha: o.alpha, eps: o.eps, epsRoot: o.epsRoot }),
    addDecayedWeights({ weightDecay: asFloat32(o.weightDecay), mask: o.mask }),
    learningRateStep(o),
  )
}

/** Options of `madgrad`. */
export interface MadgradOptions {
  /** η, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** c, the momentum, in [0, 1). Default 0.9. */
  readonly momentum?: number
  /** λ ≥ 0, L2 weight decay added to the gradient (coupled, as PyTorch's MADGRAD). Default 0. */
  readonly weightDecay?: number
  /** ε ≥ 0. Default 1e-6. */
  readonly eps?: number
}

/**
 * MADGRAD: with g ← g + λθ and λ_k = (η_k + ε)√(k + 1), G ← G + λ_k g², s ← s + λ_k g,
 * z = x₀ − s/(∛G + ε), θ ← (1 − c)z + cθ (see `scaleByMadgrad`; no learning rate follows it).
 * `chain(addDecayedWeights({ weightDecay }), scaleByMadgrad({ learningRate, momentum, eps }))`.
 * Needs the params.
 *
 * Defaults: momentum = 0.9, weightDecay = 0, eps = 1e-6 (Optax's).
 * Reference: Defazio & Jelassi 2021, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual
 * Averaged Gradient Method for Stochastic Optimization", Algorithm 1; Optax `contrib.madgrad`.
 *
 * @example
 * ```ts
 * const opt = madgrad({ learningRate: 1e-2 })
 * ```
 */
export const madgrad = (options: MadgradOptions): Optimizer => {
  const o = validate('madgrad', { ...lr, momentum: ranges.unitInterval, weightDecay: ranges.nonNegative, eps: ranges.nonNegative }, options, { momentum: 0.9, weightDecay: 0, eps: 1e-6 })
  return namedOptimizer(
    'madgrad',
    o,
    addDecayedWeights({ weightDecay: Math.fround(o.weightDecay) }),
    scaleByMadgrad({ learningRate: asFloat32(o.learningRate), momentum: o.momentum, eps: o.eps }),
  )
}

/** Options of `sophia`. */
export interface SophiaOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.965. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.99. */
  readonly b2?: number
  /** ε, a normal float32 > 0. Default 1e-8. */
  readonly eps?: number
  /** λ ≥ 0, decoupled weight decay (a number or a schedule). Default 1e-4. */
  readonly weightDecay?: ScalarOrSchedule
  /** Leaves to decay (default all). */
  readonly weightDecayMask?: Mask
  /** γ ≥ 0. Default 0.01. */
  readonly gamma?: number
  /** ρ ≥ 0 or null (no clipping). Default 1. */
  readonly clipThreshold?: number | null
  /** Read the Hessian estimate every this many steps, an integer ≥ 1. Default 10. */
  readonly updateInterval?: number
}

/**
 * Sophia: θ ← θ − α_k (clip(m̂ / max(γh, ε), ±ρ) + λθ), h an EMA (β₂) of Hessian-diagonal estimates
 * read from `update`'s `hessianDiagonal` extra every `updateInterval` steps (see `scaleBySophia`;
 * estimate it with `hutchinsonHessianDiagonal`). `chain(scaleBySophia(...),
 * addDecayedWeights({ weightDecay, mask: weightDecayMask }), scaleByLearningRate(α))`.
 *
 * Defaults: b1 = 0.965, b2 = 0.99, eps = 1e-8, weightDecay = 1e-4, gamma = 0.01, clipThreshold = 1,
 * updateInterval = 10 (Optax's).
 * Reference: Liu et al. 2023, "Sophia: A Scalable Stochastic Second-order Optimizer for Language
 * Model Pre-training", Algorithm 3; Optax `contrib.sophia`.
 *
 * @example
 * ```ts
 * // f(w) = Σ aᵢwᵢ²/2: gradient a ⊙ w, Hessian diagonal a
 * const a = fromArray([1, 10])
 * const opt = sophia({ learningRate: 0.1, updateInterval: 1 })
 * let w: Params = fromArray([1, 1])
 * let state = opt.init(w)
 * for (let k = 0; k < 3; k++) {
 *   const [u, next] = opt.update(mul(a, w as Tensor), state, w, { hessianDiagonal: a })
 *   ;[w, state] = [applyUpdates(w, u), next]
 * }
 * ```
 */
export const sophia = (options: SophiaOptions): Optimizer => {
  const o = validate(
    'sophia',
    { ...lr, b1: ranges.unitInterval, b2: ranges.unitInterval, eps: anything, weightDecay: nonNegativeOrSchedule, weightDecayMask: maskCodec, gamma: anything, clipThreshold: anything, updateInterval: anything },
    options,
    { b1: 0.965, b2: 0.99, eps: 1e-8, weightDecay: 1e-4, gamma: 0.01, clipThreshold: 1, updateInterval: 10 },
  )
  return namedOptimizer(
    'sophia',
    o,
    scaleBySophia({ b1: o.b1, b2: o.b2, eps: o.eps as number, gamma: o.gamma as number, clipThreshold: o.clipThreshold as number | null, updateInterval: o.updateInterval as number }),
    addDecayedWeights({ weightDecay: asFloat32(o.weightDecay), mask: o.weightDecayMask }),
    learningRateStep(o),
  )
}
