/**
 * Float64 references of the gradient transforms of src/transforms/gradients.ts and privacy.ts,
 * written naively from their formulas as Optax 0.2.8 states them (optax/_src/transform.py
 * `normalize_by_update_norm`; optax/transforms/_clipping.py `per_example_global_norm_clip`,
 * `per_example_layer_norm_clip`; optax/contrib/_privacy.py `differentially_private_aggregate`,
 * `dpsgd`; optax/transforms/_accumulation.py `skip_large_updates`, `skip_not_finite`), with
 * fluxion's non-finite policy where it differs (docs/nonfinite.md). Leaves are Float64Arrays;
 * per-example gradients are leaves of B·n values, example b at [b·n, (b + 1)·n).
 */
import type { Leaves } from './optimizers.js'
import { sgdTraceReference } from './optimizers.js'
import type { Rate } from './seed000.js'

const sumOfSquares = (leaves: readonly Float64Array[]): number => leaves.reduce((a, l) => a + l.reduce((s, x) => s + x * x, 0), 0)

/**
 * One step of `normalizeByUpdateNorm`: u = s · g / (‖g‖ + ε), ‖g‖ the global norm; NaN everywhere
 * when ‖g‖ is not finite, 0 when ‖g‖ + ε = 0 (fluxion's policy; Optax gives 0/0 = NaN there).
 */
export const normalizeByUpdateNormReference = (g: readonly Float64Array[], scaleFactor: number, eps: number): Leaves => {
  const n = Math.sqrt(sumOfSquares(g))
  const factor = !Number.isFinite(n) ? NaN : n + eps === 0 ? 0 : scaleFactor / (n + eps)
  return g.map((l) => l.map((x) => x * factor))
}

/** The multiplier min(1, C/‖g_b‖) of one example: 1 for a NaN norm (Optax's nan_to_num), NaN for an infinite one (fluxion's policy). */
const multiplier = (n: number, c: number): number => (Number.isNaN(n) ? 1 : n > c ? (Number.isFinite(n) ? c / n : NaN) : 1)

/** The examples of per-example leaves: examples[b][j] is example b's part of leaf j. */
const examples = (perExample: readonly Float64Array[], batch: number): Float64Array[][] =>
  Array.from({ length: batch }, (_, b) => perExample.map((l) => l.subarray((b * l.length) / batch, ((b + 1) * l.length) / batch)))

/**
 * `perExampleGlobalNormClip`: sum = Σ_b g_b · min(1, C/‖g_b‖) with ‖g_b‖ over every leaf of
 * example b; numClipped = #{b : ‖g_b‖ > C}.
 */
export const perExampleGlobalNormClipReference = (perExample: readonly Float64Array[], batch: number, c: number): { sum: Leaves; numClipped: number } => {
  const sum = perExample.map((l) => new Float64Array(l.length / batch))
  let numClipped = 0
  for (const ex of examples(perExample, batch)) {
    const n = Math.sqrt(sumOfSquares(ex))
    if (n > c) numClipped++
    const m = multiplier(n, c)
    ex.forEach((l, j) => l.forEach((x, i) => (sum[j]![i] = sum[j]![i]! + m * x)))
  }
  return { sum, numClipped }
}

/**
 * `perExampleLayerNormClip`: each leaf j clipped by its own per-example norm to Cⱼ = C/√K
 * (uniform) or C·√(Dⱼ/D) (Dⱼ the size of one example of leaf j, D = ΣDⱼ), then summed.
 */
export const perExampleLayerNormClipReference = (perExample: readonly Float64Array[], batch: number, c: number, uniform: boolean): { sum: Leaves; numClipped: number[] } => {
  const sizes = perExample.map((l) => l.length / batch)
  const total = sizes.reduce((a, d) => a + d, 0)
  const parts = perExample.map((l, j) => perExampleGlobalNormClipReference([l], batch, uniform ? c / Math.sqrt(perExample.length) : c * Math.sqrt(sizes[j]! / total)))
  return { sum: parts.map((p) => p.sum[0]!), numClipped: parts.map((p) => p.numClipped) }
}

/**
 * `differentiallyPrivateAggregate`: u = (Σ_b clip_C(g_b) + noise) / B, with `noise` the step's
 * σC·z (omit it for σ = 0).
 */
export const dpAggregateReference = (perExample: readonly Float64Array[], batch: number, c: number, noise?: readonly Float64Array[]): Leaves =>
  perExampleGlobalNormClipReference(perExample, batch, c).sum.map((s, j) => s.map((x, i) => (x + (noise?.[j]![i] ?? 0)) / batch))

/**
 * `dpsgd` with σ = 0: SGD with momentum m ← ḡ + βm (Nesterov: ḡ + βm applied), θ ← θ − α_k m, on
 * the clipped means ḡ of the per-example gradients of each step.
 */
export const dpsgdReference = (theta0: Leaves, perExampleGrads: readonly (readonly Float64Array[])[], batch: number, alpha: Rate, c: number, momentum: number, nesterov: boolean): Leaves =>
  sgdTraceReference(theta0, perExampleGrads.map((g) => dpAggregateReference(g, batch, c)), alpha, momentum, nesterov)

/** Which steps `skipLargeUpdates` skips: those whose ‖g‖² is not below the threshold (a NaN ‖g‖² included). */
export const skipLargeUpdatesReference = (grads: readonly (readonly Float64Array[])[], maxSquaredNorm: number): boolean[] =>
  grads.map((g) => !(sumOfSquares(g) < maxSquaredNorm))

/** Which steps `skipNotFinite` skips: those with a NaN or ±∞ entry. */
export const skipNotFiniteReference = (grads: readonly (readonly Float64Array[])[]): boolean[] => grads.map((g) => g.some((l) => l.some((x) => !Number.isFinite(x))))

/**
 * The params after each step of a skipping wrapper around an optimizer whose float64 reference is
 * `inner(θ₀, grads)`: a skipped step leaves the params (and the inner state) as they were, so the
 * params after step k are the inner reference over the gradients not skipped up to k.
 */
export const withSkipsReference = (theta0: Leaves, grads: readonly Leaves[], skipped: readonly boolean[], inner: (theta0: Leaves, grads: Leaves[]) => Leaves): Leaves[] =>
  grads.map((_, k) => inner(theta0, grads.slice(0, k + 1).filter((__, i) => !skipped[i])))
