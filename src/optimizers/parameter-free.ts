/**
 * The learning-rate-free optimizers of Optax contrib 0.2.8, each a chain of the primitives of
 * src/transforms/parameter-free.ts with Optax's defaults: Prodigy, D-Adaptation AdamW, DoG, DoWG,
 * COCOB, MoMo and MoMo-Adam (docs/parameter-free.md). Mechanic is the wrapper `mechanize`.
 *
 * Their `learningRate` is a schedule multiplier around 1 (a warm-up and decay with peak 1), not a
 * tuned step size: the optimizers estimate the scale themselves.
 *
 * References: the papers cited on each function; Optax 0.2.8 `optax/contrib/`.
 */
import * as t from 'io-ts'
import { identity } from '../core/base.js'
import { type Mask, maskCodec } from '../core/mask.js'
import type { ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, ranges, refinement, validate } from '../core/validate.js'
import { addDecayedWeights } from '../transforms/decay.js'
import {
  type DogInitStep,
  scaleByCocob,
  scaleByDadaptAdamw,
  scaleByDog,
  scaleByDowg,
  scaleByMomo,
  scaleByMomoAdam,
  scaleByProdigy,
} from '../transforms/parameter-free.js'
import { scale, scaleByLearningRate } from '../transforms/scaling.js'
import { type Optimizer, asFloat32, namedOptimizer } from './common.js'

const lr = { learningRate: nonNegativeOrSchedule }

/** The validated options without the keys left undefined (the primitives refuse an explicit undefined). */
const given = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
/** An option without a default: its codec, or undefined. */
const optional = <C extends t.Mixed>(c: C, absent: string) => t.union([c, t.undefined], `${c.name}, or undefined (${absent})`)
const betas = { b1: ranges.unitInterval, b2: ranges.unitInterval }
const decay = { weightDecay: ranges.nonNegative, mask: maskCodec }
const optionalDecayProps = { weightDecay: optional(ranges.nonNegative, 'no weight decay'), mask: maskCodec }
const initStep = refinement(
  "{ type: 'heuristic' | 'distance' | 'learningRate', value: a finite number > 0 }",
  (u): u is DogInitStep =>
    typeof u === 'object' && u !== null && !Array.isArray(u) &&
    Object.keys(u).every((k) => k === 'type' || k === 'value') &&
    ['heuristic', 'distance', 'learningRate'].includes((u as DogInitStep).type) &&
    ranges.positive.is((u as DogInitStep).value),
)

/** Options of `prodigy`: those of `scaleByProdigy`. */
export interface ProdigyOptions {
  /** γ_k, the schedule multiplier (peak 1), a number ≥ 0 or a schedule. Default 1. */
  readonly learningRate?: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** β₃ in [0, 1). Default √β₂. */
  readonly b3?: number
  /** ε ≥ 0. Default 1e-8. */
  readonly eps?: number
  /** d₀ > 0. Default 1e-6. */
  readonly estimLr0?: number
  /** c ≥ 0. Default 1. */
  readonly estimLrCoef?: number
  /** λ ≥ 0, decoupled weight decay. Default 0. */
  readonly weightDecay?: number
  /** Leave γ out of the d-estimate's sum. Default false. */
  readonly safeguardWarmup?: boolean
}

/**
 * Prodigy: Adam on d-scaled gradients with the distance estimate d grown from the iterates (see
 * `scaleByProdigy`): θ ← θ − dₗᵣ m/(√v + dε) − λdₗᵣθ, dₗᵣ = d·γ_k·√(1 − β₂ᵗ)/(1 − β₁ᵗ).
 * `chain(scaleByProdigy(...), scale(-1))`. Use γ as a schedule with peak 1 (linear decay to 0 with
 * a short warm-up, as the paper recommends).
 *
 * Defaults: learningRate = 1, b1 = 0.9, b2 = 0.999, b3 = √b2, eps = 1e-8, estimLr0 = 1e-6,
 * estimLrCoef = 1, weightDecay = 0, safeguardWarmup = false (Optax's).
 * Reference: Mishchenko & Defazio 2023, "Prodigy: An Expeditiously Adaptive Parameter-Free
 * Learner"; Optax `contrib.prodigy`.
 *
 * @example
 * ```ts
 * const opt = prodigy({ learningRate: linear({ init: 1, end: 0, transitionSteps: 1000 }) })
 * ```
 */
