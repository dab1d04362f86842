/**
 * Per-example gradient clipping and differentially private SGD: `perExampleGlobalNormClip`,
 * `perExampleLayerNormClip`, `differentiallyPrivateAggregate` and the optimizer `dpsgd`.
 *
 * Per-example gradients carry a leading batch axis: a leaf of the params of shape [...s] has
 * per-example gradients of shape [B, ...s], the same B for every leaf (what `jax.vmap(jax.grad(…))`
 * gives). The clips sum over that axis, so they return trees shaped like the params.
 *
 * References: Abadi et al. 2016, "Deep Learning with Differential Privacy" (DP-SGD, Algorithm 1);
 * McMahan et al. 2018, "Learning Differentially Private Recurrent Language Models" (per-layer
 * clipping); Optax 0.2.8 `optax/transforms/_clipping.py` (`per_example_global_norm_clip`,
 * `per_example_layer_norm_clip`), `optax/contrib/_privacy.py` (`differentially_private_aggregate`,
 * `dpsgd`).
 */
import * as t from 'io-ts'
import { frozen, leafRows, transformation } from '../core/internal.js'
import { keyCodec } from '../core/state.js'
import type { GradientTransformation, Params, ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, ranges, validate } from '../core/validate.js'
import { ShapeError, StructureError } from '../errors.js'
import { type Optimizer, asFloat32, momentumOrIdentity, namedOptimizer } from '../optimizers/common.js'
import { cpu } from '../tensor/cpu.js'
import { add, elementwise, reshape, scope, sum, sumTo } from '../tensor/ops.js'
import { type Key, key as makeKey, normalValues, split } from '../tensor/random.js'
import { type Tensor, defineElementwise } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import { emptyLeaf, nanUnlessFinite } from './accumulator.js'
import { scaleByLearningRate } from './scaling.js'

const f32 = Math.fround

// ---- per-example clipping ----------------------------------------------------------------------

/** What `perExampleGlobalNormClip` returns. */
export interface PerExampleClipResult {
  /** Σ_b of the clipped per-example gradients, shaped like the params. */
  readonly sum: Params
  /** How many examples were clipped (‖g_b‖ > C), a tensor of shape []. */
  readonly numClipped: Tensor
}

/** What `perExampleLayerNormClip` returns. */
export interface PerExampleLayerClipResult {
  /** Σ_b of the clipped per-example gradients, shaped like the params. */
  readonly sum: Params
  /** Per leaf, how many examples were clipped there: a tree of tensors of shape []. */
  readonly numClipped: Params
}

const squareOp = defineElementwise({ name: 'perExampleSquare', inputs: ['g'], outputs: ['g * g'] })
// the multiplier min(1, C/‖g_b‖) from ‖g_b‖²: 1 where the norm is NaN (its NaN entries pass
// through, as Optax's nan_to_num(…, nan=1)), NaN where it is infinite (a ±∞ entry, or a float32
// overflow of the squares), rather than the zeros C/∞ would give (docs/nonfinite.md)
const multiplierOp = defineElementwise({
  name: 'perExampleMultiplier',
  inputs: ['ss'],
  scalars: ['c'],
  lets: [['n', 'Math.sqrt(ss)']],
  outputs: [`n > c ? ${nanUnlessFinite('n', 'c / n')} : 1`, 'n > c ? 1 : 0'],
})
const weightOp = defineElementwise({ name: 'perExampleWeight', inputs: ['g', 'm'], outputs: ['g * m'] })

/** The batch size B of per-example gradients (every leaf [B, ...], B ≥ 1), checked before any work. */
const batchSize = (transform: string, rows: readonly (readonly Tensor[])[], paths: readonly string[]): number | undefined => {
  let b: number | undefined
  rows.forEach(([g], j) => {
    const shape = g!.shape
    const where = `${transform} expects per-example gradients with a leading batch axis`
    if (shape.length === 0) throw new ShapeError(paths[j]!, `${where}, got a leaf of shape []`)
    if (b === undefined) {
      if (shape[0]! < 1) throw new ShapeError(paths[j]!, `${where} of at least one example, got [${shape.join(', ')}]`)
      b = shape[0]!
    } else if (shape[0] !== b) throw new ShapeError(paths[j]!, `${where} of one size for every leaf: [${shape.join(', ')}] after a batch of ${b}`)
  })
  return b
}

