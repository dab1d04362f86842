/**
 * Schedule-free learning: a wrapper that replaces an optimizer's momentum and learning-rate decay
 * by interpolation and averaging (`scheduleFree`), and the evaluation parameters it implies
 * (`scheduleFreeEvalParams`).
 *
 * References: Defazio et al. 2024, "The Road Less Scheduled" (arXiv:2405.15682), Algorithm 1;
 * facebookresearch/schedule_free; Optax 0.2.8 `optax/contrib/_schedule_free.py`.
 */
import * as t from 'io-ts'
import type { AnyTransformation } from '../core/base.js'
import { checkCount, frozen, mapLeaves, paramsNeededBy, requireParams, transformation } from '../core/internal.js'
import { countCodec, floatCodec, floatCodecWhere, paramsCodec } from '../core/state.js'
import type { GradientTransformation, Params, ScalarOrSchedule, UpdateExtras } from '../core/types.js'
import { evaluate, nonNegativeOrSchedule, ranges, refinement, validate } from '../core/validate.js'
import { StructureError } from '../errors.js'
import { clone, elementwise } from '../tensor/ops.js'
import { defineElementwise } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'

const f32 = Math.fround

/** State of `scheduleFree` (Optax's `ScheduleFreeState`); every field but `base` and `z` is a host number. */
export interface ScheduleFreeState<S = unknown> {
  /** β, the interpolation weight (float32), which `scheduleFreeEvalParams` reads. */
  readonly b1: number
  /** Σ of the averaging weights so far, cₜ's denominator. */
  readonly weightSum: number
  /** The step t, starting at 1 (the schedule is evaluated at it). */
  readonly stepCount: number
  /** The largest learning rate seen so far. */
  readonly maxLr: number
  /** The base optimizer's state. */
  readonly base: S
  /** z, the base optimizer's own iterate. */
  readonly z: Params
}

/** Options of `scheduleFree`. */
export interface ScheduleFreeOptions {
  /** γ, the base optimizer's learning rate (a number ≥ 0 or a schedule without decay, with warm-up), which weights the average. Required. */
  readonly learningRate: ScalarOrSchedule
  /** β in (0, 1], the interpolation between the average x and z. Default 0.9. */
  readonly b1?: number
  /** r ≥ 0: the averaging weight of step t is max_{s≤t} γ_s^r. Default 2. */
  readonly weightLrPower?: number
}

/** β of schedule-free learning: (0, 1] (β = 0 would divide by zero in the evaluation parameters). */
export const scheduleFreeB1 = refinement('a number in (0, 1]', (u): u is number => typeof u === 'number' && u > 0 && u <= 1)

const stepOp = defineElementwise({
  name: 'scheduleFree',
  inputs: ['y', 'z', 'u'],
  scalars: ['b1', 'omb1', 'ck', 'omck'],
  lets: [
    ['z1', 'z + u'],
    ['x0', '(y - omb1 * z) / b1'],
    ['x1', 'omck * x0 + ck * z1'],
  ],
  outputs: ['z1', '(b1 * x1 + omb1 * z1) - y'],
})

/** cₜ = wₜ / Σ w, with 0/0 (no weight yet: γ = 0) as 0 and a NaN kept NaN, as Optax's. */
const averagingWeight = (weight: number, total: number): number => {
  if (Number.isNaN(weight) || Number.isNaN(total)) return NaN
  const c = f32(weight / total)
  return Number.isNaN(c) ? 0 : c
}

/**
 * Schedule-free learning around a base optimizer that has no momentum of its own (SGD, or Adam
 * with β₁ = 0). The params the gradients are taken at are y; the base optimizer's iterate is z; the
 * evaluation params x (`scheduleFreeEvalParams`) are a weighted average of the z:
 *
 *   z_{t+1} = z_t + base(∇f(y_t)),
 *   x_{t+1} = (1 − c_{t+1}) x_t + c_{t+1} z_{t+1},  c_{t+1} = w_t / Σ_{s≤t} w_s,  w_t = (max_{s≤t} γ_s)^r,
 *   y_{t+1} = β x_{t+1} + (1 − β) z_{t+1},
 *
 * returned as the update y_{t+1} − y_t. x_t is recomputed from y_t and z_t, (y − (1 − β)z)/β, so
 * that only z is stored (the paper's memory saving). γ_t is `learningRate` evaluated at the step
 * t = 1, 2, … (as Optax evaluates it at its step count), in float32. Needs the params.
 *
 * Defaults: b1 = 0.9, weightLrPower = 2. State: `{ b1, weightSum, stepCount, maxLr, base, z }`,
 * z = the initial params.
 * Reference: Defazio et al. 2024, "The Road Less Scheduled", Algorithm 1 (weights γ_t² with
 * warm-up); Optax `contrib.schedule_free`.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = scheduleFree(sgd({ learningRate: 0.1 }), { learningRate: 0.1, b1: 0.9 })
 * const state = opt.init(params)
 * const [u, next] = opt.update({ w: fromArray([0.5, 0.5]) }, state, params)
 * const evalParams = scheduleFreeEvalParams(next, applyUpdates(params, u))
 * ```
 */
