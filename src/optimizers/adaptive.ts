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
import { type Convention, type Optimizer, arithmeticOf, asFloat32, conventionCodec, conventionOf, momentumOrIdentity, namedOptimizer, onlyIn, pytorchGradient, unavailable } from './common.js'

const all: readonly Convention[] = ['optax', 'pytorch', 'keras', 'tfjs']

/** Options of `adagrad`. */
export interface AdagradOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** Initial accumulator r₀ ≥ 0. Default by convention: optax, keras, tfjs 0.1; pytorch 0. */
  readonly initialAccumulatorValue?: number
  /** ε ≥ 0. Default by convention: optax, keras, tfjs 1e-7; pytorch 1e-10. */
  readonly eps?: number
  /** PyTorch's `lr_decay` ≥ 0 (pytorch only): α_k / (1 + k·lrDecay). Default 0. */
  readonly lrDecay?: number
  /** λ ≥ 0, PyTorch's `weight_decay` (pytorch only): coupled L2, g ← g + λθ. Default 0. */
  readonly weightDecay?: number
  /** PyTorch's `maximize` (pytorch only): g ← −g first. Default false. */
  readonly maximize?: boolean
  /** Default 'optax'. */
  readonly convention?: Convention
}

/**
 * AdaGrad: r ← r + g⊙g, θ ← θ − α_k g / √(r + ε) (optax, keras, tfjs) or θ ← θ − α_k g / (√r + ε)
 * (pytorch, and the lectures' δ + √r). Where r = 0 the step is 0.
 *
 * Defaults by convention — optax: r₀ = 0.1, ε = 1e-7 inside the root; pytorch: r₀ = 0,
 * ε = 1e-10 outside; keras: r₀ = 0.1, ε = 1e-7 inside (keras/src/optimizers/adagrad.py:
 * `sqrt(accumulator + epsilon)`); tfjs: r₀ = 0.1, ε = 1e-7 inside.
 * PyTorch's options (convention 'pytorch'): `lrDecay` (the k-th step, k from 0, takes
 * α_k / (1 + k·lrDecay)), `weightDecay` (λθ added to the gradient), `maximize`; all default off.
 * The lectures' AdaGrad (r₀ = 0, δ = 1e-7 outside) is
 * `adagrad({ learningRate, convention: 'pytorch', eps: 1e-7 })`.
 * Reference: seed 000_33f4fbf331723dec.txt, "AdaGrad: Algorithm"; Duchi et al. 2011; PyTorch
 * `torch.optim.Adagrad`.
 *
 * @example
 * ```ts
 * const opt = adagrad({ learningRate: 0.1 })
 * const torchLike = adagrad({ learningRate: 0.1, lrDecay: 1e-3, convention: 'pytorch' })
 * ```
 */
