/**
 * Clipping: by value, by norm (per leaf and global), by block RMS, and adaptive (unit-wise) clipping.
 *
 * References: seed 002_22903fbb3df79e4c.txt, "Gradient Clipping by value" and "by norm" (clipping by
 * value changes the direction, clipping by norm preserves it); Pascanu et al. 2013; Brock et al. 2021
 * (adaptive gradient clipping); Optax `transforms/_clipping`.
 */
import { leafRows, mapLeaves, requireParams, statelessTransformation } from '../core/internal.js'
import type { EmptyState, GradientTransformation, Params } from '../core/types.js'
import { isPlainObject, ranges, validate } from '../core/validate.js'
import { HyperparameterError, ShapeError } from '../errors.js'
import { add, elementwise, scope, sumOfSquares, sumTo } from '../tensor/ops.js'
import { type Tensor, defineElementwise } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import { emptyLeaf, nanUnlessFinite } from './accumulator.js'


const clipValueOp = defineElementwise({
  name: 'clipByValue',
  inputs: ['g'],
  scalars: ['lo', 'hi'],
  outputs: ['g > hi ? hi : (g < lo ? lo : g)'],
})

/** Options of `clip`: the lectures' thresholds, min ≤ max. */
export interface ClipOptions {
  /** β, the lower threshold. */
  readonly min: number
  /** α, the upper threshold. */
  readonly max: number
}

/** min and max from `clip`'s argument: a number δ ≥ 0 is [−δ, δ]. */
const clipBounds = (bounds: unknown): { readonly min: number; readonly max: number } => {
  if (typeof bounds === 'number') {
    const { maxDelta } = validate('clip', { maxDelta: ranges.nonNegative }, { maxDelta: bounds })
    return { min: -maxDelta, max: maxDelta }
  }
  if (!isPlainObject(bounds)) throw new HyperparameterError('clip', 'bounds', bounds, 'a number ≥ 0 (clip to [−δ, δ]) or a plain object { min, max }')
  return validate('clip', { min: ranges.finite, max: ranges.finite }, bounds)
}

/**
 * Clipping by value, elementwise: gᵢ ← α if gᵢ > α, β if gᵢ < β (β ≤ α). `clip(δ)` is
 * `clip({ min: −δ, max: δ })` (Optax's `clip(max_delta)`). It changes the direction of g.
 *
 * Reference: seed 002_22903fbb3df79e4c.txt, "Gradient Clipping by value".
 *
 * @example
 * ```ts
 * clip(1)                       // to [−1, 1]
 * clip({ min: -0.5, max: 2 })   // the lectures' β and α
 * ```
 */
export const clip = (bounds: number | ClipOptions): GradientTransformation<EmptyState> => {
  const { min, max } = clipBounds(bounds)
  if (min > max) throw new HyperparameterError('clip', 'max', max, `a number ≥ min (${min})`)
  return statelessTransformation('clip', (updates) => mapLeaves([['updates', updates]], 1, ([g], path) => elementwise(clipValueOp, [g!], [min, max], path))[0]!, {
    fusion: {
      kind: 'stage',
      stage: { name: 'clip', op: clipValueOp, sources: [{ from: 'updates' }], sinks: [{ to: 'updates' }], buffers: [], constants: ['lo', 'hi'], host: () => ({ scalars: [min, max], hostState: {} }) },
    },
  })
}

const sqrtOp = defineElementwise({ name: 'sqrt', inputs: ['x'], outputs: ['Math.sqrt(x)'] })

/** ‖t‖₂ as a tensor of shape []. */
export const l2Norm = (t: Tensor, path = ''): Tensor => scope(() => elementwise(sqrtOp, [sumOfSquares(t)], [], path)[0]!)

/** The global norm √(Σ over leaves of ‖leaf‖²), a tensor of shape [] on the leaves' backend. */
export const globalNorm = (t: Params): Tensor =>
  scope(() => {
    const parts = tree.leaves(t).map((x) => sumOfSquares(x))
    if (parts.length === 0) throw new ShapeError('', 'globalNorm of a tree without leaves')
    const total = parts.slice(1).reduce((acc, p) => add(acc, p), parts[0]!)
    return elementwise(sqrtOp, [total])[0]!
  })