/** ‖g_b‖² of each example b over the given leaves ([B, ...] each), a tensor of shape [B]. */
const exampleSumOfSquares = (leaves: readonly Tensor[], batch: number, path: string): Tensor | undefined =>
  scope(() => {
    const parts = leaves
      .filter((g) => g.size > 0)
      .map((g) => {
        const sq = elementwise(squareOp, [g], [], path)[0]!
        return g.shape.length === 1 ? sq : reshape(sumTo(sq, [batch, ...g.shape.slice(1).map(() => 1)], path), [batch], path)
      })
    return parts.length === 0 ? undefined : parts.slice(1).reduce((acc, p) => add(acc, p, path), parts[0]!)
  })

/** Σ_b m_b g_b for a leaf [B, ...s] and multipliers m of shape [B]: a tensor of shape [...s]. */
const weightedSum = (g: Tensor, m: Tensor, path: string): Tensor => {
  const s = g.shape.slice(1)
  if (g.size === 0) return g.backend.fill(s, 0)
  return scope(() => {
    const mb = g.shape.length === 1 ? m : reshape(m, [g.shape[0]!, ...s.map(() => 1)], path)
    return sumTo(elementwise(weightOp, [g, mb], [], path)[0]!, s, path)
  })
}

/** Clips the examples of `leaves` to `c` by their norm over those leaves; the clipped sums and the count. */
const clipExamples = (leaves: readonly Tensor[], paths: readonly string[], batch: number, c: number): { sums: Tensor[]; numClipped: Tensor } =>
  scope(() => {
    const b = leaves[0]!.backend
    const ss = exampleSumOfSquares(leaves, batch, paths[0]!)
    // no entries at all (every leaf has a zero dimension): nothing to clip
    const [m, clipped] = ss === undefined ? [b.fill([batch], 1), b.fill([batch], 0)] : elementwise(multiplierOp, [ss], [c], paths[0]!)
    return { sums: leaves.map((g, j) => weightedSum(g, m!, paths[j]!)), numClipped: sum(clipped!) }
  })

/**
 * Clips each example's gradient by its global norm and sums over the batch: with per-example
 * gradients g_b (leaves [B, ...s]) and ‖g_b‖ = √(Σ over leaves of ‖g_b,ᵢ‖²),
 *
 *   sum = Σ_b g_b · min(1, C / ‖g_b‖),   numClipped = #{b : ‖g_b‖ > C}.
 *
 * The sum is shaped like the params (the batch axis summed away). C may be Infinity (no clipping);
 * C = 0 gives zeros. The step of DP-SGD before the noise (`differentiallyPrivateAggregate`).
 *
 * Non-finite values: an example whose norm is NaN keeps its factor 1 (its NaN reaches the sum, as
 * Optax's `nan_to_num(…, nan=1)`); one whose norm is infinite (a ±∞ entry, or a float32 overflow of
 * its squares) makes the whole sum NaN rather than dropping that example (Optax: factor 0, so its
 * finite entries vanish and its infinite ones give NaN). Every leaf must have a leading batch axis
 * of one size B ≥ 1 (ShapeError naming the leaf otherwise). A tree without leaves gives itself and
 * a count of 0 (on the cpu).
 *
 * Reference: Abadi et al. 2016, "Deep Learning with Differential Privacy"; Optax
 * `per_example_global_norm_clip` (optax/transforms/_clipping.py).
 *
 * @example
 * ```ts
 * // three examples of a 3-vector: norms 5, 5 and 5, clipped to 1.25
 * const grads = [fromArray([0, 3, 4, 4, 0, 3, 3, 4, 0], [3, 3])]
 * const { sum, numClipped } = perExampleGlobalNormClip(grads, 1.25) // sum [1.75, 1.75, 1.75], numClipped 3
 * ```
 */
