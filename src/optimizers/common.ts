/**
 * @internal What the optimizer aliases share: the `convention` option and the chain they return.
 */
import { type AnyTransformation, chain, identity } from '../core/base.js'
import { withIdentity } from '../core/state.js'
import type { GradientTransformation } from '../core/types.js'
import { refinement, validate } from '../core/validate.js'
import { HyperparameterError } from '../errors.js'
import { trace } from '../transforms/moments.js'

/**
 * Whose formula and defaults an optimizer reproduces. fluxion's default is Optax's; the others
 * reproduce PyTorch, Keras 3 and TensorFlow.js where they differ (docs/conventions.md).
 */
export type Convention = 'optax' | 'pytorch' | 'keras' | 'tfjs'

/** The state of an optimizer: the tuple of the states of its chain. */
export type OptimizerState = readonly unknown[]

/** An optimizer: a chain of primitives. */
export type Optimizer = GradientTransformation<OptimizerState>

export const conventionCodec = (optimizer: string, allowed: readonly Convention[]) =>
  refinement(`one of ${allowed.map((c) => `'${c}'`).join(', ')} (the conventions ${optimizer} supports)`, (u): u is Convention => allowed.includes(u as Convention))

/** The convention asked for (default 'optax'), or a HyperparameterError listing the supported ones. */
export const conventionOf = (optimizer: string, conventions: readonly Convention[], options: { readonly convention?: Convention } | undefined): Convention =>
  validate(optimizer, { convention: conventionCodec(optimizer, conventions) }, { convention: options?.convention ?? 'optax' }).convention

/** A chain typed as an Optimizer. */
export const optimizer = (...transforms: AnyTransformation[]): Optimizer => chain(...transforms) as unknown as Optimizer

/**
 * A chain typed as an Optimizer that carries its identity: the optimizer's name and its resolved
 * options (defaults and convention included), which `saveState` records so that `loadState`
 * refuses another optimizer's state and reports changed hyperparameters.
 */
export const namedOptimizer = (name: string, options: object, ...transforms: AnyTransformation[]): Optimizer => withIdentity(optimizer(...transforms), name, options)

/** Momentum when β > 0 or Nesterov is asked for, else the identity (no buffer). */
export const momentumOrIdentity = (momentum: number, nesterov: boolean): AnyTransformation =>
  momentum > 0 || nesterov ? trace({ decay: momentum, nesterov }) : identity()

/** Rejects an option a convention does not have. */
export const unavailable = (optimizer: string, field: string, value: unknown, why: string): never => {
  throw new HyperparameterError(optimizer, field, value, why)
}
