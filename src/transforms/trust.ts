/**
 * Layer-wise trust ratio (LAMB, LARS).
 *
 * References: You et al. 2017 (LARS, "Large Batch Training of Convolutional Networks"); You et al.
 * 2020 (LAMB, "Large Batch Optimization for Deep Learning"); Optax `scale_by_trust_ratio`.
 */
import { mapLeaves, requireParams, statelessTransformation } from '../core/internal.js'
import { type Mask, maskCodec, maskLeaves } from '../core/mask.js'
import type { EmptyState, GradientTransformation } from '../core/types.js'
import { ranges, validate } from '../core/validate.js'
import { elementwise, scope } from '../tensor/ops.js'
import { defineElementwise } from '../tensor/tensor.js'
import { emptyLeaf, nanUnlessFinite } from './accumulator.js'
import { l2Norm } from './clipping.js'

/** Options of `scaleByTrustRatio`. */
export interface ScaleByTrustRatioOptions {
  /** Norms below this are raised to it. Default 0. */
  readonly minNorm?: number
  /** η, the trust coefficient. Default 1. */
  readonly trustCoefficient?: number
  /** ε added to the update norm. Default 0. */
  readonly eps?: number
  /** Leaves to scale (default all); the others pass through unchanged. */
  readonly mask?: Mask
}

const trustOp = defineElementwise({
  name: 'scaleByTrustRatio',
  inputs: ['u', 'pn', 'un'],
  scalars: ['minNorm', 'coef', 'eps'],
  lets: [
    ['pN', 'Math.max(pn, minNorm)'],
    ['uN', 'Math.max(un, minNorm)'],
  ],
  // NaN norms fail both tests and reach the ratio; an infinite ‖u‖ makes the leaf NaN, not u·0
  outputs: [`(pN <= 0 || uN <= 0) ? u : ${nanUnlessFinite('un', 'u * ((coef * pN) / (uN + eps))')}`],
})

/**
 * Per leaf, u ← u · η‖θ‖ / (‖u‖ + ε), with norms raised to `minNorm` and the ratio 1 when either
 * norm is 0. Needs the params.
 *
 * Defaults: minNorm = 0, trustCoefficient = 1, eps = 0.
 * Reference: You et al. 2020 (LAMB); Optax `scale_by_trust_ratio`.
 *
 * @example
 * ```ts
 * const lambLike = chain(scaleByAdam(), scaleByTrustRatio(), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByTrustRatio = (options: ScaleByTrustRatioOptions = {}): GradientTransformation<EmptyState> => {
  const { minNorm, trustCoefficient, eps, mask } = validate(
    'scaleByTrustRatio',
    { minNorm: ranges.nonNegative, trustCoefficient: ranges.nonNegative, eps: ranges.nonNegative, mask: maskCodec },
    options,
    { minNorm: 0, trustCoefficient: 1, eps: 0 },
  )
  return statelessTransformation('scaleByTrustRatio', (updates, params) => {
    const p = requireParams('scaleByTrustRatio', params)
    const on = maskLeaves('scaleByTrustRatio', mask, updates, p)
    return mapLeaves([['updates', updates], ['params', p]], 1, ([g, w], path, j) =>
      !on[j] ? [g!] : g!.size === 0 ? [emptyLeaf(g!)] : scope(() => elementwise(trustOp, [g!, l2Norm(w!, path), l2Norm(g!, path)], [minNorm, trustCoefficient, eps], path)),
    )[0]!
  }, { needsParams: true })
}
