import { chain, identity } from '../core/base.js'
import type { EmptyState, GradientTransformation, ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, ranges, validate } from '../core/validate.js'
import { type ScaleByScheduleState, scaleByLearningRate } from '../transforms/scaling.js'
import { type TraceState, trace } from '../transforms/moments.js'

/** Options of `sgd`. */
export interface SgdOptions {
  /** α, a number ≥ 0 or a schedule k ↦ α_k. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β in [0, 1); 0 means plain SGD (no momentum buffer). Default 0. */
  readonly momentum?: number
  /** Nesterov's look-ahead momentum. Default false. */
  readonly nesterov?: boolean
}

/** State of `sgd`: the momentum buffer (or `{}` without momentum) and the step count. */
export type SgdState = readonly [TraceState | EmptyState, ScaleByScheduleState]

/**
 * Stochastic gradient descent, with optional (Nesterov) momentum:
 *
 *   plain:     θ ← θ − α_k g
 *   momentum:  m ← g + βm,  θ ← θ − α_k m           (= v ← βv − αg, θ ← θ + v for constant α)
 *   Nesterov:  m ← g + βm,  θ ← θ − α_k (g + βm)
 *
 * `chain(trace({ decay: momentum, nesterov }), scaleByLearningRate(learningRate))`; the trace is
 * left out when momentum = 0 and nesterov is false.
 *
 * Defaults: momentum = 0, nesterov = false.
 * Reference: seed 000_33f4fbf331723dec.txt, "Stochastic Gradient Descent", "SGD with momentum",
 * "SGD with Nesterov momentum"; Optax `sgd`.
 *
 * @example
 * ```ts
 * const opt = sgd({ learningRate: 0.01, momentum: 0.9, nesterov: true })
 * let state = opt.init(params)
 * const [updates, next] = opt.update(grads, state, params)
 * params = applyUpdates(params, updates)
 * ```
 */
export const sgd = (options: SgdOptions): GradientTransformation<SgdState> => {
  const { learningRate, momentum = 0, nesterov = false } = validate(
    'sgd',
    { learningRate: nonNegativeOrSchedule, momentum: ranges.unitInterval, nesterov: ranges.boolean },
    { momentum: 0, nesterov: false, ...options },
  )
  const moment: GradientTransformation<TraceState | EmptyState> =
    momentum > 0 || nesterov ? (trace({ decay: momentum, nesterov }) as GradientTransformation<TraceState | EmptyState>) : (identity() as GradientTransformation<TraceState | EmptyState>)
  return chain(moment, scaleByLearningRate(learningRate))
}
