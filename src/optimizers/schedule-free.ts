/**
 * Schedule-free AdamW and SGD: `scheduleFree` around a base optimizer without momentum, with an
 * optional linear warm-up, as Optax 0.2.8's `schedule_free_adamw` / `schedule_free_sgd`
 * (docs/muon-schedule-free.md). Evaluate with `scheduleFreeEvalParams`.
 *
 * References: Defazio et al. 2024, "The Road Less Scheduled"; Optax 0.2.8
 * `optax/contrib/_schedule_free.py`.
 */
import type { AnyTransformation } from '../core/base.js'
import { chain } from '../core/base.js'
import { withIdentity } from '../core/state.js'
import type { GradientTransformation, Schedule } from '../core/types.js'
import { ranges, validate } from '../core/validate.js'
import * as t from 'io-ts'
import { addDecayedWeights } from '../transforms/decay.js'
import { rawRms } from '../transforms/raw.js'
import { scaleByLearningRate } from '../transforms/scaling.js'
import { type ScheduleFreeState, scheduleFree, scheduleFreeB1 } from '../transforms/schedule-free.js'

const f32 = Math.fround

/**
 * Optax's `warmup_constant_schedule(0, peak, warmupSteps)` in its float32 arithmetic: a linear
 * ramp from 0 at step 0 to `peak` at step `warmupSteps`, then `peak`.
 */
const warmupConstantFloat32 = (peak: number, warmupSteps: number): Schedule => (step: number) => {
  if (step >= warmupSteps) return f32(peak)
  const frac = f32(1 - f32(Math.max(step, 0) / warmupSteps))
  return f32(f32(f32(-peak) * frac) + f32(peak))
}

/** The learning rate of a schedule-free optimizer: the number, or its warm-up schedule. */
const rateOf = (learningRate: number, warmupSteps: number | undefined) => (warmupSteps === undefined ? f32(learningRate) : warmupConstantFloat32(learningRate, warmupSteps))

const warmup = t.union([ranges.positiveInteger, t.undefined], 'an integer ≥ 1, or undefined (no warm-up)')

/** Options of `scheduleFreeAdamw`. */
export interface ScheduleFreeAdamwOptions {
  /** γ, the peak learning rate, a number ≥ 0. Default 0.0025. */
  readonly learningRate?: number
  /** Steps of linear warm-up from 0 to γ, an integer ≥ 1. Default none. */
  readonly warmupSteps?: number
  /** β₁ in (0, 1]: the interpolation of schedule-free learning (AdamW's own momentum is off). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0 outside the root. Default 1e-8. */
  readonly eps?: number
  /** λ ≥ 0, decoupled weight decay (applied at y). Default 0. */
  readonly weightDecay?: number
  /** r ≥ 0 of the averaging weights γ^r. Default 2. */
  readonly weightLrPower?: number
}

/**
 * Schedule-free AdamW: `scheduleFree` (β = b1) around AdamW without momentum,
 *
 *   base = chain(scaleByRms({ decay: β₂, eps, epsInSqrt: false, biasCorrection: true }),
 *                addDecayedWeights(λ), scaleByLearningRate(γ_k)),
 *
 * i.e. z ← z − γ_k (g / (√(ν/(1 − β₂ᵗ)) + ε) + λy), then x and y as in `scheduleFree`. With
 * `warmupSteps` W, γ_k rises linearly from 0 to γ over W steps and stays there (Optax's
 * `warmup_constant_schedule`); it is not decayed: the averaging replaces the decay.
 *
 * Defaults (Optax 0.2.8's): learningRate = 0.0025, no warm-up, b1 = 0.9, b2 = 0.999, eps = 1e-8,
 * weightDecay = 0, weightLrPower = 2. Needs the params. State: `scheduleFree`'s, with the base
 * chain's state in `base`.
 * Reference: Defazio et al. 2024, "The Road Less Scheduled", Algorithm 1 (AdamW form); Optax
 * `contrib.schedule_free_adamw`.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = scheduleFreeAdamw({ learningRate: 1e-3, warmupSteps: 100, weightDecay: 1e-4 })
 * const [u, state] = opt.update({ w: fromArray([0.3, -0.1]) }, opt.init(params), params)
 * const forEvaluation = scheduleFreeEvalParams(state, applyUpdates(params, u))
 * ```
 */
