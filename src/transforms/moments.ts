/**
 * Moment-based transformations: momentum (`trace`), moving averages (`ema`) and the adaptive
 * rescalings of the lectures and of Optax: Adam (with Nesterov), AMSGrad, Adamax, RMS (RMSProp),
 * centered RMS, RSS (AdaGrad), AdaDelta, Lion and RAdam.
 *
 * References: seed 000_33f4fbf331723dec.txt (momentum, Nesterov, AdaGrad, RMSProp, Adam); seed
 * 003_3f666a11de5b95b1.txt (AdaGrad, RMSprop and AdaDelta approximations); the papers cited on
 * each function; Optax `transforms/_accumulation`, `_adding`, `_scaling`.
 */
import { zerosLikeTree } from '../core/base.js'
import { elementwiseTree, frozen, transformation } from '../core/internal.js'
import type { GradientTransformation, Params } from '../core/types.js'
import { radamThreshold, ranges, validate } from '../core/validate.js'
import { defineElementwise } from '../tensor/tensor.js'
import * as t from 'io-ts'
import { paramsCodec } from '../core/state.js'
import type { AccumulatorState } from './accumulator.js'
import { rawAdadelta, rawAdam, rawAdamax, rawAmsgrad, rawEma, rawLion, rawRadam, rawRms, rawRss, rawStddev } from './raw.js'

/** State of `trace`: the momentum buffer m, shaped like the params. */
export interface TraceState {
  readonly trace: Params
}

/** Options of `trace`. */
export interface TraceOptions {
  /** β, the decay of past contributions, in [0, 1). Default 0.9. */
  readonly decay?: number
  /** Use Nesterov's look-ahead form. Default false. */
  readonly nesterov?: boolean
}

const traceOp = defineElementwise({
  name: 'trace',
  inputs: ['g', 'm'],
  scalars: ['decay'],
  lets: [['m1', 'g + decay * m']],
  outputs: ['m1', 'm1'],
})

const nesterovOp = defineElementwise({
  name: 'traceNesterov',
  inputs: ['g', 'm'],
  scalars: ['decay'],
  lets: [['m1', 'g + decay * m']],
  outputs: ['m1', 'g + decay * m1'],
})

/**
 * Momentum: m ← g + β m, u = m; with `nesterov`, u = g + β m (using the new m).
 *
 * With a learning rate α applied after it, this is the lectures' velocity form v ← βv − αg,
 * θ ← θ + v with v = −αm, exactly while α is constant. The Nesterov form is the lectures' interim
 * update θ̃ = θ + βv, g = ∇J(θ̃) rewritten in terms of the look-ahead point θ̃ (Sutskever et al.
 * 2013; Optax's reformulation): the parameters it carries are θ̃.
 *
 * Defaults: decay = 0.9, nesterov = false. State: `{ trace }`, zeros at init.
 * Reference: seed 000_33f4fbf331723dec.txt, "SGD with momentum" and "SGD with Nesterov momentum".
 *
 * @example
 * ```ts
 * const momentum = chain(trace({ decay: 0.9, nesterov: true }), scaleByLearningRate(0.01))
 * ```
 */
export const trace = (options: TraceOptions = {}): GradientTransformation<TraceState> => {
  const { decay, nesterov } = validate('trace', { decay: ranges.unitInterval, nesterov: ranges.boolean }, options, { decay: 0.9, nesterov: false })
  const op = nesterov ? nesterovOp : traceOp
  return transformation('trace', {
    init: (params: Params) => frozen({ trace: zerosLikeTree(params) }),
    update: (updates: Params, state: TraceState) => {
      const [m, u] = elementwiseTree(op, [['updates', updates], ['state.trace', state.trace]], [decay])
      return [u!, frozen({ trace: m! })] as const
    },
    stateCodec: t.strict({ trace: paramsCodec }, '{ trace }'),
  }, {
    fusion: {
      kind: 'stage',
      stage: {
        name: 'trace',
        op,
        sources: [{ from: 'updates' }, { from: 'buffer', name: 'trace' }],
        sinks: [{ to: 'buffer', name: 'trace' }, { to: 'updates' }],
        buffers: ['trace'],
        constants: ['decay'],
        host: () => ({ scalars: [decay], hostState: {} }),
      },
    },
  })
}

