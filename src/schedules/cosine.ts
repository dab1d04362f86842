/**
 * Cosine schedules and combinators: `cosineDecay`, `warmupCosineDecay`, `sgdr` (warm restarts),
 * `onecycle`, and `joinSchedules`.
 *
 * References: Loshchilov & Hutter 2017 ("SGDR: Stochastic Gradient Descent with Warm Restarts");
 * Smith & Topin 2019 ("Super-Convergence", one-cycle); Optax `cosine_decay_schedule`,
 * `warmup_cosine_decay_schedule`, `sgdr_schedule`, `cosine_onecycle_schedule`, `join_schedules`.
 */
import type { Schedule } from '../core/types.js'
import { ranges, validate } from '../core/validate.js'
import { HyperparameterError } from '../errors.js'
import { linear } from './basic.js'
import { frozenSchedule } from './frozen.js'
import * as t from 'io-ts'

/** Options of `cosineDecay`. */
export interface CosineDecayOptions {
  /** α₀. */
  readonly init: number
  /** T ≥ 1: the value reaches α₀·alpha at k = T and stays. */
  readonly decaySteps: number
  /** The final fraction of α₀ in [0, 1]. Default 0. */
  readonly alpha?: number
  /** Exponent of the cosine factor. Default 1. */
  readonly exponent?: number
}

/**
 * Cosine decay: α_k = α₀ ((1 − a) c^p + a), c = ½(1 + cos(π min(k, T)/T)).
 *
 * Reference: Loshchilov & Hutter 2017; Optax `cosine_decay_schedule`.
 *
 * @example
 * ```ts
 * cosineDecay({ init: 0.1, decaySteps: 100 })(50) // 0.05
 * ```
 */
export const cosineDecay = (options: CosineDecayOptions): Schedule => {
  const o = validate(
    'cosineDecay',
    { init: ranges.finite, decaySteps: ranges.positiveInteger, alpha: ranges.unitIntervalClosed, exponent: ranges.positive },
    options,
    { alpha: 0, exponent: 1 },
  )
  return frozenSchedule((step) => {
    const k = Math.min(step, o.decaySteps)
    const c = 0.5 * (1 + Math.cos((Math.PI * k) / o.decaySteps))
    return o.init * ((1 - o.alpha) * c ** o.exponent + o.alpha)
  })
}

/**
 * Joins schedules at boundaries: `schedules[0](k)` for k < b₀, then `schedules[i + 1](k − bᵢ)` for
 * bᵢ ≤ k < bᵢ₊₁ (each restarts its own count). Continuous at bᵢ exactly when
 * `schedules[i](bᵢ − bᵢ₋₁) = schedules[i + 1](0)`, e.g. in `warmupCosineDecay`.
 *
 * Reference: Optax `join_schedules`.
 *
 * @example
 * ```ts
 * const lr = joinSchedules([constant(0.1), cosineDecay({ init: 0.1, decaySteps: 900 })], [100])
 * ```
 */
export const joinSchedules = (schedules: readonly Schedule[], boundaries: readonly number[]): Schedule => {
  validate('joinSchedules', { schedules: t.array(t.Function), boundaries: t.array(ranges.nonNegativeInteger) }, { schedules, boundaries })
  if (schedules.length !== boundaries.length + 1) {
    throw new HyperparameterError('joinSchedules', 'boundaries', boundaries, `an array of ${schedules.length - 1} boundaries (one fewer than schedules)`)
  }
  boundaries.forEach((b, i) => {
    if (i > 0 && b <= boundaries[i - 1]!) throw new HyperparameterError('joinSchedules', `boundaries.${i}`, b, `an integer > ${boundaries[i - 1]} (strictly increasing)`)
  })
  const ss = [...schedules]
  const bs = [...boundaries]
  return frozenSchedule((step) => {
    let i = 0
    while (i < bs.length && step >= bs[i]!) i++
    return ss[i]!(i === 0 ? step : step - bs[i - 1]!)
  })
}

/** Options of `warmupCosineDecay`. */
export interface WarmupCosineDecayOptions {
  /** Value at k = 0. Default 0. */
  readonly init?: number
  /** Value at the end of the warmup. */
  readonly peak: number
  /** Warmup length W ≥ 0. */
  readonly warmupSteps: number
  /** Total length T > W, warmup included. */
  readonly decaySteps: number
  /** Final value. Default 0. */
  readonly end?: number
  /** Exponent of the cosine factor. Default 1. */
  readonly exponent?: number
}

/**
 * Linear warmup from `init` to `peak` over W steps, then cosine decay from `peak` to `end` until
 * step T. Continuous at W.
 *
 * Reference: Goyal et al. 2017 (warmup); Optax `warmup_cosine_decay_schedule`.
 *
 * @example
 * ```ts
 * const lr = warmupCosineDecay({ peak: 1e-3, warmupSteps: 100, decaySteps: 1000 })
 * ```
 */
