/**
 * Learning-rate (and momentum) schedules: pure functions step ↦ value. Arguments are validated when
 * a schedule is built; the step k counts updates from 0, and every schedule holds its step-0 value
 * before step 0 (a negative step is evaluated as step 0).
 *
 * References: seed 000_33f4fbf331723dec.txt ("SGD: Learning rate": linear decay; the Keras
 * ExponentialDecay example); seed 001_6e8604431cc2cba1.txt ("Learning rate schedules": step decay,
 * inverse decay η₀/(1 + εt), exponential decay η₀e^(−εt); momentum annealed from 0.5 to 0.9);
 * Optax `schedules/_schedule`; Keras `optimizers.schedules`.
 */
import type { Schedule } from '../core/types.js'
import { ranges, validate } from '../core/validate.js'
import { HyperparameterError } from '../errors.js'
import * as t from 'io-ts'
import { frozenSchedule } from './frozen.js'

/**
 * A constant: α_k = value.
 *
 * @example
 * ```ts
 * constant(0.1)(1000) // 0.1
 * ```
 */
export const constant = (value: number): Schedule => {
  const { value: v } = validate('constant', { value: ranges.finite }, { value })
  return frozenSchedule(() => v)
}

/** Options of `linear`. */
export interface LinearOptions {
  /** α₀, the value at k ≤ transitionBegin. */
  readonly init: number
  /** α_τ, the value from k ≥ transitionBegin + τ on. */
  readonly end: number
  /** τ ≥ 1, the length of the transition. */
  readonly transitionSteps: number
  /** Steps to wait before the transition. Default 0. */
  readonly transitionBegin?: number
}

/**
 * The lectures' linear decay: α_k = α₀ − (k/τ)(α₀ − α_τ) for k ≤ τ, α_τ after (shifted by
 * `transitionBegin`). The lectures suggest α_τ ≈ 0.01 α₀.
 *
 * Reference: seed 000_33f4fbf331723dec.txt, "SGD: Learning rate"; Optax `linear_schedule`.
 *
 * @example
 * ```ts
 * const lr = linear({ init: 0.1, end: 0.001, transitionSteps: 1000 })
 * lr(500) // 0.0505
 * ```
 */
export const linear = (options: LinearOptions): Schedule => {
  const o = validate(
    'linear',
    { init: ranges.finite, end: ranges.finite, transitionSteps: ranges.positiveInteger, transitionBegin: ranges.nonNegativeInteger },
    options,
    { transitionBegin: 0 },
  )
  return frozenSchedule((step) => {
    const k = step - o.transitionBegin
    // the endpoints are returned as given, so α_0 and α_τ hold exactly (no rounding of α₀ − (α₀ − α_τ))
    if (k <= 0) return o.init
    if (k >= o.transitionSteps) return o.end
    return o.init - (k / o.transitionSteps) * (o.init - o.end)
  })
}

/** Options of `polynomial`. */
export interface PolynomialOptions extends LinearOptions {
  /** p > 0. */
  readonly power: number
}

/**
 * Polynomial decay: α_k = (α₀ − α_τ)(1 − k/τ)^p + α_τ for k ≤ τ, α_τ after. p = 1 is `linear`.
 *
 * Reference: Optax `polynomial_schedule`; Keras `PolynomialDecay`.
 *
 * @example
 * ```ts
 * polynomial({ init: 1, end: 0, power: 2, transitionSteps: 100 })(50) // 0.25
 * ```
 */
export const polynomial = (options: PolynomialOptions): Schedule => {
  const o = validate(
    'polynomial',
    { init: ranges.finite, end: ranges.finite, power: ranges.positive, transitionSteps: ranges.positiveInteger, transitionBegin: ranges.nonNegativeInteger },
    options,
    { transitionBegin: 0 },
  )
  return frozenSchedule((step) => {
    const k = step - o.transitionBegin
    if (k <= 0) return o.init
    if (k >= o.transitionSteps) return o.end
    return (o.init - o.end) * (1 - k / o.transitionSteps) ** o.power + o.end
  })
}