export const prodigy = (options: ProdigyOptions = {}): Optimizer => {
  const o = given(validate(
    'prodigy',
    { ...lr, ...betas, b3: optional(ranges.unitInterval, '√b2'), eps: ranges.nonNegative, estimLr0: ranges.positive, estimLrCoef: ranges.nonNegative, weightDecay: ranges.nonNegative, safeguardWarmup: ranges.boolean },
    options,
    { learningRate: 1, b1: 0.9, b2: 0.999, eps: 1e-8, estimLr0: 1e-6, estimLrCoef: 1, weightDecay: 0, safeguardWarmup: false },
  ))
  return namedOptimizer('prodigy', o, scaleByProdigy(o), scale(-1))
}

/** Options of `dadaptAdamw`: those of `scaleByDadaptAdamw`. */
export interface DadaptAdamwOptions {
  /** γ_k, the schedule multiplier (peak 1), a number ≥ 0 or a schedule. Default 1. */
  readonly learningRate?: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0. Default 1e-8. */
  readonly eps?: number
  /** d₀ > 0. Default 1e-6. */
  readonly estimLr0?: number
  /** λ ≥ 0, decoupled weight decay. Default 0. */
  readonly weightDecay?: number
}

/**
 * D-Adaptation AdamW: AdamW with step size d·γ_k, d a growing lower bound on ‖x₀ − x*‖ (see
 * `scaleByDadaptAdamw`): θ ← θ − m/(√v + ε) − λdₗᵣθ with m the average of dₗᵣ g.
 * `chain(scaleByDadaptAdamw(...), scale(-1))`.
 *
 * Defaults: learningRate = 1, b1 = 0.9, b2 = 0.999, eps = 1e-8, estimLr0 = 1e-6, weightDecay = 0.
 * Reference: Defazio & Mishchenko 2023, "Learning-Rate-Free Learning by D-Adaptation"; Optax
 * `contrib.dadapt_adamw`.
 *
 * @example
 * ```ts
 * const opt = dadaptAdamw({ weightDecay: 1e-4 })
 * ```
 */
export const dadaptAdamw = (options: DadaptAdamwOptions = {}): Optimizer => {
  const o = given(validate(
    'dadaptAdamw',
    { ...lr, ...betas, eps: ranges.nonNegative, estimLr0: ranges.positive, weightDecay: ranges.nonNegative },
    options,
    { learningRate: 1, b1: 0.9, b2: 0.999, eps: 1e-8, estimLr0: 1e-6, weightDecay: 0 },
  ))
  return namedOptimizer('dadaptAdamw', o, scaleByDadaptAdamw(o), scale(-1))
}

/** Options of `dog`. */
export interface DogOptions {
  /** A multiplier of DoG's step size, a number ≥ 0 or a schedule. Default 1. */
  readonly learningRate?: ScalarOrSchedule
  /** The first step (see `scaleByDog`). Default `{ type: 'heuristic', value: 1e-6 }` (1e-4 with batch norm). */
  readonly initStep?: DogInitStep
  /** ε ≥ 0 added to Σ‖g‖². Default 1e-8. */
  readonly eps?: number
  /** λ ≥ 0, weight decay added to the gradient before DoG (as Optax: none unless given). */
  readonly weightDecay?: number
  /** Leaves to decay (default all). */
  readonly mask?: Mask
}

/** The weight-decay stage Optax's dog and dowg put first: none when `weightDecay` is not given. */
const optionalDecay = (o: { readonly weightDecay?: number | undefined; readonly mask?: Mask | undefined }) =>
  o.weightDecay === undefined ? identity() : addDecayedWeights({ weightDecay: o.weightDecay, mask: o.mask })

