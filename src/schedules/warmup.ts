/**
 * Warmup schedules and piecewise interpolation: `warmupConstant`, `warmupExponentialDecay`,
 * `piecewiseInterpolate` and the three-phase `linearOnecycle` built on it.
 *
 * References: Goyal et al. 2017, "Accurate, Large Minibatch SGD" (linear warmup); Smith 2017,
 * "Cyclical Learning Rates", and Smith & Topin 2019, "Super-Convergence" (one-cycle); Optax 0.2.8
 * `optax/schedules/_schedule.py` (`warmup_constant_schedule`, `warmup_exponential_decay_schedule`,
 * `piecewise_interpolate_schedule`, `linear_onecycle_schedule`).
 */
import * as t from 'io-ts'
import type { Schedule } from '../core/types.js'
import { ranges, validate } from '../core/validate.js'
import { HyperparameterError } from '../errors.js'
import { constant, exponentialDecay, linear } from './basic.js'
import { joinSchedules } from './cosine.js'
import { frozenSchedule } from './frozen.js'

/** Options of `warmupConstant`. */
export interface WarmupConstantOptions {
  /** The value at k = 0. Default 0. */
  readonly init?: number
  /** The value from the end of the warmup on. */
  readonly peak: number
  /** W ≥ 0, the length of the linear warmup. */
  readonly warmupSteps: number
}

/**
 * Linear warmup to a constant: α_k = init + (peak − init)·k/W for k < W, peak from k = W on
 * (no decay; the schedule schedule-free training and many fine-tuning recipes use).
 *
 * With W = 0 it is the constant peak. (Optax's `warmup_constant_schedule` with `warmup_steps = 0`
 * is the constant `init_value`: its linear schedule with no transition holds the initial value.)
 *
 * Defaults: init = 0 (as the warmup of Hugging Face's `get_constant_schedule_with_warmup`).
 * Reference: Goyal et al. 2017; Optax `warmup_constant_schedule`.
 *
 * @example
 * ```ts
 * const lr = warmupConstant({ peak: 1e-3, warmupSteps: 100 })
 * lr(50) // 5e-4
 * ```
 */
export const warmupConstant = (options: WarmupConstantOptions): Schedule => {
  const o = validate('warmupConstant', { init: ranges.finite, peak: ranges.finite, warmupSteps: ranges.nonNegativeInteger }, options, { init: 0 })
  return o.warmupSteps === 0 ? constant(o.peak) : linear({ init: o.init, end: o.peak, transitionSteps: o.warmupSteps })
}

/** Options of `warmupExponentialDecay`. */
export interface WarmupExponentialDecayOptions {
  /** The value at k = 0. Default 0. */
  readonly init?: number
  /** The value at the end of the warmup, where the decay starts from. */
  readonly peak: number
  /** W ≥ 0, the length of the linear warmup. */
  readonly warmupSteps: number
  /** T ≥ 1: the value is multiplied by `decayRate` every T steps after the warmup. */
  readonly transitionSteps: number
  /** r > 0 (r < 1 decays, r > 1 grows). */
  readonly decayRate: number
  /** Steps after the warmup during which the value holds at the peak. Default 0. */
  readonly transitionBegin?: number
  /** Decay in whole periods: r^⌊j/T⌋. Default false. */
  readonly staircase?: boolean
  /** A bound the decay does not pass (a floor when r < 1, a ceiling when r > 1). */
  readonly end?: number
}

/**
 * Linear warmup from `init` to `peak` over W steps, then exponential decay from the peak: with
 * j = max(k − W − transitionBegin, 0),
 *
 *   α_k = init + (peak − init)·k/W (k < W),   peak·r^(j/T) (k ≥ W; r^⌊j/T⌋ with staircase),
 *
 * bounded by `end` after the warmup. Continuous at W.
 *
 * Defaults: init = 0, transitionBegin = 0, staircase = false, no end bound.
 * Reference: Goyal et al. 2017; Optax `warmup_exponential_decay_schedule`.
 *
 * @example
 * ```ts
 * const lr = warmupExponentialDecay({ peak: 1e-3, warmupSteps: 100, transitionSteps: 1000, decayRate: 0.5 })
 * lr(1100) // 5e-4
 * ```
 */