/** State of `ema`: step count and the moving average. */
export type EmaState = AccumulatorState<'ema'>

/** Options of `ema`. */
export interface EmaOptions {
  /** β in [0, 1). Default 0.9. */
  readonly decay?: number
  /** Divide by 1 − βᵗ (Adam's bias correction). Default true. */
  readonly debias?: boolean
}

/**
 * Exponential moving average of the updates: e ← βe + (1 − β)g; u = e / (1 − βᵗ) when debiased,
 * else u = e.
 *
 * Defaults: decay = 0.9, debias = true. State: `{ count, ema }`.
 * Reference: seed 003_3f666a11de5b95b1.txt ("EMA"); Optax `ema`.
 *
 * @example
 * ```ts
 * const smoothed = chain(ema({ decay: 0.99 }), scaleByLearningRate(0.1))
 * ```
 */
export const ema = (options: EmaOptions = {}): GradientTransformation<EmaState> => {
  const { decay, debias } = validate('ema', { decay: ranges.unitInterval, debias: ranges.boolean }, options, { decay: 0.9, debias: true })
  return rawEma(decay, debias)
}

/** State of `scaleByAdam`: step count and the first (mu) and second (nu) moment estimates. */
export type ScaleByAdamState = AccumulatorState<'mu' | 'nu'>

/** Options of `scaleByAdam`. */
export interface ScaleByAdamOptions {
  /** β₁, decay of the first moment, in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂, decay of the second moment, in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε added outside the square root, ≥ 0. Default 1e-8. */
  readonly eps?: number
  /** ε added inside the square root (the lectures' δ), ≥ 0. Default 0. */
  readonly epsRoot?: number
  /** Nesterov momentum (NAdam). Default false. */
  readonly nesterov?: boolean
}

const adamCodecs = { b1: ranges.unitInterval, b2: ranges.unitInterval, eps: ranges.nonNegative, epsRoot: ranges.nonNegative, nesterov: ranges.boolean }

/**
 * Adam's rescaling (without the learning rate):
 *
 *   t ← t + 1,  μ ← β₁μ + (1 − β₁)g,  ν ← β₂ν + (1 − β₂)g⊙g,
 *   μ̂ = μ / (1 − β₁ᵗ)   (NAdam: μ̂ = β₁μ / (1 − β₁ᵗ⁺¹) + (1 − β₁)g / (1 − β₁ᵗ)),
 *   ν̂ = ν / (1 − β₂ᵗ),  u = μ̂ / (√(ν̂ + ε_root) + ε).
 *
 * The lectures' Adam, θ ← θ − α v̂ / √(r̂ + δ), is eps = 0, epsRoot = δ; Optax's default is
 * eps = 1e-8, epsRoot = 0. 1 − β and the bias corrections 1 − βᵗ are computed on the host in
 * float32, as Optax computes them (docs/conventions.md, "Scalar arithmetic").
 * With eps = epsRoot = 0 the denominator is 0 only where every gradient so far was 0 (so μ = 0 too);
 * the update there is 0 rather than 0/0 (the same guard applies to the other adaptive rescalings).
 * A NaN gradient, or a ν that overflowed float32 (|g| > 1.8e19), gives a NaN update, never a silent
 * 0 (docs/nonfinite.md).
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0, nesterov = false. State: `{ count, mu, nu }`.
 * Reference: seed 000_33f4fbf331723dec.txt, "Adam: Algorithm"; Kingma & Ba 2015, Algorithm 1;
 * Dozat 2016 (NAdam); Optax `scale_by_adam`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByAdam({ b2: 0.99 }), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByAdam = (options: ScaleByAdamOptions = {}): GradientTransformation<ScaleByAdamState> => {
  const o = validate('scaleByAdam', adamCodecs, options, { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, nesterov: false })
  return rawAdam(o.b1, o.b2, o.eps, o.epsRoot, o.nesterov)
}

/** State of `scaleByAmsgrad`: Adam's plus the running maximum `nuMax` of ν̂. */
export type ScaleByAmsgradState = AccumulatorState<'mu' | 'nu' | 'nuMax'>