/**
 * DoG, Distance over Gradients: SGD with the step size η_k = r̄_k/√(Σ‖g‖² + ε), r̄ the largest
 * distance from x₀ so far (see `scaleByDog`), times an optional schedule.
 * `chain(addDecayedWeights (if weightDecay is given), scaleByDog(...), scaleByLearningRate(γ))`.
 * `init` must get the real initial params. The authors recommend averaging the iterates.
 *
 * Defaults: learningRate = 1, initStep = { type: 'heuristic', value: 1e-6 }, eps = 1e-8, no weight decay.
 * Reference: Ivgi et al. 2023, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
 * Schedule"; Optax `contrib.dog`.
 *
 * @example
 * ```ts
 * const opt = dog({ initStep: { type: 'heuristic', value: 1e-4 } })
 * ```
 */
export const dog = (options: DogOptions = {}): Optimizer => {
  const o = given(validate('dog', { ...lr, initStep: optional(initStep, "{ type: 'heuristic', value: 1e-6 }"), eps: ranges.nonNegative, ...optionalDecayProps }, options, { learningRate: 1, eps: 1e-8 }))
  return namedOptimizer('dog', o, optionalDecay(o), scaleByDog(given({ initStep: o.initStep, eps: o.eps })), scaleByLearningRate(asFloat32(o.learningRate)))
}

/** Options of `dowg`. */
export interface DowgOptions {
  /** A multiplier of DoWG's step size, a number ≥ 0 or a schedule. Default 1. */
  readonly learningRate?: ScalarOrSchedule
  /** r̄₀² > 0, the initial guess of the squared distance to the solution. Default eps. */
  readonly initEstimSqDist?: number
  /** ε ≥ 0. Default 1e-4. */
  readonly eps?: number
  /** λ ≥ 0, weight decay added to the gradient before DoWG (as Optax: none unless given). */
  readonly weightDecay?: number
  /** Leaves to decay (default all). */
  readonly mask?: Mask
}

/**
 * DoWG, Distance over Weighted Gradients: SGD with η_k = r̄_k²/√(Σ r̄ⱼ²‖gⱼ‖²) + ε) (see
 * `scaleByDowg`), times an optional schedule.
 * `chain(addDecayedWeights (if weightDecay is given), scaleByDowg(...), scaleByLearningRate(γ))`.
 * `init` must get the real initial params.
 *
 * Defaults: learningRate = 1, initEstimSqDist = eps, eps = 1e-4, no weight decay.
 * Reference: Khaled et al. 2023, "DoWG Unleashed: An Efficient Universal Parameter-Free Gradient
 * Descent Method"; Optax `contrib.dowg`.
 *
 * @example
 * ```ts
 * const opt = dowg()
 * ```
 */
export const dowg = (options: DowgOptions = {}): Optimizer => {
  const o = given(validate('dowg', { ...lr, initEstimSqDist: optional(ranges.positive, 'eps'), eps: ranges.nonNegative, ...optionalDecayProps }, options, { learningRate: 1, eps: 1e-4 }))
  return namedOptimizer(
    'dowg',
    o,
    optionalDecay(o),
    scaleByDowg(given({ initEstimSqDist: o.initEstimSqDist, eps: o.eps })),
    scaleByLearningRate(asFloat32(o.learningRate)),
  )
}

/** Options of `cocob`. */
export interface CocobOptions {
  /** A factor on the gradient before the bet (to inject a schedule), a number ≥ 0 or a schedule. Default 1. */
  readonly learningRate?: ScalarOrSchedule
  /** α ≥ 0. Default 100. */
  readonly alpha?: number
  /** ε ≥ 0, the initial scale. Default 1e-8. */
  readonly eps?: number
  /** λ ≥ 0, an L2 penalty λθ added to the gradient. Default 0. */
  readonly weightDecay?: number
  /** Leaves to decay (default all). */
  readonly mask?: Mask
}

/**
 * COCOB-Backprop, coin betting with no learning rate: each coordinate bets a fraction of its wealth
 * (see `scaleByCocob`).
 * `chain(addDecayedWeights({ weightDecay, mask }), scaleByLearningRate(γ, { flipSign: false }), scaleByCocob(...))`.
 * `init` must get the real initial params.
 *
 * Defaults: learningRate = 1, alpha = 100, eps = 1e-8, weightDecay = 0.
 * Reference: Orabona & Tommasi 2017, "Training Deep Networks without Learning Rates Through Coin
 * Betting", Algorithm 2; Optax `contrib.cocob`.
 *
 * @example
 * ```ts
 * const opt = cocob()
 * ```
 */
