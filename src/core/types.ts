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
  /**
   * Which transformation this is, recorded in saved state so that `loadState` refuses a state
   * written by another one (`adam`'s into `nadam`) and reports changed hyperparameters. The
   * optimizers fill it; a user-written transformation may omit it (`withIdentity` adds one).
   */
  readonly identity?: TransformIdentity
}

/** A value of a recorded hyperparameter: JSON data (functions are recorded as `'<function name>'`). */
export type HyperparameterJson = number | string | boolean | null | readonly HyperparameterJson[] | { readonly [key: string]: HyperparameterJson }

/** The name and resolved hyperparameters of a transformation, as saved with its state. */
export interface TransformIdentity {
  readonly name: string
  readonly hyperparameters: { readonly [key: string]: HyperparameterJson }
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
