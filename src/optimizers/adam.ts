/**
 * The Adam family: Adam, AdamW, NAdam, AMSGrad, Adamax, RAdam, with the conventions of Optax
 * (default), PyTorch, Keras 3 and TensorFlow.js where they exist (docs/conventions.md).
 *
 * References: seed 000_33f4fbf331723dec.txt ("Adam: Algorithm"); Kingma & Ba 2015; Loshchilov &
 * Hutter 2019; Dozat 2016; Reddi et al. 2018; Liu et al. 2020.
 */
import { type Mask, maskCodec } from '../core/mask.js'
import type { ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, radamThreshold, ranges, validate } from '../core/validate.js'
import { addDecayedWeights } from '../transforms/decay.js'
import { rawAdam, rawAdamax, rawAmsgrad, rawRadam } from '../transforms/raw.js'
import { scaleByLearningRate } from '../transforms/scaling.js'
import { type Convention, type Optimizer, conventionCodec, conventionOf, namedOptimizer } from './common.js'

/** Options of `adam`. */
export interface AdamOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0 outside the root. Default by convention: 1e-8 (optax, pytorch), 1e-7 (keras, tfjs). */
  readonly eps?: number
  /** ε ≥ 0 inside the root (the lectures' δ). Default 0. */
  readonly epsRoot?: number
  /** Default 'optax'. */
  readonly convention?: Convention
}

const adamCodecs = (name: string, conventions: readonly Convention[]) => ({
  learningRate: nonNegativeOrSchedule,
  b1: ranges.unitInterval,
  b2: ranges.unitInterval,
  eps: ranges.nonNegative,
  epsRoot: ranges.nonNegative,
  convention: conventionCodec(name, conventions),
})

const adamDefaults = (c: Convention) => ({ b1: 0.9, b2: 0.999, eps: c === 'keras' || c === 'tfjs' ? 1e-7 : 1e-8, epsRoot: 0, convention: c })

/**
 * Adam: μ ← β₁μ + (1 − β₁)g, ν ← β₂ν + (1 − β₂)g², θ ← θ − α_k μ̂ / (√(ν̂ + ε_root) + ε) with
 * μ̂ = μ/(1 − β₁ᵗ), ν̂ = ν/(1 − β₂ᵗ). Keras adds ε to √ν instead of √ν̂ (ε̂ = ε√(1 − β₂ᵗ));
 * `convention: 'keras'` reproduces it. `chain(scaleByAdam(...), scaleByLearningRate(α))`.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, epsRoot = 0; eps = 1e-8 (optax, pytorch) or 1e-7 (keras, tfjs).
 * The lectures' form (δ inside the root) is `adam({ learningRate, eps: 0, epsRoot: 1e-8 })`.
 * Reference: seed 000_33f4fbf331723dec.txt, "Adam: Algorithm"; Kingma & Ba 2015; Optax `adam`.
 *
 * @example
 * ```ts
 * const opt = adam({ learningRate: 1e-3 })
 * ```
 */
export const adam = (options: AdamOptions): Optimizer => {
  const c = conventionOf('adam', ['optax', 'pytorch', 'keras', 'tfjs'], options)
  const o = validate('adam', adamCodecs('adam', ['optax', 'pytorch', 'keras', 'tfjs']), options, adamDefaults(c))
  return namedOptimizer('adam', o, rawAdam(o.b1, o.b2, o.eps, o.epsRoot, false, c === 'keras'), scaleByLearningRate(o.learningRate))
}

/** Options of `adamw`. */
export interface AdamwOptions extends AdamOptions {
  /** λ ≥ 0, a number or a schedule. Default by convention: 1e-4 (optax), 1e-2 (pytorch), 4e-3 (keras). */
  readonly weightDecay?: ScalarOrSchedule
  /** Leaves to decay (default all). */
  readonly mask?: Mask
}

/**
 * AdamW, Adam with decoupled weight decay: θ ← θ − α_k (μ̂ / (√(ν̂ + ε_root) + ε) + λθ).
 * `chain(scaleByAdam(...), addDecayedWeights({ weightDecay, mask }), scaleByLearningRate(α))`.
 * With λ = 0 it is `adam`. TensorFlow.js has no AdamW.
 *
 * Defaults: as `adam`; weightDecay 1e-4 (optax), 1e-2 (pytorch), 4e-3 (keras).
 * Reference: Loshchilov & Hutter 2019, Algorithm 2; Optax `adamw`.
 *
 * @example
 * ```ts
 * const opt = adamw({ learningRate: 1e-3, weightDecay: 1e-2 })
 * ```
 */
export const adamw = (options: AdamwOptions): Optimizer => {
  const conventions: Convention[] = ['optax', 'pytorch', 'keras']
  const c = conventionOf('adamw', conventions, options)
  const o = validate(
    'adamw',
    { ...adamCodecs('adamw', conventions), weightDecay: nonNegativeOrSchedule, mask: maskCodec },
    options,
    { ...adamDefaults(c), weightDecay: c === 'pytorch' ? 1e-2 : c === 'keras' ? 4e-3 : 1e-4 },
  )
  return namedOptimizer(
    'adamw',
    o,
    rawAdam(o.b1, o.b2, o.eps, o.epsRoot, false, c === 'keras'),
    addDecayedWeights({ weightDecay: o.weightDecay, mask: o.mask }),
    scaleByLearningRate(o.learningRate),
  )
}