export const warmupExponentialDecay = (options: WarmupExponentialDecayOptions): Schedule => {
  const o = validate(
    'warmupExponentialDecay',
    {
      init: ranges.finite,
      peak: ranges.finite,
      warmupSteps: ranges.nonNegativeInteger,
      transitionSteps: ranges.positiveInteger,
      decayRate: ranges.positive,
      transitionBegin: ranges.nonNegativeInteger,
      staircase: ranges.boolean,
      end: t.union([ranges.finite, t.undefined], 'a finite number or undefined'),
    },
    options,
    { init: 0, transitionBegin: 0, staircase: false },
  )
  const decay = exponentialDecay({ init: o.peak, transitionSteps: o.transitionSteps, decayRate: o.decayRate, transitionBegin: o.transitionBegin, staircase: o.staircase, end: o.end })
  if (o.warmupSteps === 0) return decay
  return joinSchedules([linear({ init: o.init, end: o.peak, transitionSteps: o.warmupSteps }), decay], [o.warmupSteps])
}

/** How `piecewiseInterpolate` moves between two values. */
export type InterpolateType = 'linear' | 'cosine'

/** Options of `piecewiseInterpolate`. */
export interface PiecewiseInterpolateOptions {
  /** 'linear' or 'cosine' (a half cosine: flat at both ends of each piece). */
  readonly interpolateType: InterpolateType
  /** The value v₀ at k = 0. */
  readonly init: number
  /** `{ step: scale }`: at each boundary bᵢ (an integer ≥ 0) the value has been multiplied by sᵢ ≥ 0. Default none. */
  readonly boundariesAndScales?: Readonly<Record<number, number>>
}

const interpolateTypeCodec = t.union([t.literal('linear'), t.literal('cosine')], "'linear' or 'cosine'")

/**
 * Piecewise interpolation between accumulated scales: with the boundaries b₁ < … < bₙ (b₀ = 0) and
 * vᵢ = v₀·s₁⋯sᵢ, for bᵢ ≤ k < bᵢ₊₁ the value moves from vᵢ to vᵢ₊₁ with f = (k − bᵢ)/(bᵢ₊₁ − bᵢ),
 *
 *   linear: vᵢ + (vᵢ₊₁ − vᵢ)·f,   cosine: vᵢ₊₁ + (vᵢ − vᵢ₊₁)·½(1 + cos πf),
 *
 * and it is vₙ from bₙ on. The scales multiply the value reached so far: `{ 4: 0.1, 8: 0.01 }` from
 * 1 goes to 0.1 at step 4 and to 0.001 at step 8. A boundary at step 0 makes the first piece empty
 * (the schedule starts at v₀·s₁).
 *
 * Reference: Optax `piecewise_interpolate_schedule`.
 *
 * @example
 * ```ts
 * const lr = piecewiseInterpolate({ interpolateType: 'linear', init: 1, boundariesAndScales: { 4: 0.1, 8: 0.01 } })
 * lr(2) // 0.55
 * ```
 */