export const adagrad = (options: AdagradOptions): Optimizer => {
  const convention = conventionOf('adagrad', all, options)
  const o = validate(
    'adagrad',
    {
      learningRate: nonNegativeOrSchedule,
      initialAccumulatorValue: ranges.nonNegative,
      eps: ranges.nonNegative,
      lrDecay: ranges.nonNegative,
      weightDecay: ranges.nonNegative,
      maximize: ranges.boolean,
      convention: conventionCodec('adagrad', all),
    },
    options,
    { initialAccumulatorValue: convention === 'pytorch' ? 0 : 0.1, eps: convention === 'pytorch' ? 1e-10 : 1e-7, lrDecay: 0, weightDecay: 0, maximize: false, convention },
  )
  for (const [field, byDefault] of [['lrDecay', 0], ['weightDecay', 0], ['maximize', false]] as const) onlyIn('adagrad', convention, ['pytorch'], field, o[field], byDefault)
  const inside = convention !== 'pytorch'
  const { learningRate: alpha, lrDecay } = o
  // PyTorch's clr = lr / (1 + (step − 1)·lr_decay), in Python doubles
  const lr = lrDecay === 0 ? alpha : (k: number) => (typeof alpha === 'number' ? alpha : alpha(k)) / (1 + k * lrDecay)
  return namedOptimizer(
    'adagrad',
    o,
    ...pytorchGradient(o.maximize, o.weightDecay),
    rawRss(o.initialAccumulatorValue, inside ? o.eps : 0, inside ? 0 : o.eps),
    scaleByLearningRate(asFloat32(lr)),
  )
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
  /** ε inside the root, √(ν + ε), or outside, √ν + ε (optax only: Optax's `eps_in_sqrt`). Default true. */
  readonly epsInSqrt?: boolean
  /** Divide ν (and μ when centered) by 1 − ρᵗ (optax only: Optax's `bias_correction`). Default false. */
  readonly biasCorrection?: boolean
  /** λ ≥ 0, PyTorch's `weight_decay` (pytorch only): coupled L2, g ← g + λθ. Default 0. */
  readonly weightDecay?: number
  /** PyTorch's `maximize` (pytorch only): g ← −g first. Default false. */
  readonly maximize?: boolean
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
 * Nesterov momentum" in look-ahead form. Optax's alias also takes `epsInSqrt: false` (s = g/(√ν + ε))
 * and `biasCorrection` (ν/(1 − ρᵗ), μ/(1 − ρᵗ)); PyTorch's takes `weightDecay` (λθ added to the
 * gradient) and `maximize`.
 *
 * Defaults by convention — optax: ρ = 0.9, ε = 1e-8; pytorch: ρ = 0.99, ε = 1e-8; keras: ρ = 0.9,
 * ε = 1e-7; tfjs: ρ = 0.9, ε = 1e-7; all: centered = false, momentum = 0, nesterov = false,
 * initialScale = 0, epsInSqrt = true, biasCorrection = false, weightDecay = 0, maximize = false.
 * Reference: seed 000_33f4fbf331723dec.txt, "RMSProp: Algorithm" and "RMSProp with Nesterov
 * momentum"; Hinton 2012; Graves 2013 (centered); Optax `rmsprop`; PyTorch `torch.optim.RMSprop`.
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
      epsInSqrt: ranges.boolean,
      biasCorrection: ranges.boolean,
      weightDecay: ranges.nonNegative,
      maximize: ranges.boolean,
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
      epsInSqrt: true,
      biasCorrection: false,
      weightDecay: 0,
      maximize: false,
      convention,
    },
  )
  if (o.centered && o.eps === 0) unavailable('rmsprop', 'eps', 0, 'a number > 0 when centered: ν − μ² can be exactly 0')
  if (convention !== 'optax' && o.nesterov) unavailable('rmsprop', 'nesterov', true, `false: the ${convention} convention has no Nesterov RMSProp`)
  if (convention !== 'optax' && o.initialScale !== 0) unavailable('rmsprop', 'initialScale', o.initialScale, `0: the ${convention} convention starts ν at 0`)
  onlyIn('rmsprop', convention, ['optax'], 'epsInSqrt', o.epsInSqrt, true)
  onlyIn('rmsprop', convention, ['optax'], 'biasCorrection', o.biasCorrection, false)
  onlyIn('rmsprop', convention, ['pytorch'], 'weightDecay', o.weightDecay, 0)
  onlyIn('rmsprop', convention, ['pytorch'], 'maximize', o.maximize, false)
  const [epsIn, epsOut] =
    convention === 'pytorch' || !o.epsInSqrt ? [0, o.eps] : convention === 'tfjs' && o.centered ? [-o.eps, 0] : [o.eps, 0]
  const arithmetic = arithmeticOf(convention)
  const scaling = o.centered
    ? rawStddev(o.decay, epsIn, epsOut, o.initialScale, o.biasCorrection, arithmetic)
    : rawRms(o.decay, epsIn, epsOut, o.initialScale, o.biasCorrection, arithmetic)
  const moment = momentumOrIdentity(o.momentum, o.nesterov)
  const lr = scaleByLearningRate(asFloat32(o.learningRate))
  return convention === 'pytorch'
    ? namedOptimizer('rmsprop', o, ...pytorchGradient(o.maximize, o.weightDecay), scaling, moment, lr)
    : namedOptimizer('rmsprop', o, scaling, lr, moment)
}

/** Options of `adadelta`. */
export interface AdadeltaOptions {
  /** α, a number ≥ 0 or a schedule. Required (PyTorch's default is 1, Keras' and TF.js' 1e-3). */
  readonly learningRate: ScalarOrSchedule
  /** ρ in [0, 1). Default by convention: 0.9 (optax, pytorch), 0.95 (keras, tfjs). */
  readonly rho?: number
  /** ε > 0. Default by convention: 1e-6 (optax, pytorch), 1e-7 (keras, tfjs). */
  readonly eps?: number
  /** λ ≥ 0 (optax, pytorch: their `weight_decay`): coupled L2, g ← g + λθ before the scaling. Default 0. */
  readonly weightDecay?: number
  /** PyTorch's `maximize` (pytorch only): g ← −g first. Default false. */
  readonly maximize?: boolean
  /** Default 'optax'. */
  readonly convention?: Convention
}

/**
 * AdaDelta: E[g²] ← ρE[g²] + (1 − ρ)g², Δ = (√(E[Δθ²] + ε) / √(E[g²] + ε)) g,
 * E[Δθ²] ← ρE[Δθ²] + (1 − ρ)Δ², θ ← θ − α_k Δ. TensorFlow.js divides by E[g²] from before this
 * step's update; the 'tfjs' convention reproduces that. Optax and PyTorch add λθ to the gradient
 * first with `weightDecay` (both call it weight_decay); PyTorch also has `maximize`.
 *
 * Defaults by convention — optax, pytorch: ρ = 0.9, ε = 1e-6; keras: ρ = 0.95, ε = 1e-7;
 * tfjs: ρ = 0.95, ε = 1e-7 (old accumulator); weightDecay = 0, maximize = false.
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
    { learningRate: nonNegativeOrSchedule, rho: ranges.unitInterval, eps: ranges.positive, weightDecay: ranges.nonNegative, maximize: ranges.boolean, convention: conventionCodec('adadelta', all) },
    options,
    { rho: keras ? 0.95 : 0.9, eps: keras ? 1e-7 : 1e-6, weightDecay: 0, maximize: false, convention },
  )
  onlyIn('adadelta', convention, ['optax', 'pytorch'], 'weightDecay', o.weightDecay, 0)
  onlyIn('adadelta', convention, ['pytorch'], 'maximize', o.maximize, false)
  return namedOptimizer(
    'adadelta',
    o,
    ...pytorchGradient(o.maximize, o.weightDecay),
    rawAdadelta(o.rho, o.eps, convention === 'tfjs'),
    scaleByLearningRate(asFloat32(o.learningRate)),
  )
}
