/**
 * Early stopping, exactly as the lectures' meta-algorithm, with Keras' options.
 *
 * Reference: seed 000_33f4fbf331723dec.txt, "Early Stopping meta-algorithm":
 *
 *   θ ← θ₀, θ* ← θ;  i, i*, j ← 0;  v ← ∞
 *   while j < P:
 *     update θ by running the training algorithm for n steps;  i ← i + n;  j ← j + 1
 *     v' ← ValidationError(θ)
 *     if v' < v:  j ← 0;  θ* ← θ;  i* ← i;  v ← v'
 *   return θ*, i*
 *
 * Keras' options extend it: an improvement must beat v by `minDelta`; v starts at `baseline`
 * instead of ∞; evaluations before step `startStep` update θ* but never count towards P.
 */
import { ranges, refinement, validate } from '../core/validate.js'

/** Options of early stopping. */
export interface EarlyStoppingOptions {
  /** n ≥ 1, training steps between evaluations. */
  readonly evaluateEvery: number
  /** P ≥ 1, evaluations without improvement before giving up. */
  readonly patience: number
  /** An improvement must be larger than this (Keras' min_delta). Default 0. */
  readonly minDelta?: number
  /** The initial v (Keras' baseline). Default ∞. */
  readonly baseline?: number
  /** Evaluations at steps i < startStep never count towards P (Keras' start_from_epoch). Default 0. */
  readonly startStep?: number
  /** Stop after this many steps anyway. Default ∞. */
  readonly maxSteps?: number
}

/** What early stopping returns. */
export interface EarlyStoppingResult<T> {
  /** θ*, the parameters with the lowest validation error. */
  readonly best: T
  /** i*, the step at which θ* was reached (0 if never improved). */
  readonly bestStep: number
  /** v, the best validation error. */
  readonly bestValue: number
  /** The step at which training stopped. */
  readonly stoppedStep: number
  /** Every evaluation: step and validation error. */
  readonly history: readonly { readonly step: number; readonly value: number }[]
}

const optionCodecs = {
  evaluateEvery: ranges.positiveInteger,
  patience: ranges.positiveInteger,
  minDelta: ranges.nonNegative,
  baseline: refinement('a number, not NaN (±∞ allowed)', (u): u is number => typeof u === 'number' && !Number.isNaN(u)),
  startStep: ranges.nonNegativeInteger,
  maxSteps: ranges.positiveIntegerOrInfinity,
}

/**
 * Runs the meta-algorithm: `train(θ, n)` advances θ by n steps (it may be the same object updated
 * or a new one), `validationError(θ)` evaluates it; `release(θ)` (optional) is called on parameter
 * sets that are neither the current θ nor θ* any more, so device memory can be freed.
 *
 * @example
 * ```ts
 * // θ is a number here: gradient steps on (θ − 3)², validated against a target of 2.9
 * const { best, bestStep } = await earlyStopping({ evaluateEvery: 10, patience: 5 }, {
 *   initial: 0,
 *   train: (theta, n) => {
 *     for (let i = 0; i < n; i++) theta -= 0.2 * (theta - 3)
 *     return theta
 *   },
 *   validationError: (theta) => (theta - 2.9) ** 2,
 * })
 * ```
 */
export const earlyStopping = async <T>(
  options: EarlyStoppingOptions,
  run: {
    readonly initial: T
    readonly train: (theta: T, steps: number) => T | Promise<T>
    readonly validationError: (theta: T) => number | Promise<number>
    readonly release?: (theta: T) => void
  },
): Promise<EarlyStoppingResult<T>> => {
  const o = validate('earlyStopping', optionCodecs, options, { minDelta: 0, baseline: Infinity, startStep: 0, maxSteps: Infinity })
  let theta = run.initial
  let best = theta
  let i = 0
  let bestStep = 0
  let j = 0
  let v = o.baseline
  const history: { step: number; value: number }[] = []
  while (j < o.patience && i < o.maxSteps) {
    const previous = theta
    theta = await run.train(theta, o.evaluateEvery)
    if (previous !== best && previous !== theta) run.release?.(previous)
    i += o.evaluateEvery
    if (i >= o.startStep) j += 1
    const value = await run.validationError(theta)
    history.push({ step: i, value })
    if (value < v - o.minDelta) {
      j = 0
      if (best !== theta && best !== run.initial) run.release?.(best)
      best = theta
      bestStep = i
      v = value
    }
  }
  return { best, bestStep, bestValue: v, stoppedStep: i, history }
}

/** The early-stopping state machine, for loops that evaluate on their own schedule (`fit`). */
export interface EarlyStoppingMonitor {
  /** Records an evaluation at step i; returns whether it improved and whether to stop now. */
  readonly observe: (step: number, value: number) => { readonly improved: boolean; readonly stop: boolean }
  readonly bestStep: () => number
  readonly bestValue: () => number
}

/**
 * The same rule as `earlyStopping`, driven by the caller: `observe(i, v')` after each evaluation.
 *
 * @example
 * ```ts
 * const monitor = earlyStoppingMonitor({ patience: 2 })
 * for (const [epoch, valLoss] of [0.9, 0.7, 0.72, 0.71, 0.6].entries()) {
 *   if (monitor.observe(epoch, valLoss).stop) break // at epoch 3; monitor.bestStep() === 1
 * }
 * ```
 */
export const earlyStoppingMonitor = (options: Omit<EarlyStoppingOptions, 'evaluateEvery' | 'maxSteps'>): EarlyStoppingMonitor => {
  const o = validate(
    'earlyStoppingMonitor',
    { patience: optionCodecs.patience, minDelta: optionCodecs.minDelta, baseline: optionCodecs.baseline, startStep: optionCodecs.startStep },
    options,
    { minDelta: 0, baseline: Infinity, startStep: 0 },
  )
  let j = 0
  let v = o.baseline
  let bestStep = 0
  return Object.freeze({
    observe: (step: number, value: number) => {
      if (step >= o.startStep) j += 1
      const improved = value < v - o.minDelta
      if (improved) {
        j = 0
        v = value
        bestStep = step
      }
      return { improved, stop: j >= o.patience }
    },
    bestStep: () => bestStep,
    bestValue: () => v,
  })
}