/** Options of `exponentialDecay`. */
export interface ExponentialDecayOptions {
  /** α₀. */
  readonly init: number
  /** The step count over which the value is multiplied by `decayRate` (Keras' decay_steps). */
  readonly transitionSteps: number
  /** r > 0 (r < 1 decays, r > 1 grows). */
  readonly decayRate: number
  /** Steps before decay starts. Default 0. */
  readonly transitionBegin?: number
  /** Decay in whole periods: r^⌊k/T⌋. Default false. */
  readonly staircase?: boolean
  /** A bound the value does not pass (a floor when r < 1, a ceiling when r > 1). */
  readonly end?: number
}

/**
 * Exponential decay: α_k = α₀ · r^(k/T) (staircase: r^⌊k/T⌋), bounded by `end`. The lectures'
 * Keras example is `exponentialDecay({ init: 1e-2, transitionSteps: 10000, decayRate: 0.9 })`.
 *
 * Reference: seed 000_33f4fbf331723dec.txt, "Example: Learning Rate Schedule"; Keras
 * `ExponentialDecay`; Optax `exponential_decay`.
 *
 * @example
 * ```ts
 * exponentialDecay({ init: 1e-2, transitionSteps: 10000, decayRate: 0.9 })(10000) // 0.009
 * ```
 */
export const exponentialDecay = (options: ExponentialDecayOptions): Schedule => {
  const o = validate(
    'exponentialDecay',
    {
      init: ranges.finite,
      transitionSteps: ranges.positiveInteger,
      decayRate: ranges.positive,
      transitionBegin: ranges.nonNegativeInteger,
      staircase: ranges.boolean,
      end: t.union([ranges.finite, t.undefined], 'a finite number or undefined'),
    },
    options,
    { transitionBegin: 0, staircase: false },
  )
  return frozenSchedule((step) => {
    const k = Math.max(step - o.transitionBegin, 0) // before transitionBegin, α₀
    const e = o.staircase ? Math.floor(k / o.transitionSteps) : k / o.transitionSteps
    const v = o.init * o.decayRate ** e
    if (o.end === undefined) return v
    return o.decayRate < 1 ? Math.max(v, o.end) : Math.min(v, o.end)
  })
}

/** Options of `inverseTimeDecay` and `naturalExpDecay`. */
export interface TimeDecayOptions {
  /** η₀. */
  readonly init: number
  /** ε ≥ 0. */
  readonly decayRate: number
  /** t = k / decaySteps. Default 1. */
  readonly decaySteps?: number
  /** Use ⌊k / decaySteps⌋. Default false. */
  readonly staircase?: boolean
}

const timeDecay = (name: string, f: (eta0: number, eps: number, t: number) => number) => (options: TimeDecayOptions): Schedule => {
  const o = validate(
    name,
    { init: ranges.finite, decayRate: ranges.nonNegative, decaySteps: ranges.positiveInteger, staircase: ranges.boolean },
    options,
    { decaySteps: 1, staircase: false },
  )
  return frozenSchedule((step) => {
    const tt = o.staircase ? Math.floor(step / o.decaySteps) : step / o.decaySteps
    return f(o.init, o.decayRate, tt)
  })
}

/**
 * Inverse (time-based) decay: η_t = η₀ / (1 + εt), t = k / decaySteps.
 *
 * Reference: seed 001_6e8604431cc2cba1.txt, "Learning rate schedules"; Keras `InverseTimeDecay`.
 *
 * @example
 * ```ts
 * inverseTimeDecay({ init: 0.1, decayRate: 0.5 })(2) // 0.05
 * ```
 */
export const inverseTimeDecay = timeDecay('inverseTimeDecay', (eta0, eps, tt) => eta0 / (1 + eps * tt))

/**
 * Exponential decay in the lectures' form: η_t = η₀ e^(−εt), t = k / decaySteps.
 *
 * Reference: seed 001_6e8604431cc2cba1.txt, "Learning rate schedules".
 *
 * @example
 * ```ts
 * naturalExpDecay({ init: 0.1, decayRate: 0.01 })(100) // 0.1 / e
 * ```
 */