/**
 * AMSGrad: Adam with a non-decreasing second moment, ν̂ₘₐₓ ← max(ν̂ₘₐₓ, ν̂),
 * u = μ̂ / (√(ν̂ₘₐₓ + ε_root) + ε).
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0. State: `{ count, mu, nu, nuMax }`.
 * Reference: Reddi et al. 2018, "On the Convergence of Adam and Beyond"; Optax `scale_by_amsgrad`.
 *
 * @example
 * ```ts
 * chain(scaleByAmsgrad(), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByAmsgrad = (options: Omit<ScaleByAdamOptions, 'nesterov'> = {}): GradientTransformation<ScaleByAmsgradState> => {
  const { nesterov: _n, ...codecs } = adamCodecs
  const o = validate('scaleByAmsgrad', codecs, options, { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0 })
  return rawAmsgrad(o.b1, o.b2, o.eps, o.epsRoot, false)
}

/** State of `scaleByAdamax`: step count, first moment and exponentially weighted infinity norm. */
export type ScaleByAdamaxState = AccumulatorState<'mu' | 'nu'>

/**
 * Adamax, Adam with the infinity norm: μ ← β₁μ + (1 − β₁)g, ν ← max(β₂ν, |g| + ε),
 * u = (μ / (1 − β₁ᵗ)) / ν.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-8. State: `{ count, mu, nu }`.
 * Reference: Kingma & Ba 2015, Section 7.1; Optax `scale_by_adamax`.
 *
 * @example
 * ```ts
 * chain(scaleByAdamax(), scaleByLearningRate(2e-3))
 * ```
 */
export const scaleByAdamax = (options: { readonly b1?: number; readonly b2?: number; readonly eps?: number } = {}): GradientTransformation<ScaleByAdamaxState> => {
  const o = validate('scaleByAdamax', { b1: ranges.unitInterval, b2: ranges.unitInterval, eps: ranges.nonNegative }, options, { b1: 0.9, b2: 0.999, eps: 1e-8 })
  return rawAdamax(o.b1, o.b2, o.eps, true)
}

/** Options of `scaleByRms` and `scaleByStddev`. */
export interface ScaleByRmsOptions {
  /** ρ, decay of the average of g², in [0, 1). Default 0.9. */
  readonly decay?: number
  /** ε ≥ 0. Default 1e-8. */
  readonly eps?: number
  /** ε inside the square root, √(ν + ε) (true), or outside, √ν + ε (false). Default true. */
  readonly epsInSqrt?: boolean
  /** Initial value of ν, ≥ 0. Default 0. */
  readonly initialScale?: number
  /** Divide the averages by 1 − ρᵗ. Default false. */
  readonly biasCorrection?: boolean
}

const rmsCodecs = {
  decay: ranges.unitInterval,
  eps: ranges.nonNegative,
  epsInSqrt: ranges.boolean,
  initialScale: ranges.nonNegative,
  biasCorrection: ranges.boolean,
}
const rmsDefaults = { decay: 0.9, eps: 1e-8, epsInSqrt: true, initialScale: 0, biasCorrection: false }

/** State of `scaleByRms`: step count and the average ν of g². */
export type ScaleByRmsState = AccumulatorState<'nu'>

/**
 * RMSProp's rescaling: ν ← ρν + (1 − ρ)g⊙g, ν̂ = ν (or ν / (1 − ρᵗ) with bias correction),
 * u = g / √(ν̂ + ε) (eps in the root, the lectures' √(δ + r)) or g / (√ν̂ + ε).
 *
 * Defaults: decay = 0.9, eps = 1e-8, epsInSqrt = true, initialScale = 0, biasCorrection = false
 * (Optax's). With bias correction and eps outside, this is `scaleByAdam` with b1 = 0.
 * Reference: seed 000_33f4fbf331723dec.txt, "RMSProp: Algorithm"; Hinton 2012; Optax `scale_by_rms`.
 *
 * @example
 * ```ts
 * chain(scaleByRms({ decay: 0.99 }), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByRms = (options: ScaleByRmsOptions = {}): GradientTransformation<ScaleByRmsState> => {
  const o = validate('scaleByRms', rmsCodecs, options, rmsDefaults)
  return rawRms(o.decay, o.epsInSqrt ? o.eps : 0, o.epsInSqrt ? 0 : o.eps, o.initialScale, o.biasCorrection)
}

/** State of `scaleByStddev`: step count and the averages mu of g and nu of g². */
export type ScaleByStddevState = AccumulatorState<'mu' | 'nu'>