export const perExampleGlobalNormClip = (grads: Params, l2NormClip: number): PerExampleClipResult => {
  const { l2NormClip: c } = validate('perExampleGlobalNormClip', { l2NormClip: ranges.nonNegativeOrInfinity }, { l2NormClip })
  const { rows, paths, structure } = leafRows([['grads', grads]])
  const batch = batchSize('perExampleGlobalNormClip', rows, paths)
  if (batch === undefined) return { sum: grads, numClipped: cpu.fill([], 0) }
  return scope(() => {
    const { sums, numClipped } = clipExamples(rows.map(([g]) => g!), paths, batch, c)
    return { sum: tree.unflatten(structure, sums), numClipped }
  })
}

/** Options of `perExampleLayerNormClip`. */
export interface PerExampleLayerNormClipOptions {
  /**
   * How the clip norm C is split over the K leaves: C/√K each (true), or C·√(Dᵢ/D) with Dᵢ the
   * size of one example of leaf i and D = ΣDᵢ (false). Default true.
   */
  readonly uniform?: boolean
}

/**
 * Per-layer clipping: each leaf (layer) i of each example is clipped by its own norm to Cᵢ and the
 * examples are summed, leaf by leaf:
 *
 *   sumᵢ = Σ_b g_b,ᵢ · min(1, Cᵢ / ‖g_b,ᵢ‖),   Cᵢ = C/√K (uniform), or C·√(Dᵢ/D) (not uniform),
 *
 * with K the number of leaves, Dᵢ the size of one example of leaf i and D = ΣDᵢ; in both splits
 * ΣCᵢ² = C², so the whole per-example gradient still has norm ≤ C. With one leaf it is
 * `perExampleGlobalNormClip`. `numClipped` counts the clipped examples per leaf (a tree of tensors
 * of shape []). The same non-finite handling and shape checks as `perExampleGlobalNormClip`.
 *
 * Defaults: uniform = true.
 * Reference: McMahan et al. 2018, "Learning Differentially Private Recurrent Language Models";
 * Optax `per_example_layer_norm_clip` (optax/transforms/_clipping.py).
 *
 * @example
 * ```ts
 * const grads = { w: fromArray([3, 4, 0, 1], [2, 2]), b: fromArray([1, 2]) }
 * const { sum, numClipped } = perExampleLayerNormClip(grads, 2, { uniform: false })
 * ```
 */
export const perExampleLayerNormClip = (grads: Params, globalL2NormClip: number, options: PerExampleLayerNormClipOptions = {}): PerExampleLayerClipResult => {
  const { globalL2NormClip: c } = validate('perExampleLayerNormClip', { globalL2NormClip: ranges.nonNegativeOrInfinity }, { globalL2NormClip })
  const { uniform } = validate('perExampleLayerNormClip', { uniform: ranges.boolean }, options, { uniform: true })
  const { rows, paths, structure } = leafRows([['grads', grads]])
  const batch = batchSize('perExampleLayerNormClip', rows, paths)
  if (batch === undefined) return { sum: grads, numClipped: grads }
  const sizes = rows.map(([g]) => g!.size / batch)
  const total = sizes.reduce((a, d) => a + d, 0)
  const clips = sizes.map((d) => (uniform ? c * Math.sqrt(1 / rows.length) : total === 0 ? c : c * Math.sqrt(d / total)))
  return scope(() => {
    const parts = rows.map(([g], j) => clipExamples([g!], [paths[j]!], batch, clips[j]!))
    return { sum: tree.unflatten(structure, parts.map((p) => p.sums[0]!)), numClipped: tree.unflatten(structure, parts.map((p) => p.numClipped)) }
  })
}

// ---- DP-SGD --------------------------------------------------------------------------------------