export const cocob = (options: CocobOptions = {}): Optimizer => {
  const o = given(validate('cocob', { ...lr, alpha: ranges.nonNegative, eps: ranges.nonNegative, ...decay }, options, { learningRate: 1, alpha: 100, eps: 1e-8, weightDecay: 0 }))
  return namedOptimizer(
    'cocob',
    o,
    addDecayedWeights({ weightDecay: o.weightDecay, mask: o.mask }),
    scaleByLearningRate(asFloat32(o.learningRate), { flipSign: false }),
    scaleByCocob({ alpha: o.alpha, eps: o.eps }),
  )
}

/** Options of `momo`: those of `scaleByMomo`. */
export interface MomoOptions {
  /** α, the largest step size, a number ≥ 0 or a schedule. Default 1. */
  readonly learningRate?: ScalarOrSchedule
  /** β in [0, 1). Default 0.9. */
  readonly beta?: number
  /** f*, a finite lower bound of the loss. Default 0. */
  readonly lowerBound?: number
  /** λ ≥ 0. Default 0. */
  readonly weightDecay?: number
  /** Estimate the lower bound on the fly. Default false. */
  readonly adaptLowerBound?: boolean
}

const momoProps = { ...lr, lowerBound: ranges.finite, weightDecay: ranges.nonNegative, adaptLowerBound: ranges.boolean }

/**
 * MoMo: SGD with momentum and a Polyak-type step size min(α, (model of f − f*)/‖m‖²) (see
 * `scaleByMomo`). Needs the loss: `update(grads, state, params, { value })`.
 * `chain(scaleByMomo(...), scale(-1))`.
 *
 * Defaults: learningRate = 1, beta = 0.9, lowerBound = 0, weightDecay = 0, adaptLowerBound = false.
 * Reference: Schaipp et al. 2023, "MoMo: Momentum Models for Adaptive Learning Rates"; Optax
 * `contrib.momo`.
 *
 * @example
 * ```ts
 * const opt = momo()
 * const w = fromArray([1, 2, 3])
 * const [updates] = opt.update(scaleTensor(w, 2), opt.init(w), w, { value: 14 }) // f(w) = ‖w‖²
 * ```
 */
export const momo = (options: MomoOptions = {}): Optimizer => {
  const o = given(validate('momo', { ...momoProps, beta: ranges.unitInterval }, options, { learningRate: 1, beta: 0.9, lowerBound: 0, weightDecay: 0, adaptLowerBound: false }))
  return namedOptimizer('momo', o, scaleByMomo(o), scale(-1))
}

/** Options of `momoAdam`: those of `scaleByMomoAdam`. */
export interface MomoAdamOptions {
  /** α, the largest step size, a number ≥ 0 or a schedule. Default 1e-2. */
  readonly learningRate?: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0. Default 1e-8. */
  readonly eps?: number
  /** f*, a finite lower bound of the loss. Default 0. */
  readonly lowerBound?: number
  /** λ ≥ 0. Default 0. */
  readonly weightDecay?: number
  /** Estimate the lower bound on the fly. Default false. */
  readonly adaptLowerBound?: boolean
}

/**
 * MoMo-Adam: Adam's preconditioned direction with MoMo's Polyak-type step size (see
 * `scaleByMomoAdam`). Needs the loss: `update(grads, state, params, { value })`.
 * `chain(scaleByMomoAdam(...), scale(-1))`.
 *
 * Defaults: learningRate = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, lowerBound = 0, weightDecay = 0,
 * adaptLowerBound = false.
 * Reference: Schaipp et al. 2023, "MoMo: Momentum Models for Adaptive Learning Rates"; Optax
 * `contrib.momo_adam`.
 *
 * @example
 * ```ts
 * const opt = momoAdam({ learningRate: 1e-2, weightDecay: 1e-4 })
 * ```
 */
export const momoAdam = (options: MomoAdamOptions = {}): Optimizer => {
  const o = given(validate('momoAdam', { ...momoProps, ...betas, eps: ranges.nonNegative }, options, { learningRate: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-8, lowerBound: 0, weightDecay: 0, adaptLowerBound: false }))
  return namedOptimizer('momoAdam', o, scaleByMomoAdam(o), scale(-1))
}