/**
 * Centered RMSProp's rescaling: μ ← ρμ + (1 − ρ)g, ν ← ρν + (1 − ρ)g⊙g,
 * u = g / √(ν − μ² + ε) (or g / (√(ν − μ²) + ε)), with optional bias correction of μ and ν.
 * ν − μ² is clamped at 0, since float32 rounding can make it slightly negative.
 *
 * ε must be > 0: ν − μ² is exactly 0 whenever the gradients seen so far are constant (at the first
 * bias-corrected step, always), and g/0 is not an update.
 *
 * Defaults: as `scaleByRms`. Reference: Graves 2013, "Generating Sequences With Recurrent Neural
 * Networks", eq. 38; Optax `scale_by_stddev`.
 *
 * @example
 * ```ts
 * chain(scaleByStddev(), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByStddev = (options: ScaleByRmsOptions = {}): GradientTransformation<ScaleByStddevState> => {
  const o = validate('scaleByStddev', { ...rmsCodecs, eps: ranges.positive }, options, rmsDefaults)
  return rawStddev(o.decay, o.epsInSqrt ? o.eps : 0, o.epsInSqrt ? 0 : o.eps, o.initialScale, o.biasCorrection)
}

/** Options of `scaleByRss`. */
export interface ScaleByRssOptions {
  /** Initial value of the accumulator r, ≥ 0. Default 0.1. */
  readonly initialAccumulatorValue?: number
  /** ε ≥ 0. Default 1e-7. */
  readonly eps?: number
  /** ε inside the square root, √(r + ε) (true), or outside, δ + √r as in the lectures (false). Default true. */
  readonly epsInSqrt?: boolean
}

/** State of `scaleByRss`: step count and the running sum of squares r. */
export type ScaleByRssState = AccumulatorState<'sumOfSquares'>

/**
 * AdaGrad's rescaling: r ← r + g⊙g, u = g / √(r + ε) (or g / (ε + √r), the lectures' form), and
 * u = 0 where r = 0 (nothing accumulated); a NaN or overflowed r gives NaN (docs/nonfinite.md).
 *
 * Defaults: initialAccumulatorValue = 0.1, eps = 1e-7, epsInSqrt = true (Optax's). The lectures'
 * AdaGrad is `{ initialAccumulatorValue: 0, eps: 1e-7, epsInSqrt: false }`.
 * Reference: seed 000_33f4fbf331723dec.txt, "AdaGrad: Algorithm"; Duchi et al. 2011; Optax
 * `scale_by_rss`.
 *
 * @example
 * ```ts
 * chain(scaleByRss(), scaleByLearningRate(0.1))
 * ```
 */
export const scaleByRss = (options: ScaleByRssOptions = {}): GradientTransformation<ScaleByRssState> => {
  const o = validate(
    'scaleByRss',
    { initialAccumulatorValue: ranges.nonNegative, eps: ranges.nonNegative, epsInSqrt: ranges.boolean },
    options,
    { initialAccumulatorValue: 0.1, eps: 1e-7, epsInSqrt: true },
  )
  return rawRss(o.initialAccumulatorValue, o.epsInSqrt ? o.eps : 0, o.epsInSqrt ? 0 : o.eps)
}

/** State of `scaleByAdadelta`: step count, E[g²] (eG) and E[Δθ²] (eX). */
export type ScaleByAdadeltaState = AccumulatorState<'eG' | 'eX'>

