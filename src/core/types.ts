import type * as t from 'io-ts'
import type { Tensor } from '../tensor/tensor.js'
import type { Tree } from '../tree/index.js'

/** Parameters, gradients and updates: trees of tensors of one structure. */
export type Params = Tree<Tensor>

/**
 * A gradient transformation: a pair of pure functions over explicit state, as in Optax.
 * `update(updates, state, params?)` returns the transformed updates and the next state; neither
 * function mutates its arguments.
 */
export interface GradientTransformation<S> {
  readonly init: (params: Params) => S
  readonly update: (updates: Params, state: S, params?: Params, extra?: UpdateExtras) => readonly [Params, S]
  /**
   * io-ts codec of the state's JSON form (tensors as `{ shape, dtype, data }`), used by
   * `saveState` / `loadState`. Every fluxion transformation has one; a user-written one may omit it.
   */
  readonly stateCodec?: t.Mixed
}

/**
 * Extra arguments of `update`, passed down every chain and wrapper (Optax's `extra_args`):
 * `value` is the current loss, e.g. the validation loss that `reduceOnPlateau` watches.
 */
export interface UpdateExtras {
  readonly value?: number
}

/** A function of the step count (0 at the first update). */
export type Schedule = (step: number) => number

/** A hyperparameter that is either constant or varies with the step. */
export type ScalarOrSchedule = number | Schedule

/** The state of a stateless transformation. */
export type EmptyState = Readonly<Record<string, never>>
