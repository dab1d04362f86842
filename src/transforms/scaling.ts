/**
 * Scaling transformations: `scale`, `scaleBySchedule`, `scaleByLearningRate`.
 *
 * Reference: the step θ ← θ − α_k g of SGD (seed 000_33f4fbf331723dec.txt, "Stochastic Gradient
 * Descent"); Optax `transforms/_scaling` and `alias._scale_by_learning_rate`.
 */
import { checkCount, elementwiseTree, frozen, statelessTransformation, transformation } from '../core/internal.js'
import type { EmptyState, GradientTransformation, Params, ScalarOrSchedule, Schedule } from '../core/types.js'
import { evaluate, nonNegativeOrSchedule, ranges, validate } from '../core/validate.js'
import { defineElementwise } from '../tensor/tensor.js'
import * as t from 'io-ts'
import { countCodec } from '../core/state.js'

/** Codec of a `{ count }` state. */
export const countStateCodec = t.strict({ count: countCodec }, '{ count }')

const scaleOp = defineElementwise({ name: 'scale', inputs: ['u'], scalars: ['s'], outputs: ['u * s'] })

const scaleTree = (updates: Params, s: number): Params => elementwiseTree(scaleOp, [['updates', updates]], [s])[0]!

/** The fused form of a scaling by a host number `factor(state)`; `constant` when it never changes. */
const scaleStage = (name: string, factor: (state: Readonly<Record<string, unknown>>) => { s: number; hostState: Readonly<Record<string, unknown>> }, constant: boolean) =>
  ({
    kind: 'stage',
    stage: {
      name,
      op: scaleOp,
      sources: [{ from: 'updates' }],
      sinks: [{ to: 'updates' }],
      buffers: [],
      ...(constant ? { constants: ['s'] } : {}),
      host: (state: Readonly<Record<string, unknown>>) => {
        const { s, hostState } = factor(state)
        return { scalars: [s], hostState }
      },
    },
  }) as const

/**
 * Multiplies every update by a constant: u ↦ s·u. Stateless.
 *
 * @param step the factor s, any finite number.
 * @example
 * ```ts
 * const halve = scale(0.5)
 * ```
 */
export const scale = (step: number): GradientTransformation<EmptyState> => {
  const { step: s } = validate('scale', { step: ranges.finite }, { step })
  return statelessTransformation('scale', (updates) => scaleTree(updates, s), { fusion: scaleStage('scale', () => ({ s, hostState: {} }), true) })
}

/** State of `scaleBySchedule` and `scaleByLearningRate`: the number of updates so far. */
export interface ScaleByScheduleState {
  readonly count: number
}

/**
 * Multiplies the k-th update (k = 0, 1, …) by `schedule(k)`: u_k ↦ s(k)·u_k. The value must be a
 * finite number at every step, else the update throws a HyperparameterError.
 *
 * @example
 * ```ts
 * const warm = scaleBySchedule((k) => Math.min(1, (k + 1) / 100))
 * ```
 */
export const scaleBySchedule = (schedule: Schedule): GradientTransformation<ScaleByScheduleState> => {
  validate('scaleBySchedule', { schedule: t.Function }, { schedule })
  return transformation('scaleBySchedule', {
    init: () => frozen({ count: 0 }),
    update: (updates: Params, state: ScaleByScheduleState) => {
      const count = checkCount('scaleBySchedule', state.count)
      const s = evaluate('scaleBySchedule', 'schedule', schedule, count, ranges.finite)
      return [scaleTree(updates, s), frozen({ count: count + 1 })] as const
    },
    stateCodec: countStateCodec,
  }, {
    fusion: scaleStage('scaleBySchedule', (state) => {
      const count = checkCount('scaleBySchedule', state.count)
      return { s: evaluate('scaleBySchedule', 'schedule', schedule, count, ranges.finite), hostState: { count: count + 1 } }
    }, false),
  })
}

/** Options of `scaleByLearningRate`. */
export interface ScaleByLearningRateOptions {
  /** Multiply by −α (descent) rather than α. Default true. */
  readonly flipSign?: boolean
}

/**
 * Scales by the learning rate α_k, negated by default so that `applyUpdates` descends:
 * u_k ↦ −α_k·u_k. α may be a number ≥ 0 or a schedule k ↦ α_k (k = 0 at the first update), whose
 * values are checked to be finite and ≥ 0 at each step.
 *
 * Defaults: flipSign = true.
 * Reference: line 4 of SGD in seed 000_33f4fbf331723dec.txt, θ ← θ − α_k g.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByAdam(), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByLearningRate = (
  learningRate: ScalarOrSchedule,
  options: ScaleByLearningRateOptions = {},
): GradientTransformation<ScaleByScheduleState> => {
  validate('scaleByLearningRate', { learningRate: nonNegativeOrSchedule }, { learningRate })
  const { flipSign } = validate('scaleByLearningRate', { flipSign: ranges.boolean }, options, { flipSign: true })
  const sign = flipSign ? -1 : 1
  return transformation('scaleByLearningRate', {
    init: () => frozen({ count: 0 }),
    update: (updates: Params, state: ScaleByScheduleState) => {
      const count = checkCount('scaleByLearningRate', state.count)
      const lr = evaluate('scaleByLearningRate', 'learningRate', learningRate, count)
      return [scaleTree(updates, sign * lr), frozen({ count: count + 1 })] as const
    },
    stateCodec: countStateCodec,
  }, {
    fusion: scaleStage('scaleByLearningRate', (state) => {
      const count = checkCount('scaleByLearningRate', state.count)
      return { s: sign * evaluate('scaleByLearningRate', 'learningRate', learningRate, count), hostState: { count: count + 1 } }
    }, typeof learningRate === 'number'),
  })
}