/**
 * AdaDelta: E[g²] ← ρE[g²] + (1 − ρ)g², u = (√(E[Δθ²] + ε) / √(E[g²] + ε)) g,
 * E[Δθ²] ← ρE[Δθ²] + (1 − ρ)u². The ratio of RMS values gives the update the units of θ.
 *
 * Defaults: rho = 0.9, eps = 1e-6. Reference: Zeiler 2012, Algorithm 1; seed 003_3f666a11de5b95b1.txt
 * ("AdaDelta"); Optax `scale_by_adadelta`.
 *
 * @example
 * ```ts
 * chain(scaleByAdadelta({ rho: 0.95 }), scaleByLearningRate(1))
 * ```
 */
export const scaleByAdadelta = (options: { readonly rho?: number; readonly eps?: number } = {}): GradientTransformation<ScaleByAdadeltaState> => {
  const o = validate('scaleByAdadelta', { rho: ranges.unitInterval, eps: ranges.positive }, options, { rho: 0.9, eps: 1e-6 })
  return rawAdadelta(o.rho, o.eps, false)
}

/** State of `scaleByLion`: step count and the momentum mu. */
export type ScaleByLionState = AccumulatorState<'mu'>

/**
 * Lion: u = sign(β₁μ + (1 − β₁)g), then μ ← β₂μ + (1 − β₂)g. Where the sign's argument is ±∞ or NaN
 * the update is NaN: μ would stay infinite, and sign(∞) a finite step for good (docs/nonfinite.md).
 *
 * Defaults: b1 = 0.9, b2 = 0.99. Reference: Chen et al. 2023, "Symbolic Discovery of
 * Optimization Algorithms", Algorithm 2; Optax `scale_by_lion`.
 *
 * @example
 * ```ts
 * chain(scaleByLion(), scaleByLearningRate(1e-4))
 * ```
 */
export const scaleByLion = (options: { readonly b1?: number; readonly b2?: number } = {}): GradientTransformation<ScaleByLionState> => {
  const o = validate('scaleByLion', { b1: ranges.unitInterval, b2: ranges.unitInterval }, options, { b1: 0.9, b2: 0.99 })
  return rawLion(o.b1, o.b2)
}

/** Options of `scaleByRadam`. */
export interface ScaleByRadamOptions extends Omit<ScaleByAdamOptions, 'nesterov'> {
  /**
   * The adaptive (rectified) step is taken once ρₜ ≥ threshold; a finite number > 4, since the
   * rectifier rₜ is real and non-zero only for ρₜ > 4. Default 5.
   */
  readonly threshold?: number
}

/** State of `scaleByRadam`: as Adam's. */
export type ScaleByRadamState = AccumulatorState<'mu' | 'nu'>

/**
 * Rectified Adam: with ρ∞ = 2/(1 − β₂) − 1 and ρₜ = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ), when ρₜ ≥ threshold
 * u = rₜ μ̂ / (√(ν̂ + ε_root) + ε) with rₜ = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ)),
 * else u = μ̂ (momentum SGD while the variance estimate is unreliable).
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0, threshold = 5. The threshold must be a
 * finite number > 4: ρₜ ≤ ρ∞, so with ρₜ ≥ threshold > 4 every factor of rₜ is positive. Below 4,
 * rₜ is NaN for ρₜ in (2, 4) (a threshold of 3 reaches it at step 4 with β₂ = 0.999); at exactly 4,
 * rₜ is 0/0 once ρₜ rounds to ρ∞ = 4 (β₂ = 0.6, step 81). Optax accepts any threshold.
 * Reference: Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond",
 * Algorithm 2 ("if ρₜ > 4"); Optax `scale_by_radam`.
 *
 * @example
 * ```ts
 * chain(scaleByRadam(), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByRadam = (options: ScaleByRadamOptions = {}): GradientTransformation<ScaleByRadamState> => {
  const { nesterov: _n, ...codecs } = adamCodecs
  const o = validate('scaleByRadam', { ...codecs, threshold: radamThreshold }, options, { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, threshold: 5 })
  return rawRadam(o.b1, o.b2, o.eps, o.epsRoot, o.threshold)
}
