/**
 * Gradient surgery: `scaleGradient` (a layer that is the identity forward and scales the gradient
 * flowing back through it), `normalizeByUpdateNorm` (updates of a fixed global norm), and the
 * step-skipping wrappers `skipLargeUpdates` and `skipNotFinite`.
 *
 * References: Optax 0.2.8 `optax/_src/utils.py` (`scale_gradient`), `optax/_src/transform.py`
 * (`normalize_by_update_norm`), `optax/transforms/_accumulation.py` (`skip_large_updates`,
 * `skip_not_finite`, the `should_skip_update_fn` of `MultiSteps`); Ganin & Lempitsky 2015 (the
 * gradient reversal layer).
 */
import * as t from 'io-ts'
import { zerosLikeTree } from '../core/base.js'
import { frozen, leafRows, mapLeaves, paramsNeededBy, statelessTransformation, transformation } from '../core/internal.js'
import { paramsCodec } from '../core/state.js'
import type { EmptyState, GradientTransformation, Params, UpdateExtras } from '../core/types.js'
import { ranges, validate } from '../core/validate.js'
import { StructureError, UnsupportedError } from '../errors.js'
import type { Layer } from '../layers/layer.js'
import { cpu } from '../tensor/cpu.js'
import { add, elementwise, scope, sumOfSquares } from '../tensor/ops.js'
import { Tensor, defineElementwise } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import type { Tree } from '../tree/index.js'
import { emptyLeaf, nanUnlessFinite, zeroWhereNoGradient } from './accumulator.js'
import { type ApplyIfFiniteState, applyIfFinite } from './wrappers.js'

const f32 = Math.fround

type Empty = Readonly<Record<string, never>>
const empty: Empty = Object.freeze({})

// ---- scaleGradient -----------------------------------------------------------------------------

const scaleGradientOp = defineElementwise({ name: 'scaleGradient', inputs: ['dy'], scalars: ['s'], outputs: ['dy * s'] })

/**
 * A layer that is the identity forward and multiplies the gradient flowing back through it by
 * `scale`: y = x, ∂L/∂x = scale · ∂L/∂y. The layers before it in a `sequential` then receive
 * scale times their true gradient; the layers after it are unaffected. `scaleGradient(-1)` is the
 * gradient reversal layer of domain-adversarial training (Ganin & Lempitsky 2015), `scaleGradient(0)`
 * stops the gradient (∂L/∂x = 0 exactly, as `jax.lax.stop_gradient`, whatever ∂L/∂y holds) and
 * `scaleGradient(1)` passes ∂L/∂y through as it is.
 *
 * Why a layer: Optax's `scale_gradient(inputs, scale)` is a custom-VJP identity placed in a JAX
 * forward computation, and fluxion's forward computations with a backward pass are its layers
 * (src/layers/layer.ts). Scaling the updates of a gradient transformation is `scale(s)`, which
 * already exists: on a whole model both are the same, so this layer is only useful between layers.
 *
 * `scale` is any finite number. The layer has no params and no state.
 * Reference: Optax `scale_gradient` (optax/_src/utils.py); Ganin & Lempitsky 2015, "Unsupervised
 * Domain Adaptation by Backpropagation".
 *
 * @example
 * ```ts
 * // a domain classifier trained through a reversed gradient: the encoder learns features it cannot use
 * const model = sequential([dense(32), relu(), scaleGradient(-1), dense(2)])
 * const { params, state } = model.init(key(0), [8])
 * ```
 */
export const scaleGradient = (scale: number): Layer<Empty, Empty> => {
  const { scale: s } = validate('scaleGradient', { scale: ranges.finite }, { scale })
  const name = `scaleGradient(${s})`
  const back = (dy: Tensor): Tensor => (s === 1 ? dy : s === 0 ? dy.backend.fill(dy.shape, 0) : elementwise(scaleGradientOp, [dy], [f32(s)], name)[0]!)
  const layer: Layer<Empty, Empty> = {
    name,
    init: (_key, inputShape) => ({ params: empty, state: empty, outputShape: inputShape }),
    apply: (params, state, x) => ({ y: x, state, backward: (dy) => ({ dx: back(dy), dparams: params }) }),
  }
  return Object.freeze(layer)
}

// ---- normalizeByUpdateNorm ---------------------------------------------------------------------

/** Options of `normalizeByUpdateNorm`. */
export interface NormalizeByUpdateNormOptions {
  /** s, the norm the updates get (any finite number; negative for descent). Default 1. */
  readonly scaleFactor?: number
  /** ε ≥ 0 added to the norm. Default 1e-6. */
  readonly eps?: number
}