/** State of `differentiallyPrivateAggregate`: the key of the next step's noise (Optax's `rng_key`). */
export interface DifferentiallyPrivateAggregateState {
  readonly key: Key
}

/** Options of `differentiallyPrivateAggregate`. */
export interface DifferentiallyPrivateAggregateOptions {
  /** C ≥ 0, the largest L2 norm of a per-example gradient. Required. */
  readonly l2NormClip: number
  /** σ ≥ 0, the noise's standard deviation relative to C. Required. */
  readonly noiseMultiplier: number
  /** The seed of the noise keys, an integer in [0, 2^53). Required. */
  readonly seed: number
}

// the noise σC·z is scaled on the host (the normals are drawn there), so every backend adds the
// same float32 noise and the one rounding left, of s + noise, is relative to the result
const noisyMeanOp = defineElementwise({ name: 'dpNoisyMean', inputs: ['s', 'noise'], scalars: ['b'], outputs: ['(s + noise) / b'] })
const meanOp = defineElementwise({ name: 'dpMean', inputs: ['s'], scalars: ['b'], outputs: ['s / b'] })

/**
 * DP-SGD's aggregation of per-example gradients g_b (leaves [B, ...s]): each example is clipped to
 * norm C by its global norm, the clipped gradients are summed, Gaussian noise of standard deviation
 * σC is added, and the result is divided by B:
 *
 *   u = (Σ_b g_b · min(1, C/‖g_b‖) + σC·z) / B,   z ~ N(0, I) shaped like the params.
 *
 * The output is shaped like the params, so this comes first in a chain (`dpsgd` follows it with
 * momentum and the learning rate). The noise comes from fluxion's counter-based keys
 * (src/tensor/random.ts): the state holds a key; each step splits it into the next key and one key
 * per leaf (Optax's `split(key, leaves + 1)`), so a run is reproducible from its seed and identical
 * on every backend (the normals are drawn on the host and uploaded). With σ = 0 no noise is drawn
 * and u is the clipped mean exactly.
 *
 * Privacy: the guarantee of Abadi et al. holds for ideal Gaussian noise and needs a privacy
 * accountant (the moments accountant / RDP) to turn σ, the sampling rate and the number of steps
 * into (ε, δ); fluxion has no accountant. The key's hash (murmur3's finaliser) is not a
 * cryptographic generator, and floating-point Gaussian samples are not the ideal mechanism
 * (Mironov 2012): use this to study and prototype DP training, and a vetted DP library for a
 * deployed guarantee. Gradient accumulation wrappers (`multiSteps`, `applyEvery`) do not compose
 * with it: the clipping is per batch.
 *
 * Non-finite values and shapes as in `perExampleGlobalNormClip`. State: `{ key }`.
 * Reference: Abadi et al. 2016, Algorithm 1; Optax `contrib.differentially_private_aggregate`.
 *
 * @example
 * ```ts
 * const aggregate = differentiallyPrivateAggregate({ l2NormClip: 1, noiseMultiplier: 1.1, seed: 7 })
 * const opt = chain(aggregate, sgd({ learningRate: 0.1 }))
 * ```
 */
export const differentiallyPrivateAggregate = (options: DifferentiallyPrivateAggregateOptions): GradientTransformation<DifferentiallyPrivateAggregateState> => {
  const o = validate('differentiallyPrivateAggregate', { l2NormClip: ranges.nonNegative, noiseMultiplier: ranges.nonNegative, seed: ranges.seed }, options)
  const sd = f32(o.l2NormClip * o.noiseMultiplier)
  const name = 'differentiallyPrivateAggregate'
  return transformation(name, {
    init: () => frozen({ key: makeKey(o.seed) }),
    update: (updates: Params, state: DifferentiallyPrivateAggregateState) => {
      if (!keyCodec.is(state.key)) throw new StructureError('state.key', `${name}: state.key must be a random key, got ${String(state.key)}`)
      const { rows, paths, structure } = leafRows([['updates', updates]])
      const batch = batchSize(name, rows, paths)
      const [next, ...leafKeys] = split(state.key, rows.length + 1)
      if (batch === undefined) return [updates, frozen({ key: next! })] as const
      const u = scope(() => {
        const { sums } = clipExamples(rows.map(([g]) => g!), paths, batch, o.l2NormClip)
        return tree.unflatten(
          structure,
          sums.map((s, j) => {
            if (s.size === 0) return emptyLeaf(s)
            if (sd === 0) return elementwise(meanOp, [s], [batch], paths[j]!)[0]!
            const noise = s.backend.fromData(Float32Array.from(normalValues(leafKeys[j]!, s.size), (z) => sd * z), s.shape)
            return elementwise(noisyMeanOp, [s, noise], [batch], paths[j]!)[0]!
          }),
        )
      })
      return [u, frozen({ key: next! })] as const
    },
    stateCodec: t.strict({ key: keyCodec }, '{ key }'),
  })
}

