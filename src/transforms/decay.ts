/**
 * Decay and penalties added to the updates: weight decay (L2), the L1 subgradient, elastic net.
 * Each takes an optional mask; masked-out leaves pass through unchanged.
 *
 * References: seed 001_6e8604431cc2cba1.txt ("L2 regularization": w ← w − η(∇L + λw), "weight
 * decay"; "L1": w ← w − η(∇L + λ w/|w|)); seed 002_22903fbb3df79e4c.txt and seed
 * 004_fdd4da4bfe9ce189.txt (elastic net R(w) = β‖w‖² + ‖w‖₁); Loshchilov & Hutter 2019 (decoupled
 * weight decay); Optax `add_decayed_weights`.
 */
import { checkCount, frozen, mapLeaves, requireParams, transformation } from '../core/internal.js'
import { type Mask, maskCodec, maskLeaves } from '../core/mask.js'
import type { GradientTransformation, Params, ScalarOrSchedule } from '../core/types.js'
import { evaluate, nonNegativeOrSchedule, validate } from '../core/validate.js'
import { elementwise } from '../tensor/ops.js'
import { defineElementwise } from '../tensor/tensor.js'
import { countStateCodec } from './scaling.js'

/** State of the decay transforms: the step count (for schedules). */
export interface DecayState {
  readonly count: number
}


const penaltyOp = defineElementwise({
  name: 'addPenalty',
  inputs: ['g', 'p'],
  scalars: ['l1', 'l2'],
  outputs: ['g + l1 * Math.sign(p) + l2 * p'],
})

// penaltyOp with l1 = 0: the same value (0 · sign(θ) = 0 for every finite θ), without the sign
const l2Op = defineElementwise({ name: 'addL2Penalty', inputs: ['g', 'p'], scalars: ['l2'], outputs: ['g + l2 * p'] })

/**
 * One transform adding l1·sign(θ) + l2·θ to the masked leaves; l1, l2 numbers or schedules, each
 * with the option name its errors use.
 */
const penalty = (
  transform: string,
  [l1Field, l1]: readonly [string, ScalarOrSchedule],
  [l2Field, l2]: readonly [string, ScalarOrSchedule],
  mask: Mask | undefined,
): GradientTransformation<DecayState> => {
  // l1 = 0 (weight decay) is specialised: no sign(θ) per element (the same values: 0 · sign(θ) = 0
  // for finite θ, and an infinite or NaN θ makes l2 · θ infinite or NaN either way)
  const noL1 = typeof l1 === 'number' && l1 === 0
  return transformation(transform, {
    init: () => frozen({ count: 0 }),
    update: (updates: Params, state: DecayState, params?: Params) => {
      const count = checkCount(transform, state.count)
      const p = requireParams(transform, params)
      const a = evaluate(transform, l1Field, l1, count)
      const b = evaluate(transform, l2Field, l2, count)
      const on = maskLeaves(transform, mask, updates, p)
      const [u] = mapLeaves([['updates', updates], ['params', p]], 1, ([g, w], path, j) =>
        on[j] ? (noL1 ? elementwise(l2Op, [g!, w!], [b], path) : elementwise(penaltyOp, [g!, w!], [a, b], path)) : [g!],
      )
      return [u!, frozen({ count: count + 1 })] as const
    },
    stateCodec: countStateCodec,
  }, {
    needsParams: true,
    fusion: {
      kind: 'stage',
      stage: {
        name: transform,
        op: noL1 ? l2Op : penaltyOp,
        sources: [{ from: 'updates' }, { from: 'params' }],
        sinks: [{ to: 'updates' }],
        buffers: [],
        constants: [...(typeof l1 === 'number' && l1 !== 0 ? ['l1'] : []), ...(typeof l2 === 'number' ? ['l2'] : [])],
        host: (state, grads, params) => {
          const count = checkCount(transform, state.count)
          const p = requireParams(transform, params)
          const a = evaluate(transform, l1Field, l1, count)
          const b = evaluate(transform, l2Field, l2, count)
          const active = maskLeaves(transform, mask, grads, p)
          return { scalars: noL1 ? [b] : [a, b], hostState: { count: count + 1 }, active }
        },
      },
    },
  })
}