export const piecewiseInterpolate = (options: PiecewiseInterpolateOptions): Schedule => {
  const name = 'piecewiseInterpolate'
  const o = validate(
    name,
    { interpolateType: interpolateTypeCodec, init: ranges.finite, boundariesAndScales: t.record(t.string, ranges.nonNegative, '{ step: scale } with integer steps ≥ 0 and finite scales ≥ 0') },
    options,
    { boundariesAndScales: {} },
  )
  const entries = Object.entries(o.boundariesAndScales).map(([key, scale]) => {
    const b = Number(key)
    if (!(Number.isSafeInteger(b) && b >= 0 && String(b) === key)) throw new HyperparameterError(name, `boundariesAndScales.${key}`, key, 'a key that is an integer step ≥ 0')
    return [b, scale] as const
  })
  entries.sort(([a], [b]) => a - b)
  const bounds = [0, ...entries.map(([b]) => b)]
  const values = [o.init]
  for (const [, s] of entries) values.push(values[values.length - 1]! * s)
  const interpolate =
    o.interpolateType === 'linear'
      ? (a: number, b: number, f: number) => (b - a) * f + a
      : (a: number, b: number, f: number) => b + ((a - b) / 2) * (Math.cos(Math.PI * f) + 1)
  const last = bounds.length - 1
  return frozenSchedule((step) => {
    if (step >= bounds[last]!) return values[last]!
    let i = 0
    while (step >= bounds[i + 1]!) i++
    return interpolate(values[i]!, values[i + 1]!, (step - bounds[i]!) / Math.max(bounds[i + 1]! - bounds[i]!, 1))
  })
}

/** Options of `linearOnecycle`. */
export interface LinearOnecycleOptions {
  /** T ≥ 1, the length of the cycle. */
  readonly transitionSteps: number
  /** The peak value, reached at ⌊pctStart·T⌋. */
  readonly peak: number
  /** Fraction of T spent rising, in [0, 1). Default 0.3. */
  readonly pctStart?: number
  /** Fraction of T at whose end the value is back at peak/divFactor, in (0, 1). Default 0.85. */
  readonly pctFinal?: number
  /** The cycle starts (and its second phase ends) at peak / divFactor, > 0. Default 25. */
  readonly divFactor?: number
  /** It ends at peak / (divFactor · finalDivFactor), > 0. Default 1e4. */
  readonly finalDivFactor?: number
}

/**
 * Linear one-cycle: three linear phases, from peak/d up to the peak at ⌊pctStart·T⌋, back down to
 * peak/d at ⌊pctFinal·T⌋, then to peak/(d·d_final) at T, constant after. It is
 * `piecewiseInterpolate` (linear) from peak/d with the scales { ⌊pctStart·T⌋: d, ⌊pctFinal·T⌋: 1/d,
 * T: 1/d_final }; `onecycle` is the cosine two-phase form.
 *
 * The three boundaries must be distinct, ⌊pctStart·T⌋ < ⌊pctFinal·T⌋ (Optax's dictionary would
 * silently merge two equal ones).
 *
 * Defaults: pctStart = 0.3, pctFinal = 0.85, divFactor = 25, finalDivFactor = 1e4.
 * Reference: Smith & Topin 2019, "Super-Convergence"; Optax `linear_onecycle_schedule`.
 *
 * @example
 * ```ts
 * const lr = linearOnecycle({ transitionSteps: 1000, peak: 0.1 })
 * lr(300) // 0.1
 * ```
 */
export const linearOnecycle = (options: LinearOnecycleOptions): Schedule => {
  const name = 'linearOnecycle'
  const o = validate(
    name,
    {
      transitionSteps: ranges.positiveInteger,
      peak: ranges.finite,
      pctStart: ranges.unitInterval,
      pctFinal: ranges.openUnitInterval,
      divFactor: ranges.positive,
      finalDivFactor: ranges.positive,
    },
    options,
    { pctStart: 0.3, pctFinal: 0.85, divFactor: 25, finalDivFactor: 1e4 },
  )
  const rise = Math.floor(o.pctStart * o.transitionSteps)
  const fall = Math.floor(o.pctFinal * o.transitionSteps)
  if (fall <= rise) {
    throw new HyperparameterError(name, 'pctFinal', o.pctFinal, `a number in (0, 1) with ⌊pctFinal·T⌋ > ⌊pctStart·T⌋ = ${rise} (T = transitionSteps = ${o.transitionSteps})`)
  }
  return piecewiseInterpolate({
    interpolateType: 'linear',
    init: o.peak / o.divFactor,
    boundariesAndScales: { [rise]: o.divFactor, [fall]: 1 / o.divFactor, [o.transitionSteps]: 1 / o.finalDivFactor },
  })
}
