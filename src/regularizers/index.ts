/**
 * Weight regularizers: a penalty R(w) added to the loss, with its gradient, applied per layer to
 * kernels and biases separately (Keras' kernel_regularizer / bias_regularizer).
 *
 * Convention (Keras'): l2(λ) is λΣw² with gradient 2λw; l1(λ) is λΣ|w| with subgradient λ sign(w);
 * l1l2 is their sum (the elastic net). Seed 001's L2 (λ/2)Σw² is `l2(λ/2)`; seed 002 and 004's
 * elastic net R = β‖w‖² + ‖w‖₁ (scaled by λ) is `l1l2({ l1: λ, l2: λβ })`.
 *
 * References: seed 001_6e8604431cc2cba1.txt ("L2 regularization", "L1 regularization"); seed
 * 002_22903fbb3df79e4c.txt and seed 004_fdd4da4bfe9ce189.txt ("Elastic Net"); Keras `regularizers`.
 */
import { ranges, validate } from '../core/validate.js'
import { elementwise, scope, sum } from '../tensor/ops.js'
import { type Tensor, defineElementwise } from '../tensor/tensor.js'

/** A regularizer: the penalty (shape []) and its gradient with respect to w. */
export type Regularizer = (w: Tensor) => { readonly value: Tensor; readonly grad: Tensor }

const penaltyOp = defineElementwise({
  name: 'regularizer',
  inputs: ['w'],
  scalars: ['l1', 'l2'],
  outputs: ['l1 * Math.abs(w) + l2 * w * w', 'l1 * Math.sign(w) + 2 * l2 * w'],
})

/**
 * The elastic-net penalty l1·Σ|w| + l2·Σw², gradient l1·sign(w) + 2·l2·w.
 *
 * @example
 * ```ts
 * dense(128, { kernelRegularizer: l1l2({ l1: 1e-5, l2: 1e-4 }) })
 * ```
 */
export const l1l2 = (options: { readonly l1?: number; readonly l2?: number }): Regularizer => {
  const { l1, l2 } = validate('l1l2', { l1: ranges.nonNegative, l2: ranges.nonNegative }, options, { l1: 0, l2: 0 })
  return (w) =>
    scope(() => {
      const [v, g] = elementwise(penaltyOp, [w], [l1, l2])
      return { value: sum(v!), grad: g! }
    })
}

/**
 * L1: λΣ|w|, subgradient λ sign(w) (0 at 0).
 *
 * @example
 * ```ts
 * dense(10, { kernelRegularizer: l1(1e-4) })
 * ```
 */
export const l1 = (lambda: number): Regularizer => {
  validate('l1', { lambda: ranges.nonNegative }, { lambda })
  return l1l2({ l1: lambda })
}

/**
 * L2: λΣw², gradient 2λw.
 *
 * @example
 * ```ts
 * dense(10, { kernelRegularizer: l2(1e-4), biasRegularizer: l2(1e-5) })
 * ```
 */
export const l2 = (lambda: number): Regularizer => {
  validate('l2', { lambda: ranges.nonNegative }, { lambda })
  return l1l2({ l2: lambda })
}
