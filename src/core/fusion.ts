/**
 * @internal How a transformation runs inside a compiled step (`compileStep`): the description of
 * its per-leaf maths that the step compiler fuses with its neighbours. The maths is the same
 * `ElementwiseOp` the transformation's own `update` runs, so fused and unfused steps cannot drift
 * apart; only the wiring (which input is the incoming update, which output a state buffer) and the
 * host part of a step (step counters, schedules, bias corrections) are described here.
 *
 * Reference: the fusion of elementwise chains that XLA performs on Optax's `chain` +
 * `apply_updates` (Babuschkin et al., 2020); JAX's `donate_argnums` for buffer donation.
 */
import type { ElementwiseOp } from '../tensor/tensor.js'
import type { Params, UpdateExtras } from './types.js'

/** What one input of a stage's op reads, per leaf. */
export type StageSource =
  | { readonly from: 'updates' }
  | { readonly from: 'params' }
  | { readonly from: 'buffer'; readonly name: string }
  /** The finished value (a tensor of shape []) of the stage's reduction number `index`. */
  | { readonly from: 'reduction'; readonly index: number }

/** Where one output of a stage's op goes, per leaf. */
export type StageSink = { readonly to: 'updates' } | { readonly to: 'buffer'; readonly name: string }

/**
 * A reduction of the updates a stage receives: Σ u² over every leaf (`global`) or over each leaf
 * (`leaf`), then `finish` (an op from the sum, a tensor of shape [], to the value the stage reads,
 * e.g. a clip factor) when given.
 */
export interface StageReduction {
  readonly scope: 'global' | 'leaf'
  readonly finish?: ElementwiseOp
  /** The scalars of `finish`. */
  readonly finishScalars?: readonly number[]
}

/** The host part of one step of a stage, computed before any device work. */
export interface StageHostStep {
  /** The op's scalars, in `op.scalars` order. */
  readonly scalars: readonly number[]
  /** The new state's fields other than the buffers (step counters). */
  readonly hostState: Readonly<Record<string, unknown>>
  /** Per leaf, in leaf order: whether the stage applies there (a mask). All leaves when absent. */
  readonly active?: readonly boolean[]
}

/** One fusable transformation: an elementwise op per leaf, wired to updates, params and state buffers. */
export interface FusionStage {
  readonly name: string
  readonly op: ElementwiseOp
  /** One entry per `op.inputs`. */
  readonly sources: readonly StageSource[]
  /** One entry per `op.outputs`; exactly one is `updates`. */
  readonly sinks: readonly StageSink[]
  /** The state fields that hold trees shaped like the params (moment buffers). */
  readonly buffers: readonly string[]
  /**
   * Names of op scalars that do not change between steps (β, ε, flags): a compiled kernel inlines
   * their values as literals. They are checked at every step, and a change rebuilds the kernel.
   */
  readonly constants?: readonly string[]
  readonly reductions?: readonly StageReduction[]
  /**
   * Validates the state's host fields (throwing the typed error the unfused `update` throws) and
   * returns the step's scalars and new host fields.
   */
  readonly host: (state: Readonly<Record<string, unknown>>, grads: Params, params: Params | undefined, extra: UpdateExtras | undefined) => StageHostStep
}

/** How a transformation takes part in a compiled step. */
export type FusionSpec =
  | { readonly kind: 'stage'; readonly stage: FusionStage }
  /** Updates pass through; the state is kept as it is. */
  | { readonly kind: 'identity' }
  /** A chain: its members in order, the state the tuple of theirs. */
  | { readonly kind: 'chain'; readonly members: readonly { readonly update: object }[] }

// by the transformation's update function, which `withIdentity` and other copies keep
const specs = new WeakMap<object, FusionSpec>()

/** Registers how the transformation whose update is `update` fuses. */
export const registerFusion = (update: object, spec: FusionSpec): void => {
  specs.set(update, spec)
}

/** How a transformation fuses, or undefined when it runs unfused inside a compiled step. */
export const fusionOf = (transform: { readonly update: object }): FusionSpec | undefined => specs.get(transform.update)