// The clip factor from Σg²: v / n where n = √Σg² > v, else 1. A norm that is NaN leaves g (and its
// NaN) as it is (factor 1); an infinite one (±∞ in g, or a float32 overflow of ‖g‖²) makes the leaf
// NaN rather than the zeros g/∞ would give (docs/nonfinite.md). Computed once per norm, so the
// per-element work is one multiplication.
const clipFactorOp = defineElementwise({
  name: 'clipFactor',
  inputs: ['ss'],
  scalars: ['v'],
  lets: [['n', 'Math.sqrt(ss)']],
  outputs: [`n > v ? ${nanUnlessFinite('n', 'v / n')} : 1`],
})
const clipScaleOp = defineElementwise({ name: 'clipByNorm', inputs: ['g', 'f'], outputs: ['g * f'] })

/** Σ over leaves of ‖leaf‖², summed in leaf order, a tensor of shape []. */
const globalSumOfSquares = (t: Params): Tensor =>
  scope(() => {
    const parts = tree.leaves(t).map((x) => sumOfSquares(x))
    if (parts.length === 0) throw new ShapeError('', 'globalNorm of a tree without leaves')
    return parts.slice(1).reduce((acc, p) => add(acc, p), parts[0]!)
  })

/**
 * Clipping by norm, per leaf: if ‖g‖ > v then g ← (g / ‖g‖) v. The direction is preserved and the
 * leaf's norm becomes at most v.
 *
 * Reference: seed 002_22903fbb3df79e4c.txt, "Gradient Clipping by norm"; Keras `clipnorm`.
 *
 * @example
 * ```ts
 * const opt = chain(clipByNorm(1), sgd({ learningRate: 0.1 }))
 * ```
 */
export const clipByNorm = (maxNorm: number): GradientTransformation<EmptyState> => {
  const { maxNorm: v } = validate('clipByNorm', { maxNorm: ranges.nonNegative }, { maxNorm })
  return statelessTransformation('clipByNorm', (updates) =>
    mapLeaves([['updates', updates]], 1, ([g], path) =>
      g!.size === 0 ? [emptyLeaf(g!)] : scope(() => elementwise(clipScaleOp, [g!, elementwise(clipFactorOp, [sumOfSquares(g!)], [v], path)[0]!], [], path)),
    )[0]!,
  { fusion: normClipStage('clipByNorm', 'leaf', v) })
}

/**
 * Clipping by global norm: with n = √(Σ‖gᵢ‖²) over all leaves, g ← (g / n) v when n > v. Every
 * leaf is scaled by the same factor, so the direction of the whole update is preserved.
 *
 * Reference: Pascanu et al. 2013; Optax `clip_by_global_norm`; seed 002 "Gradient Clipping by norm".
 *
 * @example
 * ```ts
 * const opt = chain(clipByGlobalNorm(1), adam({ learningRate: 1e-3 }))
 * ```
 */
export const clipByGlobalNorm = (maxNorm: number): GradientTransformation<EmptyState> => {
  const { maxNorm: v } = validate('clipByGlobalNorm', { maxNorm: ranges.nonNegative }, { maxNorm })
  return statelessTransformation('clipByGlobalNorm', (updates) => {
    const { rows } = leafRows([['updates', updates]])
    if (rows.length === 0) return updates
    return scope(() => {
      const f = elementwise(clipFactorOp, [globalSumOfSquares(updates)], [v])[0]!
      return mapLeaves([['updates', updates]], 1, ([g], path) => (g!.size === 0 ? [emptyLeaf(g!)] : elementwise(clipScaleOp, [g!, f], [], path)))[0]!
    })
  }, { fusion: normClipStage('clipByGlobalNorm', 'global', v) })
}

/** The fused form of clipping by a norm of the incoming updates: a Σu² reduction, √, then `clipNormOp`. */
const normClipStage = (name: string, scope: 'global' | 'leaf', v: number) =>
  ({
    kind: 'stage',
    stage: {
      name,
      op: clipScaleOp,
      sources: [{ from: 'updates' }, { from: 'reduction', index: 0 }],
      sinks: [{ to: 'updates' }],
      buffers: [],
      reductions: [{ scope, finish: clipFactorOp, finishScalars: [v] }],
      host: () => ({ scalars: [], hostState: {} }),
    },
  }) as const

const blockRmsOp = defineElementwise({
  name: 'clipByBlockRms',
  inputs: ['g', 'ss'],
  scalars: ['invSize', 'threshold'],
  // an infinite ‖g‖² gives NaN, not the zeros g/∞ would; a tiny threshold still scales to 0
  outputs: [nanUnlessFinite('ss', 'g / Math.max(1, Math.sqrt(ss * invSize) / threshold)')],
})