/** Options of `addDecayedWeights`. */
export interface AddDecayedWeightsOptions {
  /** λ ≥ 0, a number or a schedule. Default 0. */
  readonly weightDecay?: ScalarOrSchedule
  /** Which leaves to decay (default all); e.g. `(p) => tree.map((x: Tensor) => x.shape.length > 1)(p)`. */
  readonly mask?: Mask
}

/**
 * Weight decay: u = g + λθ, the gradient of the L2 penalty (λ/2)‖θ‖². Chained before the learning
 * rate this is L2 regularization (w ← (1 − λη)w − η∇L); chained after an adaptive scaling it is
 * decoupled weight decay (AdamW). Masked-out leaves pass through unchanged. Needs the params.
 *
 * Defaults: weightDecay = 0, no mask (every leaf).
 * Reference: seed 001_6e8604431cc2cba1.txt, "L2 regularization" / "weight decay"; Optax
 * `add_decayed_weights`.
 *
 * @example
 * ```ts
 * const noBiasDecay = addDecayedWeights({ weightDecay: 1e-4, mask: (p) => tree.map((x: Tensor) => x.shape.length > 1)(p) })
 * ```
 */
export const addDecayedWeights = (options: AddDecayedWeightsOptions = {}): GradientTransformation<DecayState> => {
  const { weightDecay, mask } = validate('addDecayedWeights', { weightDecay: nonNegativeOrSchedule, mask: maskCodec }, options, { weightDecay: 0 })
  return penalty('addDecayedWeights', ['l1', 0], ['weightDecay', weightDecay], mask)
}

/** Options of `addL1Penalty`. */
export interface AddL1PenaltyOptions {
  /** λ ≥ 0, a number or a schedule. Required. */
  readonly l1: ScalarOrSchedule
  /** Which leaves to penalise (default all). */
  readonly mask?: Mask
}

/**
 * The L1 subgradient: u = g + λ sign(θ), with sign(0) = 0 (the lectures' λ w/|w|, taken as 0 at 0).
 * Drives small weights to exactly zero (sparsity). Needs the params.
 *
 * Reference: seed 001_6e8604431cc2cba1.txt, "L1 regularization".
 *
 * @example
 * ```ts
 * const opt = chain(addL1Penalty({ l1: 1e-4 }), sgd({ learningRate: 0.1 }))
 * ```
 */
export const addL1Penalty = (options: AddL1PenaltyOptions): GradientTransformation<DecayState> => {
  const { l1, mask } = validate('addL1Penalty', { l1: nonNegativeOrSchedule, mask: maskCodec }, options)
  return penalty('addL1Penalty', ['l1', l1], ['l2', 0], mask)
}

/** Options of `addElasticNet`. */
export interface AddElasticNetOptions {
  /** λ₁ ≥ 0, weight of ‖θ‖₁. */
  readonly l1: ScalarOrSchedule
  /** λ₂ ≥ 0, weight of (1/2)‖θ‖². */
  readonly l2: ScalarOrSchedule
  /** Which leaves to penalise (default all). */
  readonly mask?: Mask
}

/**
 * Elastic net: the subgradient of λ₁‖θ‖₁ + (λ₂/2)‖θ‖², u = g + λ₁ sign(θ) + λ₂ θ. The lectures'
 * R(w) = β‖w‖² + ‖w‖₁ (scaled by λ) is `{ l1: λ, l2: 2λβ }`. Needs the params.
 *
 * Reference: seed 002_22903fbb3df79e4c.txt and seed 004_fdd4da4bfe9ce189.txt, "Elastic Net".
 *
 * @example
 * ```ts
 * addElasticNet({ l1: 1e-5, l2: 1e-4 })
 * ```
 */
export const addElasticNet = (options: AddElasticNetOptions): GradientTransformation<DecayState> => {
  const { l1, l2, mask } = validate('addElasticNet', { l1: nonNegativeOrSchedule, l2: nonNegativeOrSchedule, mask: maskCodec }, options)
  return penalty('addElasticNet', ['l1', l1], ['l2', l2], mask)
}