export const naturalExpDecay = timeDecay('naturalExpDecay', (eta0, eps, tt) => eta0 * Math.exp(-eps * tt))

/** Options of `stepDecay`. */
export interface StepDecayOptions {
  readonly init: number
  /** Multiply by this every `stepSize` steps (0 < factor). */
  readonly factor: number
  /** T ≥ 1. */
  readonly stepSize: number
}

/**
 * Step decay: α_k = α₀ · factor^⌊k/T⌋ ("decrease every T epochs"; the lectures' preferred schedule).
 *
 * Reference: seed 001_6e8604431cc2cba1.txt, "Step decay".
 *
 * @example
 * ```ts
 * stepDecay({ init: 0.1, factor: 0.5, stepSize: 10 })(25) // 0.025
 * ```
 */
export const stepDecay = (options: StepDecayOptions): Schedule => {
  const o = validate('stepDecay', { init: ranges.finite, factor: ranges.positive, stepSize: ranges.positiveInteger }, options)
  return frozenSchedule((step) => o.init * o.factor ** Math.floor(step / o.stepSize))
}

/** Options of `piecewiseConstant`. */
export interface PiecewiseConstantOptions {
  /** Strictly increasing step boundaries b₀ < b₁ < … */
  readonly boundaries: readonly number[]
  /** values[i] applies for b_{i−1} < k ≤ b_i (one more value than boundaries). */
  readonly values: readonly number[]
}

/**
 * Piecewise constant (Keras' PiecewiseConstantDecay): values[0] for k ≤ b₀, values[i] for
 * b_{i−1} < k ≤ b_i, the last value after the last boundary.
 *
 * Reference: Keras `PiecewiseConstantDecay`; seed 001 "Step decay".
 *
 * @example
 * ```ts
 * piecewiseConstant({ boundaries: [100, 200], values: [1, 0.5, 0.1] })(150) // 0.5
 * ```
 */
export const piecewiseConstant = (options: PiecewiseConstantOptions): Schedule => {
  const o = validate('piecewiseConstant', { boundaries: t.array(ranges.finite), values: t.array(ranges.finite) }, options)
  if (o.values.length !== o.boundaries.length + 1) {
    throw new HyperparameterError('piecewiseConstant', 'values', o.values, `an array of ${o.boundaries.length + 1} numbers (one more than boundaries)`)
  }
  o.boundaries.forEach((b, i) => {
    if (i > 0 && b <= o.boundaries[i - 1]!) throw new HyperparameterError('piecewiseConstant', `boundaries.${i}`, b, `a number > ${o.boundaries[i - 1]} (strictly increasing)`)
  })
  const boundaries = [...o.boundaries]
  const values = [...o.values]
  return frozenSchedule((step) => {
    const i = boundaries.findIndex((b) => step <= b)
    return values[i === -1 ? values.length - 1 : i]!
  })
}

/** Options of `momentumAnnealing`. */
export interface MomentumAnnealingOptions {
  /** γ₀ in [0, 1). Default 0.5. */
  readonly init?: number
  /** γ∞ in [0, 1). Default 0.9. */
  readonly end?: number
  /** Steps of the linear ramp. */
  readonly transitionSteps: number
}

/**
 * Momentum annealing: γ rises linearly from γ₀ = 0.5 to γ∞ = 0.9 over `transitionSteps`, then stays.
 * Use it with `injectHyperparams(sgd)({ momentum: momentumAnnealing(...) })`.
 *
 * Reference: seed 001_6e8604431cc2cba1.txt, "In practice, initialize γ = γ₀ = 0.5 and anneal to γ∞ = 0.9".
 *
 * @example
 * ```ts
 * momentumAnnealing({ transitionSteps: 1000 })(500) // 0.7
 * ```
 */
export const momentumAnnealing = (options: MomentumAnnealingOptions): Schedule => {
  const o = validate(
    'momentumAnnealing',
    { init: ranges.unitInterval, end: ranges.unitInterval, transitionSteps: ranges.positiveInteger },
    options,
    { init: 0.5, end: 0.9 },
  )
  return linear({ init: o.init, end: o.end, transitionSteps: o.transitionSteps })
}