export const warmupCosineDecay = (options: WarmupCosineDecayOptions): Schedule => {
  const o = validate(
    'warmupCosineDecay',
    { init: ranges.finite, peak: ranges.finite, warmupSteps: ranges.nonNegativeInteger, decaySteps: ranges.positiveInteger, end: ranges.finite, exponent: ranges.positive },
    options,
    { init: 0, end: 0, exponent: 1 },
  )
  if (o.decaySteps <= o.warmupSteps) throw new HyperparameterError('warmupCosineDecay', 'decaySteps', o.decaySteps, `an integer > warmupSteps (${o.warmupSteps})`)
  // end/peak, the fraction cosineDecay ends at; a peak of 0 allows only an end of 0
  const alpha = o.peak === 0 ? 0 : o.end / o.peak
  if ((o.peak === 0 && o.end !== 0) || !(alpha >= 0 && alpha <= 1)) throw new HyperparameterError('warmupCosineDecay', 'end', o.end, `a value between 0 and peak (${o.peak})`)
  const decay = cosineDecay({ init: o.peak, decaySteps: o.decaySteps - o.warmupSteps, alpha, exponent: o.exponent })
  if (o.warmupSteps === 0) return decay
  return joinSchedules([linear({ init: o.init, end: o.peak, transitionSteps: o.warmupSteps }), decay], [o.warmupSteps])
}

/** Options of `sgdr`. */
export interface SgdrOptions {
  /** η_max. */
  readonly max: number
  /** η_min ≤ η_max. Default 0. */
  readonly min?: number
  /** T₀ ≥ 1, the first period. */
  readonly period: number
  /** T_mult ≥ 1: each period is this many times longer. Default 1. */
  readonly mult?: number
}

/**
 * SGDR, cosine annealing with warm restarts: η = η_min + ½(η_max − η_min)(1 + cos(π T_cur/T_i)),
 * T_i = T₀ T_multⁱ, T_cur the steps since the last restart.
 *
 * Reference: Loshchilov & Hutter 2017, eq. 5.
 *
 * @example
 * ```ts
 * sgdr({ max: 0.1, min: 0.001, period: 100, mult: 2 })
 * ```
 */
export const sgdr = (options: SgdrOptions): Schedule => {
  const o = validate('sgdr', { max: ranges.finite, min: ranges.finite, period: ranges.positiveInteger, mult: ranges.atLeastOne }, options, { min: 0, mult: 1 })
  if (o.min > o.max) throw new HyperparameterError('sgdr', 'min', o.min, `a number ≤ max (${o.max})`)
  return frozenSchedule((step) => {
    const k = step
    let start = 0
    let period = o.period
    while (k >= start + period) {
      start += period
      period *= o.mult
    }
    return o.min + 0.5 * (o.max - o.min) * (1 + Math.cos((Math.PI * (k - start)) / period))
  })
}

/** Options of `onecycle`. */
export interface OnecycleOptions {
  /** T, the total length. */
  readonly transitionSteps: number
  /** The peak value. */
  readonly peak: number
  /** Fraction of T spent rising. Default 0.3. */
  readonly pctStart?: number
  /** Start at peak / divFactor. Default 25. */
  readonly divFactor?: number
  /** End at peak / (divFactor · finalDivFactor). Default 1e4. */
  readonly finalDivFactor?: number
}

/**
 * One-cycle: cosine rise from peak/d to peak over the first pctStart·T steps, then cosine fall to
 * peak/(d·d_final) at T.
 *
 * Reference: Smith & Topin 2019; Optax `cosine_onecycle_schedule`.
 *
 * @example
 * ```ts
 * onecycle({ transitionSteps: 1000, peak: 0.1 })
 * ```
 */
export const onecycle = (options: OnecycleOptions): Schedule => {
  const o = validate(
    'onecycle',
    { transitionSteps: ranges.positiveInteger, peak: ranges.finite, pctStart: ranges.openUnitInterval, divFactor: ranges.positive, finalDivFactor: ranges.positive },
    options,
    { pctStart: 0.3, divFactor: 25, finalDivFactor: 1e4 },
  )
  const start = o.peak / o.divFactor
  const end = start / o.finalDivFactor
  const rise = Math.floor(o.pctStart * o.transitionSteps)
  const interp = (a: number, b: number, f: number) => b + ((a - b) * (1 + Math.cos(Math.PI * f))) / 2
  return frozenSchedule((step) => {
    const k = Math.min(step, o.transitionSteps)
    if (k <= rise) return rise === 0 ? o.peak : interp(start, o.peak, k / rise)
    return interp(o.peak, end, (k - rise) / (o.transitionSteps - rise))
  })
}
