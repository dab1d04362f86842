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
import { rawAdam, rawAdamax, rawAmsgrad, rawNadam, rawRadam } from '../transforms/raw.js'
import { scaleByLearningRate } from '../transforms/scaling.js'
import { type Convention, type Optimizer, arithmeticOf, asFloat32, conventionCodec, conventionOf, namedOptimizer, onlyIn, pytorchGradient } from './common.js'

/** The options every optimizer of the Adam family takes. */
export interface AdamFamilyOptions {
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

/** PyTorch's options on its Adam-family optimizers (convention 'pytorch' only). */
export interface PytorchGradientOptions {
  /** λ ≥ 0, PyTorch's `weight_decay`: coupled L2, g ← g + λθ before the moments. Default 0. */
  readonly weightDecay?: number
  /** PyTorch's `maximize`: ascend, g ← −g first. Default false. */
  readonly maximize?: boolean
}

/** Options of `adam`. */
export interface AdamOptions extends AdamFamilyOptions, PytorchGradientOptions {
  /** Nesterov's μ̂ (optax only: Optax's `nesterov`, i.e. `nadam`). Default false. */
  readonly nesterov?: boolean
}

const adamCodecs = (name: string, conventions: readonly Convention[]) => ({
  learningRate: nonNegativeOrSchedule,
  b1: ranges.unitInterval,
  b2: ranges.unitInterval,
  eps: ranges.nonNegative,
  epsRoot: ranges.nonNegative,
  convention: conventionCodec(name, conventions),
})

const pytorchCodecs = { weightDecay: ranges.nonNegative, maximize: ranges.boolean }
const pytorchDefaults = { weightDecay: 0, maximize: false }

/** Refuses PyTorch's weightDecay and maximize outside the pytorch convention. */
const pytorchOnly = (name: string, c: Convention, o: { readonly weightDecay: number; readonly maximize: boolean }) => {
  onlyIn(name, c, ['pytorch'], 'weightDecay', o.weightDecay, 0)
  onlyIn(name, c, ['pytorch'], 'maximize', o.maximize, false)
}

const adamDefaults = (c: Convention) => ({ b1: 0.9, b2: 0.999, eps: c === 'keras' || c === 'tfjs' ? 1e-7 : 1e-8, epsRoot: 0, convention: c })

/**
 * Adam: μ ← β₁μ + (1 − β₁)g, ν ← β₂ν + (1 − β₂)g², θ ← θ − α_k μ̂ / (√(ν̂ + ε_root) + ε) with
 * μ̂ = μ/(1 − β₁ᵗ), ν̂ = ν/(1 − β₂ᵗ). Keras computes θ ← θ − α_k (√(1 − β₂ᵗ)/(1 − β₁ᵗ)) μ / (√ν + ε),
 * ε on the uncorrected √ν; `convention: 'keras'` reproduces it. `chain(scaleByAdam(...),
 * scaleByLearningRate(α))`. Optax's `nesterov` (optax only) uses Nesterov's μ̂ (= `nadam`);
 * PyTorch's `weightDecay` (coupled: λθ added to the gradient) and `maximize` (pytorch only) come
 * first in the chain.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, epsRoot = 0; eps = 1e-8 (optax, pytorch) or 1e-7 (keras, tfjs);
 * nesterov = false, weightDecay = 0, maximize = false.
 * The lectures' form (δ inside the root) is `adam({ learningRate, eps: 0, epsRoot: 1e-8 })`.
 * Reference: seed 000_33f4fbf331723dec.txt, "Adam: Algorithm"; Kingma & Ba 2015; Optax `adam`;
 * PyTorch `torch.optim.Adam`.
 *
 * @example
 * ```ts
 * const opt = adam({ learningRate: 1e-3 })
 * const torchLike = adam({ learningRate: 1e-3, weightDecay: 1e-4, convention: 'pytorch' })
 * ```
 */
export const adam = (options: AdamOptions): Optimizer => {
  const all: Convention[] = ['optax', 'pytorch', 'keras', 'tfjs']
  const c = conventionOf('adam', all, options)
  const o = validate('adam', { ...adamCodecs('adam', all), nesterov: ranges.boolean, ...pytorchCodecs }, options, { ...adamDefaults(c), nesterov: false, ...pytorchDefaults })
  onlyIn('adam', c, ['optax'], 'nesterov', o.nesterov, false)
  pytorchOnly('adam', c, o)
  return namedOptimizer(
    'adam',
    o,
    ...pytorchGradient(o.maximize, o.weightDecay),
    rawAdam(o.b1, o.b2, o.eps, o.epsRoot, o.nesterov, c === 'keras', arithmeticOf(c)),
    scaleByLearningRate(asFloat32(o.learningRate)),
  )
}

/** Options of `adamw`. */
export interface AdamwOptions extends AdamFamilyOptions {
  /** λ ≥ 0, a number or a schedule. Default by convention: 1e-4 (optax), 1e-2 (pytorch), 4e-3 (keras). */
  readonly weightDecay?: ScalarOrSchedule
  /** Leaves to decay (default all). */
  readonly mask?: Mask
  /** Nesterov's μ̂ (optax only: Optax's `nesterov`). Default false. */
  readonly nesterov?: boolean
  /** PyTorch's `maximize` (pytorch only): g ← −g first. Default false. */
  readonly maximize?: boolean
}

/**
 * AdamW, Adam with decoupled weight decay: θ ← θ − α_k (μ̂ / (√(ν̂ + ε_root) + ε) + λθ).
 * `chain(scaleByAdam(...), addDecayedWeights({ weightDecay, mask }), scaleByLearningRate(α))`.
 * With λ = 0 it is `adam`. TensorFlow.js has no AdamW. Optax's `nesterov` (optax only);
 * PyTorch's `maximize` (pytorch only).
 *
 * Defaults: as `adam`; weightDecay 1e-4 (optax), 1e-2 (pytorch), 4e-3 (keras).
 * Reference: Loshchilov & Hutter 2019, Algorithm 2; Optax `adamw`; PyTorch `torch.optim.AdamW`.
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
    { ...adamCodecs('adamw', conventions), weightDecay: nonNegativeOrSchedule, mask: maskCodec, nesterov: ranges.boolean, maximize: ranges.boolean },
    options,
    { ...adamDefaults(c), weightDecay: c === 'pytorch' ? 1e-2 : c === 'keras' ? 4e-3 : 1e-4, nesterov: false, maximize: false },
  )
  onlyIn('adamw', c, ['optax'], 'nesterov', o.nesterov, false)
  onlyIn('adamw', c, ['pytorch'], 'maximize', o.maximize, false)
  return namedOptimizer(
    'adamw',
    o,
    ...pytorchGradient(o.maximize, 0),
    rawAdam(o.b1, o.b2, o.eps, o.epsRoot, o.nesterov, c === 'keras', arithmeticOf(c)),
    addDecayedWeights({ weightDecay: asFloat32(o.weightDecay), mask: o.mask }),
    scaleByLearningRate(asFloat32(o.learningRate)),
  )
}

/** Options of `nadam`. */
export interface NadamOptions extends AdamFamilyOptions, PytorchGradientOptions {
  /** ψ ≥ 0, PyTorch's `momentum_decay` (pytorch only): μₜ = β₁(1 − ½·0.96^(ψt)). Default 4e-3. */
  readonly momentumDecay?: number
  /** PyTorch's `decoupled_weight_decay` (pytorch only): θ ← θ − α_k λθ instead of g + λθ. Default false. */
  readonly decoupledWeightDecay?: boolean
}

/**
 * NAdam. Optax's form (default): Adam with μ̂ = β₁μ/(1 − β₁ᵗ⁺¹) + (1 − β₁)g/(1 − β₁ᵗ),
 * `chain(scaleByAdam({ nesterov: true, ... }), scaleByLearningRate(α))`. PyTorch's and Keras' form
 * (Dozat 2016) schedules the momentum, μₜ = β₁(1 − ½·0.96^(ψt)) with Πₜ = μ₁⋯μₜ:
 *
 *   θ ← θ − α_k ((1 − μₜ)/(1 − Πₜ) g + μₜ₊₁/(1 − Πₜμₜ₊₁) m) / (√(ν/(1 − β₂ᵗ)) + ε)
 *
 * with ψ = `momentumDecay` (PyTorch, 4e-3) or 1 (Keras, fixed). PyTorch also has `weightDecay`
 * (coupled, or decoupled with `decoupledWeightDecay`: the NAdamW form) and `maximize`.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, epsRoot = 0 (optax only); eps = 1e-8 (optax, pytorch), 1e-7
 * (keras); momentumDecay = 4e-3, weightDecay = 0, decoupledWeightDecay = false, maximize = false.
 * Reference: Dozat 2016, "Incorporating Nesterov Momentum into Adam"; Optax `nadam`; PyTorch
 * `torch.optim.NAdam`; Keras `keras.optimizers.Nadam`.
 *
 * @example
 * ```ts
 * const opt = nadam({ learningRate: 2e-3 })
 * const torchLike = nadam({ learningRate: 2e-3, convention: 'pytorch' })
 * ```
 */
export const nadam = (options: NadamOptions): Optimizer => {
  const conventions: Convention[] = ['optax', 'pytorch', 'keras']
  const c = conventionOf('nadam', conventions, options)
  const o = validate(
    'nadam',
    { ...adamCodecs('nadam', conventions), ...pytorchCodecs, momentumDecay: ranges.nonNegative, decoupledWeightDecay: ranges.boolean },
    options,
    { ...adamDefaults(c), ...pytorchDefaults, momentumDecay: 4e-3, decoupledWeightDecay: false },
  )
  onlyIn('nadam', c, ['optax'], 'epsRoot', o.epsRoot, 0)
  onlyIn('nadam', c, ['pytorch'], 'momentumDecay', o.momentumDecay, 4e-3)
  onlyIn('nadam', c, ['pytorch'], 'decoupledWeightDecay', o.decoupledWeightDecay, false)
  pytorchOnly('nadam', c, o)
  const lr = scaleByLearningRate(asFloat32(o.learningRate))
  if (c === 'optax') return namedOptimizer('nadam', o, rawAdam(o.b1, o.b2, o.eps, o.epsRoot, true), lr)
  const scaling = rawNadam(o.b1, o.b2, o.eps, c === 'pytorch' ? o.momentumDecay : 1, c === 'pytorch' ? 'pytorch' : 'keras')
  return o.decoupledWeightDecay
    ? namedOptimizer('nadam', o, ...pytorchGradient(o.maximize, 0), scaling, ...(o.weightDecay > 0 ? [addDecayedWeights({ weightDecay: Math.fround(o.weightDecay) })] : []), lr)
    : namedOptimizer('nadam', o, ...pytorchGradient(o.maximize, o.weightDecay), scaling, lr)
}

/** Options of `amsgrad`. */
export interface AmsgradOptions extends AdamFamilyOptions, PytorchGradientOptions {
  /** Divide μ by 1 − β₁ᵗ (optax only: Optax's `bias_correction_mu`). Default true. */
  readonly biasCorrectionMu?: boolean
  /** Divide ν by 1 − β₂ᵗ before the maximum (optax only: Optax's `bias_correction_nu`). Default true. */
  readonly biasCorrectionNu?: boolean
}

/**
 * AMSGrad: Adam dividing by the running maximum of the second moment. Optax keeps the maximum of
 * ν̂ = ν/(1 − β₂ᵗ); PyTorch and Keras keep the maximum of ν and bias-correct afterwards (Keras
 * also with its ε on the uncorrected root); the conventions reproduce each. Optax's alias can leave
 * μ or ν uncorrected (`biasCorrectionMu`, `biasCorrectionNu`); PyTorch's has `weightDecay`
 * (coupled) and `maximize`.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, epsRoot = 0; eps = 1e-8 (optax, pytorch), 1e-7 (keras);
 * biasCorrectionMu = biasCorrectionNu = true, weightDecay = 0, maximize = false.
 * Reference: Reddi et al. 2018; Optax `amsgrad`; PyTorch `Adam(amsgrad=True)`.
 *
 * @example
 * ```ts
 * const opt = amsgrad({ learningRate: 1e-3 })
 * ```
 */
export const amsgrad = (options: AmsgradOptions): Optimizer => {
  const conventions: Convention[] = ['optax', 'pytorch', 'keras']
  const c = conventionOf('amsgrad', conventions, options)
  const o = validate(
    'amsgrad',
    { ...adamCodecs('amsgrad', conventions), ...pytorchCodecs, biasCorrectionMu: ranges.boolean, biasCorrectionNu: ranges.boolean },
    options,
    { ...adamDefaults(c), ...pytorchDefaults, biasCorrectionMu: true, biasCorrectionNu: true },
  )
  onlyIn('amsgrad', c, ['optax'], 'biasCorrectionMu', o.biasCorrectionMu, true)
  onlyIn('amsgrad', c, ['optax'], 'biasCorrectionNu', o.biasCorrectionNu, true)
  pytorchOnly('amsgrad', c, o)
  return namedOptimizer(
    'amsgrad',
    o,
    ...pytorchGradient(o.maximize, o.weightDecay),
    rawAmsgrad(o.b1, o.b2, o.eps, o.epsRoot, c !== 'optax', c === 'keras', arithmeticOf(c), { debiasMu: o.biasCorrectionMu, debiasNu: o.biasCorrectionNu }),
    scaleByLearningRate(asFloat32(o.learningRate)),
  )
}

/** Options of `adamax`. */
export interface AdamaxOptions extends Omit<AdamFamilyOptions, 'epsRoot'>, PytorchGradientOptions {}

/**
 * Adamax: μ ← β₁μ + (1 − β₁)g, ν ← max(β₂ν, |g| + ε), θ ← θ − α_k (μ/(1 − β₁ᵗ)) / ν (optax,
 * pytorch); Keras and TensorFlow.js use ν ← max(β₂ν, |g|) and divide by ν + ε. PyTorch's
 * `weightDecay` (coupled) and `maximize` (pytorch only).
 *
 * Defaults: b1 = 0.9, b2 = 0.999; eps = 1e-8 (optax, pytorch), 1e-7 (keras, tfjs); weightDecay =
 * 0, maximize = false.
 * Reference: Kingma & Ba 2015, Section 7.1; Optax `adamax`; PyTorch `torch.optim.Adamax`.
 *
 * @example
 * ```ts
 * const opt = adamax({ learningRate: 2e-3 })
 * ```
 */
export const adamax = (options: AdamaxOptions): Optimizer => {
  const all: Convention[] = ['optax', 'pytorch', 'keras', 'tfjs']
  const c = conventionOf('adamax', all, options)
  const { epsRoot: _r, ...codecs } = adamCodecs('adamax', all)
  const { epsRoot: _d, ...defaults } = adamDefaults(c)
  const o = validate('adamax', { ...codecs, ...pytorchCodecs }, options, { ...defaults, ...pytorchDefaults })
  pytorchOnly('adamax', c, o)
  return namedOptimizer(
    'adamax',
    o,
    ...pytorchGradient(o.maximize, o.weightDecay),
    rawAdamax(o.b1, o.b2, o.eps, c === 'optax' || c === 'pytorch', arithmeticOf(c)),
    scaleByLearningRate(asFloat32(o.learningRate)),
  )
}

/** Options of `radam`. */
export interface RadamOptions extends AdamFamilyOptions, PytorchGradientOptions {
  /**
   * The adaptive (rectified) step is taken once ρₜ ≥ threshold (optax only); a finite number > 4,
   * since the rectifier rₜ is real and non-zero only for ρₜ > 4. Default 5 (PyTorch: ρₜ > 5, fixed).
   */
  readonly threshold?: number
  /** Nesterov's μ̂ (optax only: Optax's `nesterov`). Default false. */
  readonly nesterov?: boolean
  /** PyTorch's `decoupled_weight_decay` (pytorch only): θ ← θ − α_k λθ instead of g + λθ. Default false. */
  readonly decoupledWeightDecay?: boolean
}

/**
 * RAdam: Adam whose adaptive step is rectified by rₜ, and plain momentum while ρₜ < threshold
 * (see `scaleByRadam`). `chain(scaleByRadam(...), scaleByLearningRate(α))`. PyTorch's form
 * (`convention: 'pytorch'`) puts ε on the uncorrected root, u = rₜ √(1 − β₂ᵗ) μ̂ / (√ν + ε), takes
 * the rectified step where ρₜ > 5, computes ρₜ and rₜ in float64, and has `weightDecay` (coupled,
 * or decoupled with `decoupledWeightDecay`) and `maximize`. Optax's has `nesterov` and
 * `threshold`; it computes ρₜ and rₜ in float32.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0 (optax only), threshold = 5, nesterov =
 * false, weightDecay = 0, decoupledWeightDecay = false, maximize = false. The threshold must be a
 * finite number > 4: rₜ = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ)) is NaN for ρₜ in (2, 4),
 * which a threshold of 3 reaches at step 4. Optax accepts any threshold (and gives NaN there).
 * Reference: Liu et al. 2020, Algorithm 2 ("if ρₜ > 4"); Optax `radam`; PyTorch `torch.optim.RAdam`.
 *
 * @example
 * ```ts
 * const opt = radam({ learningRate: 1e-3 })
 * ```
 */
export const radam = (options: RadamOptions): Optimizer => {
  const conventions: Convention[] = ['optax', 'pytorch']
  const c = conventionOf('radam', conventions, options)
  const o = validate(
    'radam',
    { ...adamCodecs('radam', conventions), threshold: radamThreshold, nesterov: ranges.boolean, ...pytorchCodecs, decoupledWeightDecay: ranges.boolean },
    options,
    { ...adamDefaults(c), threshold: 5, nesterov: false, ...pytorchDefaults, decoupledWeightDecay: false },
  )
  for (const [field, byDefault] of [['epsRoot', 0], ['threshold', 5], ['nesterov', false]] as const) onlyIn('radam', c, ['optax'], field, o[field], byDefault)
  onlyIn('radam', c, ['pytorch'], 'decoupledWeightDecay', o.decoupledWeightDecay, false)
  pytorchOnly('radam', c, o)
  const lr = scaleByLearningRate(asFloat32(o.learningRate))
  if (c === 'optax') return namedOptimizer('radam', o, rawRadam(o.b1, o.b2, o.eps, o.epsRoot, o.threshold, { nesterov: o.nesterov }), lr)
  const scaling = rawRadam(o.b1, o.b2, o.eps, 0, 5, { form: 'pytorch' })
  return o.decoupledWeightDecay
    ? namedOptimizer('radam', o, ...pytorchGradient(o.maximize, 0), scaling, ...(o.weightDecay > 0 ? [addDecayedWeights({ weightDecay: Math.fround(o.weightDecay) })] : []), lr)
    : namedOptimizer('radam', o, ...pytorchGradient(o.maximize, o.weightDecay), scaling, lr)
}