/** Options of `dpsgd`. */
export interface DpsgdOptions {
  /** α, a number ≥ 0 or a schedule k ↦ α_k. Required. */
  readonly learningRate: ScalarOrSchedule
  /** C ≥ 0, the largest L2 norm of a per-example gradient. Required. */
  readonly l2NormClip: number
  /** σ ≥ 0, the noise's standard deviation relative to C. Required. */
  readonly noiseMultiplier: number
  /** The seed of the noise keys, an integer in [0, 2^53). Required. */
  readonly seed: number
  /** β in [0, 1), the momentum; 0 means none (Optax's `momentum=None`). Default 0. */
  readonly momentum?: number
  /** Nesterov momentum. Default false. */
  readonly nesterov?: boolean
}

/**
 * Differentially private SGD (Abadi et al. 2016): per-example gradients clipped to norm C, summed,
 * noised with N(0, σ²C²), averaged over the batch (`differentiallyPrivateAggregate`), then SGD with
 * optional (Nesterov) momentum:
 *
 *   ḡ = (Σ_b clip_C(g_b) + σC·z) / B,   m ← ḡ + βm,   θ ← θ − α_k m   (Nesterov: θ ← θ − α_k(ḡ + βm)).
 *
 * `update` takes per-example gradients: every leaf [B, ...s] for params of shape [...s]
 * (ShapeError otherwise). `chain(differentiallyPrivateAggregate(…), trace({ decay: momentum,
 * nesterov }), scaleByLearningRate(α))`, the trace left out when momentum = 0 and nesterov is false.
 * See `differentiallyPrivateAggregate` for the noise's keys and what the guarantee needs.
 *
 * Defaults: momentum = 0, nesterov = false.
 * Reference: Abadi et al. 2016, "Deep Learning with Differential Privacy", Algorithm 1; Optax
 * `contrib.dpsgd`.
 *
 * @example
 * ```ts
 * const opt = dpsgd({ learningRate: 0.1, l2NormClip: 1, noiseMultiplier: 1.1, seed: 42, momentum: 0.9 })
 * const params = { w: fromArray([0.5, -1]) }
 * const perExample = { w: fromArray([1, 2, -3, 0.5, 0, 1], [3, 2]) } // three examples
 * const [updates, state] = opt.update(perExample, opt.init(params), params)
 * ```
 */
export const dpsgd = (options: DpsgdOptions): Optimizer => {
  const o = validate(
    'dpsgd',
    {
      learningRate: nonNegativeOrSchedule,
      l2NormClip: ranges.nonNegative,
      noiseMultiplier: ranges.nonNegative,
      seed: ranges.seed,
      momentum: ranges.unitInterval,
      nesterov: ranges.boolean,
    },
    options,
    { momentum: 0, nesterov: false },
  )
  return namedOptimizer(
    'dpsgd',
    o,
    differentiallyPrivateAggregate({ l2NormClip: o.l2NormClip, noiseMultiplier: o.noiseMultiplier, seed: o.seed }),
    momentumOrIdentity(o.momentum, o.nesterov),
    scaleByLearningRate(asFloat32(o.learningRate)),
  )
}