export const scheduleFreeAdamw = (options: ScheduleFreeAdamwOptions = {}): GradientTransformation<ScheduleFreeState> => {
  const o = validate(
    'scheduleFreeAdamw',
    { learningRate: ranges.nonNegative, warmupSteps: warmup, b1: scheduleFreeB1, b2: ranges.unitInterval, eps: ranges.nonNegative, weightDecay: ranges.nonNegative, weightLrPower: ranges.nonNegative },
    options,
    { learningRate: 0.0025, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0, weightLrPower: 2 },
  )
  const lr = rateOf(o.learningRate, o.warmupSteps)
  const base = chain(rawRms(o.b2, 0, o.eps, 0, true), addDecayedWeights({ weightDecay: f32(o.weightDecay) }), scaleByLearningRate(lr)) as AnyTransformation
  return withIdentity(scheduleFree(base, { learningRate: lr, b1: o.b1, weightLrPower: o.weightLrPower }), 'scheduleFreeAdamw', o)
}

/** Options of `scheduleFreeSgd`. */
export interface ScheduleFreeSgdOptions {
  /** γ, the peak learning rate, a number ≥ 0. Default 1. */
  readonly learningRate?: number
  /** Steps of linear warm-up from 0 to γ, an integer ≥ 1. Default none. */
  readonly warmupSteps?: number
  /** β in (0, 1]: the interpolation of schedule-free learning. Default 0.9. */
  readonly b1?: number
  /** λ ≥ 0, L2 weight decay added to the gradient (at y) before the step. Default none. */
  readonly weightDecay?: number
  /** r ≥ 0 of the averaging weights γ^r. Default 2. */
  readonly weightLrPower?: number
}

/**
 * Schedule-free SGD: `scheduleFree` (β = b1) around plain SGD, z ← z − γ_k (g + λy), with the
 * optional warm-up of `scheduleFreeAdamw`.
 *
 * Defaults (Optax 0.2.8's): learningRate = 1, no warm-up, b1 = 0.9, no weight decay,
 * weightLrPower = 2. Needs the params.
 * Reference: Defazio et al. 2024, "The Road Less Scheduled", Algorithm 1; Optax
 * `contrib.schedule_free_sgd`.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = scheduleFreeSgd({ learningRate: 0.1, warmupSteps: 10 })
 * const [u, state] = opt.update({ w: fromArray([1, -1]) }, opt.init(params), params)
 * ```
 */
export const scheduleFreeSgd = (options: ScheduleFreeSgdOptions = {}): GradientTransformation<ScheduleFreeState> => {
  const o = validate(
    'scheduleFreeSgd',
    { learningRate: ranges.nonNegative, warmupSteps: warmup, b1: scheduleFreeB1, weightDecay: t.union([ranges.nonNegative, t.undefined], 'a finite number ≥ 0, or undefined (none)'), weightLrPower: ranges.nonNegative },
    options,
    { learningRate: 1, b1: 0.9, weightLrPower: 2 },
  )
  const lr = rateOf(o.learningRate, o.warmupSteps)
  const sgdStep = scaleByLearningRate(lr)
  const base = (o.weightDecay === undefined ? sgdStep : chain(addDecayedWeights({ weightDecay: f32(o.weightDecay) }), sgdStep)) as AnyTransformation
  return withIdentity(scheduleFree(base, { learningRate: lr, b1: o.b1, weightLrPower: o.weightLrPower }), 'scheduleFreeSgd', o)
}
