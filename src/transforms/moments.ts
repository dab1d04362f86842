/**
 * Moment-based transformations: `trace` (momentum, Nesterov) and `scaleByAdam`.
 *
 * References: seed 000_33f4fbf331723dec.txt ("SGD with momentum", "SGD with Nesterov momentum",
 * "Adam: Algorithm"); Sutskever et al. 2013; Kingma & Ba 2015; Optax `transforms/_accumulation`
 * and `_adding`/`scale_by_adam`.
 */
import { zerosLikeTree } from '../core/base.js'
import { elementwiseTree, frozen } from '../core/internal.js'
import type { GradientTransformation, Params } from '../core/types.js'
import { ranges, validate } from '../core/validate.js'
import { StructureError } from '../errors.js'
import { defineElementwise } from '../tensor/tensor.js'

const checkCount = (transform: string, count: unknown): number => {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
    throw new StructureError('count', `${transform}: state.count must be an integer ≥ 0, got ${String(count)}`)
  }
  return count
}

/** State of `trace`: the momentum buffer m, shaped like the params. */
export interface TraceState {
  readonly trace: Params
}

/** Options of `trace`. */
export interface TraceOptions {
  /** β, the decay of past contributions, in [0, 1). Default 0.9. */
  readonly decay?: number
  /** Use Nesterov's look-ahead form. Default false. */
  readonly nesterov?: boolean
}

const traceOp = defineElementwise({
  name: 'trace',
  inputs: ['g', 'm'],
  scalars: ['decay'],
  lets: [['m1', 'g + decay * m']],
  outputs: ['m1', 'm1'],
})

const nesterovOp = defineElementwise({
  name: 'traceNesterov',
  inputs: ['g', 'm'],
  scalars: ['decay'],
  lets: [['m1', 'g + decay * m']],
  outputs: ['m1', 'g + decay * m1'],
})

/**
 * Momentum: m ← g + β m, u = m; with `nesterov`, u = g + β m (using the new m).
 *
 * With a learning rate α applied after it, this is the lectures' velocity form v ← βv − αg,
 * θ ← θ + v with v = −αm, exactly while α is constant. The Nesterov form is the lectures' interim
 * update θ̃ = θ + βv, g = ∇J(θ̃) rewritten in terms of the look-ahead point θ̃ (Sutskever et al.
 * 2013; Optax's reformulation): the parameters it carries are θ̃.
 *
 * Defaults: decay = 0.9, nesterov = false. State: `{ trace }`, zeros at init.
 * Reference: seed 000_33f4fbf331723dec.txt, "SGD with momentum" and "SGD with Nesterov momentum".
 *
 * @example
 * ```ts
 * const momentum = chain(trace({ decay: 0.9, nesterov: true }), scaleByLearningRate(0.01))
 * ```
 */
export const trace = (options: TraceOptions = {}): GradientTransformation<TraceState> => {
  const { decay = 0.9, nesterov = false } = options
  validate('trace', { decay: ranges.unitInterval, nesterov: ranges.boolean }, { decay, nesterov })
  const op = nesterov ? nesterovOp : traceOp
  return frozen({
    init: (params: Params) => frozen({ trace: zerosLikeTree(params) }),
    update: (updates: Params, state: TraceState) => {
      const [m, u] = elementwiseTree(op, [['updates', updates], ['state.trace', state.trace]], [decay])
      return [u!, frozen({ trace: m! })] as const
    },
  })
}

/** State of `scaleByAdam`: step count and the first (mu) and second (nu) moment estimates. */
export interface ScaleByAdamState {
  readonly count: number
  readonly mu: Params
  readonly nu: Params
}

/** Options of `scaleByAdam`. */
export interface ScaleByAdamOptions {
  /** β₁, decay of the first moment, in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂, decay of the second moment, in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε added outside the square root, ≥ 0. Default 1e-8. */
  readonly eps?: number
  /** ε added inside the square root (the lectures' δ), ≥ 0. Default 0. */
  readonly epsRoot?: number
}

const adamOp = defineElementwise({
  name: 'scaleByAdam',
  inputs: ['g', 'mu', 'nu'],
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'bc1', 'bc2', 'eps', 'epsRoot'],
  lets: [
    ['mu1', 'b1 * mu + omb1 * g'],
    ['nu1', 'b2 * nu + omb2 * (g * g)'],
  ],
  outputs: ['mu1', 'nu1', '(mu1 / bc1) / (Math.sqrt(nu1 / bc2 + epsRoot) + eps)'],
})

/**
 * Adam's rescaling (without the learning rate):
 *
 *   t ← t + 1,  μ ← β₁μ + (1 − β₁)g,  ν ← β₂ν + (1 − β₂)g⊙g,
 *   μ̂ = μ / (1 − β₁ᵗ),  ν̂ = ν / (1 − β₂ᵗ),  u = μ̂ / (√(ν̂ + ε_root) + ε).
 *
 * The lectures' Adam, θ ← θ − α v̂ / √(r̂ + δ), is eps = 0, epsRoot = δ; Optax's default is
 * eps = 1e-8, epsRoot = 0. 1 − β and the bias corrections are computed on the host in float64.
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0. State: `{ count, mu, nu }`.
 * Reference: seed 000_33f4fbf331723dec.txt, "Adam: Algorithm"; Kingma & Ba 2015, Algorithm 1.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByAdam({ b2: 0.99 }), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByAdam = (options: ScaleByAdamOptions = {}): GradientTransformation<ScaleByAdamState> => {
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0 } = options
  validate(
    'scaleByAdam',
    { b1: ranges.unitInterval, b2: ranges.unitInterval, eps: ranges.nonNegative, epsRoot: ranges.nonNegative },
    { b1, b2, eps, epsRoot },
  )
  return frozen({
    init: (params: Params) => frozen({ count: 0, mu: zerosLikeTree(params), nu: zerosLikeTree(params) }),
    update: (updates: Params, state: ScaleByAdamState) => {
      const count = checkCount('scaleByAdam', state.count) + 1
      const scalars = [b1, 1 - b1, b2, 1 - b2, 1 - b1 ** count, 1 - b2 ** count, eps, epsRoot]
      const [mu, nu, u] = elementwiseTree(
        adamOp,
        [['updates', updates], ['state.mu', state.mu], ['state.nu', state.nu]],
        scalars,
      )
      return [u!, frozen({ count, mu: mu!, nu: nu! })] as const
    },
  })
}
