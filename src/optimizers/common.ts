/**
 * @internal What the optimizer aliases share: the `convention` option and the chain they return.
 */
import { type AnyTransformation, chain, identity } from '../core/base.js'
import { withIdentity } from '../core/state.js'
import type { GradientTransformation, ScalarOrSchedule } from '../core/types.js'
import { refinement, validate } from '../core/validate.js'
import { HyperparameterError } from '../errors.js'
import { addDecayedWeights } from '../transforms/decay.js'
import { trace } from '../transforms/moments.js'
import { scale } from '../transforms/scaling.js'
import type { Arithmetic } from '../transforms/raw.js'

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

/**
 * How a convention computes its host-side scalars (1 − βᵗ, RAdam's ρₜ): in float32 like Optax and
 * Keras, as TensorFlow.js' running float32 products, or in float64 like PyTorch's Python scalars.
 */
export const arithmeticOf = (c: Convention): Arithmetic => (c === 'pytorch' ? 'float64' : c === 'tfjs' ? 'float32Product' : 'float32')

const float32Max = 3.4028234663852886e38
const toFloat32 = (v: number) => (Number.isFinite(v) && Math.abs(v) <= float32Max ? Math.fround(v) : v)

/**
 * A hyperparameter as every framework's float32 kernels take it: rounded to float32 (a
 * schedule's values too). Values float32 cannot hold are passed through for the transform's own
 * validation to name. The optimizer records the value it was given; only the kernels see this one.
 */
export const asFloat32 = (x: ScalarOrSchedule): ScalarOrSchedule => (typeof x === 'number' ? toFloat32(x) : (k: number) => toFloat32(x(k)))

/** A chain typed as an Optimizer. */
export const optimizer = (...transforms: AnyTransformation[]): Optimizer => chain(...transforms) as unknown as Optimizer

/**
 * A chain typed as an Optimizer that carries its identity: the optimizer's name and its resolved
 * options (defaults and convention included), which `saveState` records so that `loadState`
 * refuses another optimizer's state and reports changed hyperparameters.
 */
export const namedOptimizer = (name: string, options: object, ...transforms: AnyTransformation[]): Optimizer => withIdentity(optimizer(...transforms), name, options)

/** Momentum (β rounded to float32, as the frameworks' kernels take it) when β > 0 or Nesterov is asked for, else the identity (no buffer). */
export const momentumOrIdentity = (momentum: number, nesterov: boolean): AnyTransformation =>
  momentum > 0 || nesterov ? trace({ decay: Math.fround(momentum) < 1 ? Math.fround(momentum) : momentum, nesterov }) : identity()

/** Rejects an option a convention does not have. */
export const unavailable = (optimizer: string, field: string, value: unknown, why: string): never => {
  throw new HyperparameterError(optimizer, field, value, why)
}

/** Refuses a non-default `value` of `field` in a convention outside `allowed` (the ones that have the option). */
export const onlyIn = (optimizer: string, convention: Convention, allowed: readonly Convention[], field: string, value: unknown, byDefault: unknown): void => {
  if (value !== byDefault && !allowed.includes(convention)) {
    const which = allowed.length === 1 ? `the ${allowed[0]} convention has it` : `the ${allowed.join(', ')} conventions have it`
    unavailable(optimizer, field, value, `${JSON.stringify(byDefault)}: only ${which}, not ${convention}`)
  }
}

/**
 * What PyTorch does to the gradient before its optimizers' maths: g ← −g with `maximize`, then
 * g ← g + λθ with `weight_decay` λ (coupled L2, not AdamW's decoupled decay). Empty when neither is
 * asked for, so the chain (and its state) is the plain optimizer's.
 */
export const pytorchGradient = (maximize: boolean, weightDecay: number): AnyTransformation[] => [
  ...(maximize ? [scale(-1)] : []),
  ...(weightDecay > 0 ? [addDecayedWeights({ weightDecay: Math.fround(weightDecay) })] : []),
]
