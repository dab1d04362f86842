/**
 * Wrappers that run an inner transformation only at the steps a predicate of the step count
 * selects: `conditionallyTransform` passes the updates through unchanged at the other steps,
 * `conditionallyMask` emits zeros there. Either way the inner state is left as it was on a skipped
 * step, and the wrapper counts every call.
 *
 * Reference: Optax `transforms/_conditionality.py` (`conditionally_transform`, `conditionally_mask`).
 */
import * as t from 'io-ts'
import { type AnyTransformation, zerosLikeTree } from '../core/base.js'
import { checkCount, frozen, paramsNeededBy, transformation } from '../core/internal.js'
import { countCodec } from '../core/state.js'
import type { GradientTransformation, Params, UpdateExtras } from '../core/types.js'
import { ownOptions, ranges } from '../core/validate.js'
import { HyperparameterError } from '../errors.js'

/**
 * Decides whether the inner transformation runs at this call: `step` is the number of earlier
 * calls (0 at the first update); `extras` are the update's extras when `forwardExtraArgs` is set.
 * It must return a boolean.
 */
export type ShouldTransformFn = (step: number, extras?: UpdateExtras) => boolean

/** Options of `conditionallyTransform` and `conditionallyMask`. */
export interface ConditionalOptions {
  /** Pass the update's extras (`value`, `grad`, …) to the predicate too. Default false (Optax's `forward_extra_args`). */
  readonly forwardExtraArgs?: boolean
}

/** State of `conditionallyTransform` / `conditionallyMask`: the calls so far (Optax's `step`) and the inner state. */
export interface ConditionallyTransformState<S> {
  readonly count: number
  readonly inner: S
}

/** State of `conditionallyMask`. */
export type ConditionallyMaskState<S> = ConditionallyTransformState<S>

const conditional = <S>(
  name: string,
  inner: GradientTransformation<S>,
  shouldTransform: ShouldTransformFn,
  options: ConditionalOptions | undefined,
  onSkip: (updates: Params) => Params,
): GradientTransformation<ConditionallyTransformState<S>> => {
  if (typeof inner !== 'object' || inner === null || typeof inner.init !== 'function' || typeof inner.update !== 'function') {
    throw new HyperparameterError(name, 'inner', inner, 'a GradientTransformation { init, update }')
  }
  if (typeof shouldTransform !== 'function') throw new HyperparameterError(name, 'shouldTransform', shouldTransform, 'a function (step, extras?) => boolean')
  const given = ownOptions(name, options, ['forwardExtraArgs'])
  const forward = given.forwardExtraArgs ?? false
  if (!ranges.boolean.is(forward)) throw new HyperparameterError(name, 'forwardExtraArgs', forward, 'boolean')
  const codec = (inner as AnyTransformation).stateCodec ?? t.unknown
  return transformation(name, {
    init: (params: Params) => frozen({ count: 0, inner: inner.init(params) }),
    update: (updates: Params, state: ConditionallyTransformState<S>, params?: Params, extra?: UpdateExtras) => {
      const count = checkCount(name, state.count)
      // decided before anything is computed: a predicate that does not answer a boolean is refused
      const run: unknown = forward ? shouldTransform(count, extra) : shouldTransform(count)
      if (typeof run !== 'boolean') throw new HyperparameterError(name, `shouldTransform(step ${count})`, run, 'a boolean')
      if (!run) return [onSkip(updates), frozen({ count: count + 1, inner: state.inner })] as const
      const [u, next] = inner.update(updates, state.inner, params, extra)
      return [u, frozen({ count: count + 1, inner: next })] as const
    },
    stateCodec: t.strict({ count: countCodec, inner: codec }, '{ count, inner }'),
  }, { needsParams: paramsNeededBy(inner) })
}

/**
 * Runs `inner` only at the steps where `shouldTransform(step)` is true; at the other steps the
 * updates pass through unchanged and the inner state is kept as it was. `step` counts every call
 * (0 at the first update), whether the inner transformation ran or not:
 *
 *   (u, s) = inner.update(g, s)   if shouldTransform(k)
 *   (u, s) = (g, s)               otherwise;   k ← k + 1
 *
 * The update's extras always reach `inner`; they reach the predicate too with `forwardExtraArgs`.
 * Use `conditionallyMask` to emit zeros instead at the skipped steps.
 *
 * Defaults: forwardExtraArgs = false. State: `{ count, inner }` (Optax's `step`, `inner_state`).
 * Reference: Optax `conditionally_transform` (transforms/_conditionality.py).
 *
 * @example
 * ```ts
 * // clip only during the first 100 steps
 * const opt = chain(conditionallyTransform(clipByGlobalNorm(1), (step) => step < 100), adam({ learningRate: 1e-3 }))
 * ```
 */
export const conditionallyTransform = <S>(
  inner: GradientTransformation<S>,
  shouldTransform: ShouldTransformFn,
  options?: ConditionalOptions,
): GradientTransformation<ConditionallyTransformState<S>> => conditional('conditionallyTransform', inner, shouldTransform, options, (u) => u)

/**
 * Runs `inner` only at the steps where `shouldTransform(step)` is true; at the other steps the
 * updates are zeros (the params do not move) and the inner state is kept as it was. `step` counts
 * every call (0 at the first update):
 *
 *   (u, s) = inner.update(g, s)   if shouldTransform(k)
 *   (u, s) = (0, s)               otherwise;   k ← k + 1
 *
 * The update's extras always reach `inner`; they reach the predicate too with `forwardExtraArgs`.
 *
 * Defaults: forwardExtraArgs = false. State: `{ count, inner }` (Optax's `step`, `inner_state`).
 * Reference: Optax `conditionally_mask` (transforms/_conditionality.py).
 *
 * @example
 * ```ts
 * // a warm-up of 10 steps during which the params stay where they are
 * const opt = conditionallyMask(adam({ learningRate: 1e-3 }), (step) => step >= 10)
 * ```
 */
export const conditionallyMask = <S>(
  inner: GradientTransformation<S>,
  shouldTransform: ShouldTransformFn,
  options?: ConditionalOptions,
): GradientTransformation<ConditionallyMaskState<S>> => conditional('conditionallyMask', inner, shouldTransform, options, zerosLikeTree)