export const scheduleFree = <S>(base: GradientTransformation<S>, options: ScheduleFreeOptions): GradientTransformation<ScheduleFreeState<S>> => {
  const o = validate('scheduleFree', { learningRate: nonNegativeOrSchedule, b1: scheduleFreeB1, weightLrPower: ranges.nonNegative }, options, { b1: 0.9, weightLrPower: 2 })
  const name = 'scheduleFree'
  const b1 = f32(o.b1)
  const omb1 = f32(1 - o.b1)
  const inner = base as AnyTransformation
  return transformation(name, {
    init: (params: Params) =>
      frozen({ b1, weightSum: 0, stepCount: 1, maxLr: 0, base: base.init(params), z: mapLeaves([['params', params]], 1, ([p], path) => [clone(p!, path)])[0]! }),
    update: (updates: Params, state: ScheduleFreeState<S>, params?: Params, extra?: UpdateExtras) => {
      const p = requireParams(name, params)
      const step = checkCount(name, state.stepCount, 'stepCount')
      for (const k of ['weightSum', 'maxLr'] as const) {
        if (typeof state[k] !== 'number') throw new StructureError(`state.${k}`, `${name}: state.${k} must be a number, got ${String(state[k])}`)
      }
      tree.assertSameStructure(updates, p, `${name}: updates vs params`)
      tree.assertSameStructure(updates, state.z, `${name}: updates vs state.z`)
      const lr = f32(evaluate(name, 'learningRate', o.learningRate, step))
      const maxLr = Math.max(state.maxLr, lr)
      const weight = f32(maxLr ** o.weightLrPower)
      const weightSum = f32(state.weightSum + weight)
      const ck = averagingWeight(weight, weightSum)
      const [u, baseNext] = base.update(updates, state.base, p, extra)
      const [z, out] = mapLeaves([['params', p], ['state.z', state.z], ['base updates', u]], 2, (row, path) => elementwise(stepOp, row, [b1, omb1, ck, f32(1 - ck)], path))
      return [out!, frozen({ b1: state.b1, weightSum, stepCount: step + 1, maxLr, base: baseNext, z: z! })] as const
    },
    stateCodec: t.strict(
      {
        b1: floatCodecWhere('a number in (0, 1]', (x) => x > 0 && x <= 1),
        weightSum: floatCodec,
        stepCount: countCodec,
        maxLr: floatCodec,
        base: inner.stateCodec ?? t.unknown,
        z: paramsCodec,
      },
      '{ b1, weightSum, stepCount, maxLr, base, z }',
    ),
  }, { needsParams: paramsNeededBy(inner) ?? true })
}

const evalOp = defineElementwise({ name: 'scheduleFreeEvalParams', inputs: ['y', 'z'], scalars: ['b1', 'omb1'], outputs: ['(y - omb1 * z) / b1'] })

const isScheduleFreeState = (u: unknown): u is ScheduleFreeState => typeof u === 'object' && u !== null && !Array.isArray(u) && typeof (u as { b1?: unknown }).b1 === 'number' && 'z' in u && 'weightSum' in u

/** The `scheduleFree` state inside `state`: itself, or the one member of a chain's state tuple (searched depth-first). */
const findState = (state: unknown, depth = 0): ScheduleFreeState | undefined => {
  if (isScheduleFreeState(state)) return state
  if (Array.isArray(state) && depth < 8) {
    for (const s of state) {
      const found = findState(s, depth + 1)
      if (found) return found
    }
  }
  return undefined
}

/**
 * The parameters to evaluate (test loss, checkpoints for inference) in schedule-free learning:
 * the average x, recovered from the params y and the state's z,
 *
 *   x = (y − (1 − β) z) / β,
 *
 * β in float32 as in the state. `state` is the state of `scheduleFree`, or of an optimizer
 * (`scheduleFreeAdamw`, `scheduleFreeSgd`, a chain) that holds one; a StructureError says when it
 * holds none. Training continues from y, not x.
 *
 * Reference: Optax `contrib.schedule_free_eval_params`; Defazio et al. 2024, Algorithm 1.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = scheduleFreeAdamw({ learningRate: 1e-2 })
 * const [u, state] = opt.update({ w: fromArray([0.5, -0.5]) }, opt.init(params), params)
 * const x = scheduleFreeEvalParams(state, applyUpdates(params, u))
 * ```
 */
export const scheduleFreeEvalParams = (state: unknown, params: Params): Params => {
  const s = findState(state)
  if (s === undefined) throw new StructureError('state', 'scheduleFreeEvalParams needs the state of scheduleFree (or of an optimizer holding one)')
  const b1 = f32(s.b1)
  return mapLeaves([['params', params], ['state.z', s.z]], 1, (row, path) => elementwise(evalOp, row, [b1, f32(1 - b1)], path))[0]!
}