// The factor s / (‖g‖ + ε) from Σg² (a tensor of shape []): NaN where ‖g‖² is NaN or infinite
// (an overflowed norm is not divided away into zeros), 0 where the updates are all 0 and ε = 0
const normalizeFactorOp = defineElementwise({
  name: 'normalizeByUpdateNormFactor',
  inputs: ['ss'],
  scalars: ['eps', 's'],
  lets: [['den', 'Math.sqrt(ss) + eps']],
  outputs: [zeroWhereNoGradient('den', nanUnlessFinite('ss', 's / den'))],
})
const normalizeScaleOp = defineElementwise({ name: 'normalizeByUpdateNorm', inputs: ['g', 'f'], outputs: ['g * f'] })

/** Σ over the leaves of ‖leaf‖², in leaf order, a tensor of shape [] (the leaves are not empty). */
const sumOfSquaresOf = (leaves: readonly Tensor[]): Tensor =>
  scope(() => {
    const parts = leaves.filter((x) => x.size > 0).map((x) => sumOfSquares(x))
    return parts.length === 0 ? leaves[0]!.backend.fill([], 0) : parts.slice(1).reduce((acc, p) => add(acc, p), parts[0]!)
  })

/**
 * Scales the updates to a fixed global norm: with ‖g‖ = √(Σ over leaves of ‖gᵢ‖²),
 *
 *   u = s · g / (‖g‖ + ε).
 *
 * Every leaf is scaled by the same factor, so the direction of the whole update is kept and only
 * its length is set (to about |s|): normalized gradient descent, θ ← θ − η g/‖g‖, is
 * `normalizeByUpdateNorm({ scaleFactor: -η })`. Stateless.
 *
 * Non-finite values (docs/nonfinite.md): an infinite or NaN ‖g‖² (a ±∞ or NaN entry, or a float32
 * overflow of the squares) makes the whole tree NaN rather than the zeros g/∞ would give; with
 * ε = 0 an all-zero update stays 0 (Optax gives 0/0 = NaN there). fluxion multiplies by
 * s/(‖g‖ + ε) where Optax divides by (‖g‖ + ε)/s: the same number within a float32 rounding.
 *
 * Defaults: scaleFactor = 1, eps = 1e-6 (Optax's).
 * Reference: Optax `normalize_by_update_norm` (optax/_src/transform.py); Nesterov 1984 / Hazan,
 * Levy & Shalev-Shwartz 2015 ("Beyond Convexity: Stochastic Quasi-Convex Optimization",
 * normalized gradient descent).
 *
 * @example
 * ```ts
 * // normalized gradient descent: every step has length 0.1
 * const ngd = normalizeByUpdateNorm({ scaleFactor: -0.1 })
 * ```
 */
export const normalizeByUpdateNorm = (options: NormalizeByUpdateNormOptions = {}): GradientTransformation<EmptyState> => {
  const { scaleFactor, eps } = validate('normalizeByUpdateNorm', { scaleFactor: ranges.finite, eps: ranges.nonNegative }, options, { scaleFactor: 1, eps: 1e-6 })
  const scalars = [f32(eps), f32(scaleFactor)]
  return statelessTransformation(
    'normalizeByUpdateNorm',
    (updates) => {
      const { rows } = leafRows([['updates', updates]])
      if (rows.length === 0) return updates
      return scope(() => {
        const factor = elementwise(normalizeFactorOp, [sumOfSquaresOf(rows.map(([g]) => g!))], scalars)[0]!
        return mapLeaves([['updates', updates]], 1, ([g], path) => (g!.size === 0 ? [emptyLeaf(g!)] : elementwise(normalizeScaleOp, [g!, factor], [], path)))[0]!
      })
    },
    {
      fusion: {
        kind: 'stage',
        stage: {
          name: 'normalizeByUpdateNorm',
          op: normalizeScaleOp,
          sources: [{ from: 'updates' }, { from: 'reduction', index: 0 }],
          sinks: [{ to: 'updates' }],
          buffers: [],
          reductions: [{ scope: 'global', finish: normalizeFactorOp, finishScalars: scalars }],
          host: () => ({ scalars: [], hostState: {} }),
        },
      },
    },
  )
}

// ---- skipLargeUpdates, skipNotFinite -------------------------------------------------------------