/**
 * NAdam (Optax's form): Adam with μ̂ = β₁μ/(1 − β₁ᵗ⁺¹) + (1 − β₁)g/(1 − β₁ᵗ).
 * `chain(scaleByAdam({ nesterov: true, ... }), scaleByLearningRate(α))`. Only the 'optax'
 * convention: PyTorch's and Keras' NAdam add a momentum-decay schedule.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0.
 * Reference: Dozat 2016, "Incorporating Nesterov Momentum into Adam"; Optax `nadam`.
 *
 * @example
 * ```ts
 * const opt = nadam({ learningRate: 2e-3 })
 * ```
 */
export const nadam = (options: AdamOptions): Optimizer => {
  conventionOf('nadam', ['optax'], options)
  const o = validate('nadam', adamCodecs('nadam', ['optax']), options, adamDefaults('optax'))
  return namedOptimizer('nadam', o, rawAdam(o.b1, o.b2, o.eps, o.epsRoot, true), scaleByLearningRate(o.learningRate))
}

/**
 * AMSGrad: Adam dividing by the running maximum of the second moment. Optax keeps the maximum of
 * ν̂ = ν/(1 − β₂ᵗ); PyTorch and Keras keep the maximum of ν and bias-correct afterwards (Keras
 * also with its ε̂); the conventions reproduce each.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, epsRoot = 0; eps = 1e-8 (optax, pytorch), 1e-7 (keras).
 * Reference: Reddi et al. 2018; Optax `amsgrad`; PyTorch `Adam(amsgrad=True)`.
 *
 * @example
 * ```ts
 * const opt = amsgrad({ learningRate: 1e-3 })
 * ```
 */
export const amsgrad = (options: AdamOptions): Optimizer => {
  const conventions: Convention[] = ['optax', 'pytorch', 'keras']
  const c = conventionOf('amsgrad', conventions, options)
  const o = validate('amsgrad', adamCodecs('amsgrad', conventions), options, adamDefaults(c))
  return namedOptimizer('amsgrad', o, rawAmsgrad(o.b1, o.b2, o.eps, o.epsRoot, c !== 'optax', c === 'keras'), scaleByLearningRate(o.learningRate))
}

/**
 * Adamax: μ ← β₁μ + (1 − β₁)g, ν ← max(β₂ν, |g| + ε), θ ← θ − α_k (μ/(1 − β₁ᵗ)) / ν (optax,
 * pytorch); Keras and TensorFlow.js use ν ← max(β₂ν, |g|) and divide by ν + ε.
 *
 * Defaults: b1 = 0.9, b2 = 0.999; eps = 1e-8 (optax, pytorch), 1e-7 (keras, tfjs).
 * Reference: Kingma & Ba 2015, Section 7.1; Optax `adamax`.
 *
 * @example
 * ```ts
 * const opt = adamax({ learningRate: 2e-3 })
 * ```
 */
export const adamax = (options: Omit<AdamOptions, 'epsRoot'>): Optimizer => {
  const all: Convention[] = ['optax', 'pytorch', 'keras', 'tfjs']
  const c = conventionOf('adamax', all, options)
  const { epsRoot: _r, ...codecs } = adamCodecs('adamax', all)
  const { epsRoot: _d, ...defaults } = adamDefaults(c)
  const o = validate('adamax', codecs, options, defaults)
  return namedOptimizer('adamax', o, rawAdamax(o.b1, o.b2, o.eps, c === 'optax' || c === 'pytorch'), scaleByLearningRate(o.learningRate))
}

/** Options of `radam`. */
export interface RadamOptions extends AdamOptions {
  /**
   * The adaptive (rectified) step is taken once ρₜ ≥ threshold; a finite number > 4, since the
   * rectifier rₜ is real and non-zero only for ρₜ > 4. Default 5.
   */
  readonly threshold?: number
}

/**
 * RAdam: Adam whose adaptive step is rectified by rₜ, and plain momentum while ρₜ < threshold
 * (see `scaleByRadam`). `chain(scaleByRadam(...), scaleByLearningRate(α))`. Optax's convention only.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0, threshold = 5. The threshold must be
 * a finite number > 4: rₜ = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ)) is NaN for ρₜ in (2, 4),
 * which a threshold of 3 reaches at step 4. Optax accepts any threshold (and gives NaN there).
 * Reference: Liu et al. 2020, Algorithm 2 ("if ρₜ > 4"); Optax `radam`.
 *
 * @example
 * ```ts
 * const opt = radam({ learningRate: 1e-3 })
 * ```
 */
export const radam = (options: RadamOptions): Optimizer => {
  conventionOf('radam', ['optax'], options)
  const o = validate('radam', { ...adamCodecs('radam', ['optax']), threshold: radamThreshold }, options, { ...adamDefaults('optax'), threshold: 5 })
  return namedOptimizer('radam', o, rawRadam(o.b1, o.b2, o.eps, o.epsRoot, o.threshold), scaleByLearningRate(o.learningRate))
}