/**
 * Clipping by block RMS, per leaf: g ← g / max(1, rms(g) / τ) with rms(g) = √(mean(g²)).
 *
 * Reference: Optax `clip_by_block_rms`.
 *
 * @example
 * ```ts
 * clipByBlockRms(1)
 * ```
 */
export const clipByBlockRms = (threshold: number): GradientTransformation<EmptyState> => {
  const { threshold: tau } = validate('clipByBlockRms', { threshold: ranges.positive }, { threshold })
  return statelessTransformation('clipByBlockRms', (updates) =>
    mapLeaves([['updates', updates]], 1, ([g], path) =>
      g!.size === 0 ? [emptyLeaf(g!)] : scope(() => elementwise(blockRmsOp, [g!, sumOfSquares(g!)], [1 / g!.size, tau], path)),
    )[0]!,
  )
}

/** The shape unit-wise norms reduce to (Optax's `unitwise_norm`), or a ShapeError. */
const unitShape = (shape: readonly number[], path: string): readonly number[] => {
  if (shape.filter((d) => d !== 1).length <= 1) return []
  if (shape.length === 2 || shape.length === 3) return shape.slice(1)
  if (shape.length === 4) return shape.slice(3)
  throw new ShapeError(path, `adaptiveGradClip supports tensors of rank ≤ 4, got [${shape.join(', ')}]`)
}

const squareOp = defineElementwise({ name: 'square', inputs: ['x'], outputs: ['x * x'] })

const unitNorm = (t: Tensor, path: string): Tensor =>
  scope(() => {
    const sq = elementwise(squareOp, [t], [], path)[0]!
    return elementwise(sqrtOp, [sumTo(sq, unitShape(t.shape, path), path)], [], path)[0]!
  })

const agcOp = defineElementwise({
  name: 'adaptiveGradClip',
  inputs: ['g', 'gn', 'pn'],
  scalars: ['clipping', 'eps'],
  lets: [['maxNorm', 'Math.max(pn, eps) * clipping']],
  outputs: [`gn < maxNorm ? g : ${nanUnlessFinite('gn', 'g * (maxNorm / Math.max(gn, 0.000001))')}`],
})

/** Options of `adaptiveGradClip`. */
export interface AdaptiveGradClipOptions {
  /** λ, the maximum ratio of update norm to parameter norm. Default 0.01. */
  readonly clipping?: number
  /** Lower bound of the parameter norm. Default 1e-3. */
  readonly eps?: number
}

/**
 * Adaptive gradient clipping, unit-wise: with ‖·‖ᵤ the norm per output unit (over all axes but the
 * last for matrices and rank-3 tensors, over the first three axes for rank-4 kernels, whole for
 * vectors), g ← g · λ max(‖θ‖ᵤ, ε) / max(‖g‖ᵤ, 1e-6) where ‖g‖ᵤ ≥ λ max(‖θ‖ᵤ, ε). Needs the params.
 *
 * Defaults: clipping = 0.01, eps = 1e-3.
 * Reference: Brock et al. 2021, "High-Performance Large-Scale Image Recognition Without
 * Normalization"; Optax `adaptive_grad_clip`.
 *
 * @example
 * ```ts
 * const opt = chain(adaptiveGradClip({ clipping: 0.05 }), sgd({ learningRate: 0.1, momentum: 0.9 }))
 * ```
 */
export const adaptiveGradClip = (options: AdaptiveGradClipOptions = {}): GradientTransformation<EmptyState> => {
  const { clipping, eps } = validate(
    'adaptiveGradClip',
    { clipping: ranges.nonNegative, eps: ranges.nonNegative },
    options,
    { clipping: 0.01, eps: 1e-3 },
  )
  return statelessTransformation('adaptiveGradClip', (updates, params) => {
    const named = [['updates', updates], ['params', requireParams('adaptiveGradClip', params)]] as const
    const { rows, paths } = leafRows(named)
    rows.forEach((row, j) => unitShape(row[0]!.shape, paths[j]!))
    return mapLeaves(named, 1, ([g, p], path) =>
      g!.size === 0 ? [emptyLeaf(g!)] : scope(() => elementwise(agcOp, [g!, unitNorm(g!, path), unitNorm(p!, path)], [clipping, eps], path)),
    )[0]!
  }, { needsParams: true })
}

