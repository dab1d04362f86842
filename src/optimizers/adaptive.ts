/**
 * Per-parameter adaptive learning rates: AdaGrad, RMSProp (plain, centered, with momentum and
 * Nesterov) and AdaDelta, each with the conventions of Optax (default), PyTorch, Keras 3 and
 * TensorFlow.js (docs/conventions.md).
 *
 * References: seed 000_33f4fbf331723dec.txt ("AdaGrad", "RMSProp", "RMSProp with Nesterov
 * momentum"); seed 003_3f666a11de5b95b1.txt ("AdaDelta"); Duchi et al. 2011; Hinton 2012;
 * Zeiler 2012.
 */
import type { ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, ranges, validate } from '../core/validate.js'
import { rawAdadelta, rawRms, rawRss, rawStddev } from '../transforms/raw.js'
import { scaleByLearningRate } from '../transforms/scaling.js'
import { type Convention, type Optimizer, conventionCodec, conventionOf, momentumOrIdentity, namedOptimizer, unavailable } from './common.js'

const all: readonly Convention[] = ['optax', 'pytorch', 'keras', 'tfjs']

/** Options of `adagrad`. */
export interface AdagradOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** Initial accumulator r₀ ≥ 0. Default by convention: optax, keras, tfjs 0.1; pytorch 0. */
  readonly initialAccumulatorValue?: number
  /** ε ≥ 0. Default by convention: optax, keras, tfjs 1e-7; pytorch 1e-10. */
  readonly eps?: number
  /** Default 'optax'. */
  readonly convention?: Convention
}

/**
 * AdaGrad: r ← r + g⊙g, θ ← θ − α_k g / √(r + ε) (optax, tfjs) or θ ← θ − α_k g / (√r + ε)
 * (pytorch, keras, and the lectures' δ + √r). Where r = 0 the step is 0.
 *
 * Defaults by convention — optax: r₀ = 0.1, ε = 1e-7 inside the root; pytorch: r₀ = 0,
 * ε = 1e-10 outside; keras: r₀ = 0.1, ε = 1e-7 outside; tfjs: r₀ = 0.1, ε = 1e-7 inside.
 * The lectures' AdaGrad (r₀ = 0, δ = 1e-7 outside) is
 * `adagrad({ learningRate, convention: 'pytorch', eps: 1e-7 })`.
 * Reference: seed 000_33f4fbf331723dec.txt, "AdaGrad: Algorithm"; Duchi et al. 2011.
 *
 * @example
 * ```ts
 * const opt = adagrad({ learningRate: 0.1 })
 * ```
 */
export const adagrad = (options: AdagradOptions): Optimizer => {
  const convention = conventionOf('adagrad', all, options)
  const o = validate(
    'adagrad',
    { learningRate: nonNegativeOrSchedule, initialAccumulatorValue: ranges.nonNegative, eps: ranges.nonNegative, convention: conventionCodec('adagrad', all) },
    options,
    { initialAccumulatorValue: convention === 'pytorch' ? 0 : 0.1, eps: convention === 'pytorch' ? 1e-10 : 1e-7, convention },
  )
  const inside = convention === 'optax' || convention === 'tfjs'
  return namedOptimizer('adagrad', o, rawRss(o.initialAccumulatorValue, inside ? o.eps : 0, inside ? 0 : o.eps), scaleByLearningRate(o.learningRate))
}

/** Options of `rmsprop`. */
export interface RmspropOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** ρ in [0, 1). Default by convention: 0.9 (optax, keras, tfjs), 0.99 (pytorch's alpha). */
  readonly decay?: number
  /** ε ≥ 0. Default by convention: 1e-8 (optax, pytorch), 1e-7 (keras, tfjs). */
  readonly eps?: number
  /** Centered RMSProp (divide by the standard deviation). Default false. */
  readonly centered?: boolean
  /** Momentum β in [0, 1). Default 0 (no buffer). */
  readonly momentum?: number
  /** Nesterov momentum (optax only: the lectures' "RMSProp with Nesterov momentum"). Default false. */
  readonly nesterov?: boolean
  /** Initial ν (optax only). Default 0. */
  readonly initialScale?: number
  /** Default 'optax'. */
  readonly convention?: Convention
}

/**
 * RMSProp: ν ← ρν + (1 − ρ)g⊙g (centered: also μ ← ρμ + (1 − ρ)g and ν − μ² in place of ν), then
 *
 *   optax, keras:  s = g / √(ν + ε),          v ← βv + α_k s,  θ ← θ − v
 *   tfjs:          s = g / √(ν + ε)  (centered: g / √(ν − μ² − ε)),  v ← βv + α_k s
 *   pytorch:       s = g / (√ν + ε),          b ← βb + s,       θ ← θ − α_k b
 *
 * so Optax, Keras and TensorFlow.js keep the learning rate inside the momentum buffer and PyTorch
 * outside. With `nesterov` (optax) the buffer step is Nesterov's: the lectures' "RMSProp with
 * Nesterov momentum" in look-ahead form.
 *
 * Defaults by convention — optax: ρ = 0.9, ε = 1e-8; pytorch: ρ = 0.99, ε = 1e-8; keras: ρ = 0.9,
 * ε = 1e-7; tfjs: ρ = 0.9, ε = 1e-7; all: centered = false, momentum = 0.
 * Reference: seed 000_33f4fbf331723dec.txt, "RMSProp: Algorithm" and "RMSProp with Nesterov
 * momentum"; Hinton 2012; Graves 2013 (centered); Optax `rmsprop`.
 *
 * @example
 * ```ts
 * const opt = rmsprop({ learningRate: 1e-3, momentum: 0.9, nesterov: true })
 * ```
 */