/** State of `skipLargeUpdates`: what the last step measured (Optax's `skip_state`), a count, and the inner state. */
export interface SkipLargeUpdatesState<S> {
  /** 1 if the last step was skipped, else 0 (shape []; Optax's `should_skip`). */
  readonly shouldSkip: Tensor
  /** ‖g‖² of the last step's incoming updates (shape []; Optax's `norm_squared`). */
  readonly normSquared: Tensor
  /** The steps skipped so far (shape []). */
  readonly totalSkipped: Tensor
  readonly inner: S
}

/** Options of `skipLargeUpdates`. */
export interface SkipLargeUpdatesOptions {
  /** The largest accepted squared global norm of the incoming updates, > 0. Required. */
  readonly maxSquaredNorm: number
}

const skipFlagOp = defineElementwise({
  name: 'skipLargeUpdates',
  inputs: ['ss', 'total'],
  scalars: ['maxSq'],
  // a NaN ‖g‖² fails the comparison and is skipped, as in Optax (`logical_not(norm_sq < max)`)
  lets: [['skip', 'ss < maxSq ? 0 : 1']],
  outputs: ['skip', 'total + skip'],
})
const keepIfOp = defineElementwise({ name: 'skipSelect', inputs: ['skip', 'old', 'next'], outputs: ['skip > 0 ? old : next'] })
const zeroIfOp = defineElementwise({ name: 'skipZero', inputs: ['skip', 'u'], outputs: ['skip > 0 ? 0 : u'] })

const innerCodec = (x: GradientTransformation<unknown>): t.Mixed => x.stateCodec ?? t.unknown

/**
 * Skips the steps whose incoming updates are too large: with ‖g‖² = Σ over leaves of ‖gᵢ‖² of the
 * updates this wrapper receives, a step with ‖g‖² ≥ `maxSquaredNorm` (or a NaN ‖g‖²) returns zero
 * updates and leaves the inner state as it was, as if it never happened; the other steps are
 * `inner`'s. A guard against loss spikes and corrupted batches. The state records, for the last
 * step, `shouldSkip` and `normSquared` (Optax's skip state), and `totalSkipped` counts the skips.
 *
 * In Optax, `skip_large_updates` is a `should_skip_update_fn` for `MultiSteps`; fluxion's
 * `skipLargeUpdates(inner, …)` is Optax's `MultiSteps(inner, every_k_schedule=1,
 * should_skip_update_fn=partial(skip_large_updates, max_squared_norm=…))`, and the goldens check
 * it against that. As in `applyIfFinite`, `inner` runs at every step; the skip is decided on the
 * host where the flag reads back at once (`Backend.readSync`: cpu, wasm, gpu.js webasm and webgl2),
 * keeping the whole previous inner state, host counters included; on gpu.js webgpu it is decided on
 * the device, tensor by tensor, and the inner host counters advance at every call (see
 * docs/nonfinite.md, "Host counters"). An inner state whose structure changes between steps then
 * throws UnsupportedError.
 *
 * Skipping is opt-in: a NaN or ±∞ gradient gives ‖g‖² = NaN or ∞ and is skipped here, unlike the
 * transforms that carry it through (docs/nonfinite.md).
 *
 * Reference: Optax `skip_large_updates` and `MultiSteps(should_skip_update_fn=…)`
 * (optax/transforms/_accumulation.py).
 *
 * @example
 * ```ts
 * const opt = skipLargeUpdates(adam({ learningRate: 1e-3 }), { maxSquaredNorm: 100 })
 * const params = { w: fromArray([1, -2]) }
 * const [u, state] = opt.update({ w: fromArray([30, 1]) }, opt.init(params), params) // ‖g‖² = 901: skipped, u = 0
 * ```
 */