export const rmsprop = (options: RmspropOptions): Optimizer => {
  const convention = conventionOf('rmsprop', all, options)
  const o = validate(
    'rmsprop',
    {
      learningRate: nonNegativeOrSchedule,
      decay: ranges.unitInterval,
      eps: ranges.nonNegative,
      centered: ranges.boolean,
      momentum: ranges.unitInterval,
      nesterov: ranges.boolean,
      initialScale: ranges.nonNegative,
      convention: conventionCodec('rmsprop', all),
    },
    options,
    {
      decay: convention === 'pytorch' ? 0.99 : 0.9,
      eps: convention === 'optax' || convention === 'pytorch' ? 1e-8 : 1e-7,
      centered: false,
      momentum: 0,
      nesterov: false,
      initialScale: 0,
      convention,
    },
  )
  if (o.centered && o.eps === 0) unavailable('rmsprop', 'eps', 0, 'a number > 0 when centered: ν − μ² can be exactly 0')
  if (convention !== 'optax' && o.nesterov) unavailable('rmsprop', 'nesterov', true, `false: the ${convention} convention has no Nesterov RMSProp`)
  if (convention !== 'optax' && o.initialScale !== 0) unavailable('rmsprop', 'initialScale', o.initialScale, `0: the ${convention} convention starts ν at 0`)
  const [epsIn, epsOut] =
    convention === 'pytorch' ? [0, o.eps] : convention === 'tfjs' && o.centered ? [-o.eps, 0] : [o.eps, 0]
  const scaling = o.centered ? rawStddev(o.decay, epsIn, epsOut, o.initialScale, false) : rawRms(o.decay, epsIn, epsOut, o.initialScale, false)
  const moment = momentumOrIdentity(o.momentum, o.nesterov)
  return convention === 'pytorch'
    ? namedOptimizer('rmsprop', o, scaling, moment, scaleByLearningRate(o.learningRate))
    : namedOptimizer('rmsprop', o, scaling, scaleByLearningRate(o.learningRate), moment)
}

/** Options of `adadelta`. */
export interface AdadeltaOptions {
  /** α, a number ≥ 0 or a schedule. Required (PyTorch's default is 1, Keras' and TF.js' 1e-3). */
  readonly learningRate: ScalarOrSchedule
  /** ρ in [0, 1). Default by convention: 0.9 (optax, pytorch), 0.95 (keras, tfjs). */
  readonly rho?: number
  /** ε > 0. Default by convention: 1e-6 (optax, pytorch), 1e-7 (keras, tfjs). */
  readonly eps?: number
  /** Default 'optax'. */
  readonly convention?: Convention
}

/**
 * AdaDelta: E[g²] ← ρE[g²] + (1 − ρ)g², Δ = (√(E[Δθ²] + ε) / √(E[g²] + ε)) g,
 * E[Δθ²] ← ρE[Δθ²] + (1 − ρ)Δ², θ ← θ − α_k Δ. TensorFlow.js divides by E[g²] from before this
 * step's update; the 'tfjs' convention reproduces that.
 *
 * Defaults by convention — optax, pytorch: ρ = 0.9, ε = 1e-6; keras: ρ = 0.95, ε = 1e-7;
 * tfjs: ρ = 0.95, ε = 1e-7 (old accumulator).
 * Reference: Zeiler 2012, Algorithm 1; seed 003_3f666a11de5b95b1.txt ("AdaDelta"); Optax `adadelta`.
 *
 * @example
 * ```ts
 * const opt = adadelta({ learningRate: 1 })
 * ```
 */
export const adadelta = (options: AdadeltaOptions): Optimizer => {
  const convention = conventionOf('adadelta', all, options)
  const keras = convention === 'keras' || convention === 'tfjs'
  const o = validate(
    'adadelta',
    { learningRate: nonNegativeOrSchedule, rho: ranges.unitInterval, eps: ranges.positive, convention: conventionCodec('adadelta', all) },
    options,
    { rho: keras ? 0.95 : 0.9, eps: keras ? 1e-7 : 1e-6, convention },
  )
  return namedOptimizer('adadelta', o, rawAdadelta(o.rho, o.eps, convention === 'tfjs'), scaleByLearningRate(o.learningRate))
}