export const skipLargeUpdates = <S>(inner: GradientTransformation<S>, options: SkipLargeUpdatesOptions): GradientTransformation<SkipLargeUpdatesState<S>> => {
  const { maxSquaredNorm } = validate('skipLargeUpdates', { maxSquaredNorm: ranges.positive }, options)
  return transformation('skipLargeUpdates', {
    init: (params: Params) => {
      // the flags live with the params; a tree without leaves keeps them on the cpu
      const b = (tree.leaves(params).find((x) => x instanceof Tensor) as Tensor | undefined)?.backend ?? cpu
      return frozen({ shouldSkip: b.fill([], 0), normSquared: b.fill([], 0), totalSkipped: b.fill([], 0), inner: inner.init(params) })
    },
    update: (updates: Params, state: SkipLargeUpdatesState<S>, params?: Params, extra?: UpdateExtras) => {
      const { rows } = leafRows([['updates', updates]])
      for (const [field, v] of [['shouldSkip', state.shouldSkip], ['normSquared', state.normSquared], ['totalSkipped', state.totalSkipped]] as const) {
        if (!(v instanceof Tensor) || v.shape.length !== 0) throw new StructureError(`state.${field}`, `skipLargeUpdates: state.${field} must be a tensor of shape [], got ${String(v)}`)
      }
      const b = state.totalSkipped.backend
      return scope(() => {
        const ss = rows.length === 0 ? b.fill([], 0) : sumOfSquaresOf(rows.map(([g]) => g!))
        const [skip, total] = elementwise(skipFlagOp, [ss, state.totalSkipped], [maxSquaredNorm])
        const [u, next] = inner.update(updates, state.inner, params, extra)
        const record = { shouldSkip: skip!, normSquared: ss, totalSkipped: total! }
        const decided = skip!.backend.readSync?.(skip!)
        if (decided !== undefined) {
          return decided[0] === 0 ? ([u, frozen({ ...record, inner: next })] as const) : ([zerosLikeTree(u), frozen({ ...record, inner: state.inner })] as const)
        }
        const d = tree.firstDifference(next, state.inner)
        if (d) throw new UnsupportedError(`skipLargeUpdates: the inner state changed structure at ${d.path} (${d.detail}), so a skipped step cannot restore it`)
        const outU = mapLeaves([['updates', u]], 1, ([x], path) => (x!.size === 0 ? [emptyLeaf(x!)] : elementwise(zeroIfOp, [skip!, x!], [], path)))[0]!
        const kept = tree.zipWith(([a, old]: readonly [unknown, unknown], path): unknown =>
          a instanceof Tensor && old instanceof Tensor && a !== old && a.size > 0 ? elementwise(keepIfOp, [skip!, old, a], [], path)[0]! : a,
        )(next as Tree<unknown>, state.inner as Tree<unknown>)
        return [outU, frozen({ ...record, inner: kept as S })] as const
      })
    },
    stateCodec: t.strict(
      { shouldSkip: paramsCodec, normSquared: paramsCodec, totalSkipped: paramsCodec, inner: innerCodec(inner as GradientTransformation<unknown>) },
      '{ shouldSkip, normSquared, totalSkipped, inner }',
    ),
  }, { needsParams: paramsNeededBy(inner) })
}

/**
 * Skips every non-finite step: a step whose incoming updates hold a NaN or ±∞ returns zero updates
 * and leaves the inner state as it was, however many such steps come in a row.
 *
 * In Optax, `skip_not_finite` is a `should_skip_update_fn` for `MultiSteps`, and
 * `MultiSteps(inner, 1, should_skip_update_fn=skip_not_finite)` is the wrapper it builds. fluxion
 * has that wrapper already: `applyIfFinite`, which never gives up here
 * (`maxConsecutiveErrors: Infinity`), so this is `applyIfFinite(inner)` under Optax's name, with its
 * state (`notfiniteCount`, `lastFinite`, `totalNotfinite`: the skips so far, `inner`). It checks
 * more than Optax's predicate: besides the incoming updates, the updates `inner` returns and the
 * state tensors it produced, so an overflow inside the optimizer (Adam's ν = ∞ from a gradient of
 * 1e30) is skipped too. Optax's `num_not_finite` (the count of non-finite entries) is not kept.
 *
 * Skipping is opt-in: without this wrapper a non-finite gradient reaches the params
 * (docs/nonfinite.md).
 *
 * Reference: Optax `skip_not_finite` and `MultiSteps(should_skip_update_fn=…)`
 * (optax/transforms/_accumulation.py); `apply_if_finite` (optax/transforms/_conditionality.py).
 *
 * @example
 * ```ts
 * const opt = skipNotFinite(adam({ learningRate: 1e-3 }))
 * const params = { w: fromArray([1, -2]) }
 * const [u, state] = opt.update({ w: fromArray([NaN, 1]) }, opt.init(params), params) // skipped: u = 0
 * ```
 */
export const skipNotFinite = <S>(inner: GradientTransformation<S>): GradientTransformation<ApplyIfFiniteState<S>> => {
  const wrapped = applyIfFinite(inner, { maxConsecutiveErrors: Infinity })
  return transformation('skipNotFinite', {
    init: wrapped.init,
    update: wrapped.update,
    ...(wrapped.stateCodec ? { stateCodec: wrapped.stateCodec } : {}),
  }, { needsParams: paramsNeededBy(inner) })
}
