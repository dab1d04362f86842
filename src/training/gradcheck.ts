/**
 * Gradient checking: central finite differences against analytic gradients, the lectures'
 * "always check your gradients".
 *
 * Reference: seed 001_6e8604431cc2cba1.txt ("babysitting": gradient checks); the standard check
 * |a − n| / max(|a| + |n|, floor) of CS231n.
 */
import type { Params } from '../core/types.js'
import { ownOptions, ranges, validate } from '../core/validate.js'
import { clone, dispose, read, readTree, scope } from '../tensor/ops.js'
import { type Key, foldIn, key as makeKey, uniformValues } from '../tensor/random.js'
import type { Tensor } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'

/** The worst disagreement found. */
export interface GradCheckResult {
  /** max over checked entries of |a − n| / max(|a| + |n|, floor). */
  readonly maxRelativeError: number
  readonly worst: { readonly path: string; readonly index: number; readonly analytic: number; readonly numeric: number }
  readonly checked: number
}

/**
 * Compares `gradient(params)` with central differences (f(θ + h) − f(θ − h))/2h of `loss(params)`,
 * entry by entry (all entries, or `samples` random ones per leaf chosen by `key`). Both functions
 * may create tensors; the check releases what they create and nothing else.
 *
 * Defaults: h = 1e-2 (float32 arithmetic), samples = all, floor = 1e-3 (entries whose gradients are
 * both below it are compared absolutely).
 *
 * @example
 * ```ts
 * // f(w) = Σw², ∇f = 2w
 * const w = fromArray([1, -2, 3])
 * const r = await gradCheck((p) => sumOfSquares(p as Tensor), (p) => scaleTensor(p as Tensor, 2), w)
 * r.maxRelativeError < 1e-2 // true
 * ```
 */
export const gradCheck = async (
  loss: (params: Params) => Tensor,
  gradient: (params: Params) => Params,
  params: Params,
  options: { readonly h?: number; readonly samples?: number; readonly key?: Key; readonly floor?: number } = {},
): Promise<GradCheckResult> => {
  ownOptions('gradCheck', options, ['h', 'samples', 'key', 'floor'])
  const { h, samples, floor } = validate(
    'gradCheck',
    { h: ranges.positive, samples: ranges.positiveIntegerOrInfinity, floor: ranges.positive },
    { h: options.h ?? 1e-2, samples: options.samples ?? Infinity, floor: options.floor ?? 1e-3 },
  )
  const sampleKey = options.key ?? makeKey(0)
  // copies made inside a scope: whatever the functions create is released, and tensors they return
  // without creating them (an identity layer's ∂x = ∂y) are left alone
  const g = scope(() => tree.map((x: Tensor, path) => clone(x, path))(gradient(params)))
  const analytic = (await readTree(g)) as tree.Tree<Float32Array>
  dispose(g)
  const { leaves, structure } = tree.flatten(params)
  const paths = tree.paths(params)
  const values = await Promise.all(leaves.map((l) => read(l as Tensor)))
  const analyticLeaves = tree.leaves(analytic)
  let worst = { path: '', index: -1, analytic: 0, numeric: 0 }
  let maxRelativeError = 0
  let checked = 0
  const evaluate = async (j: number, i: number, delta: number) => {
    const changed = Float32Array.from(values[j]!)
    changed[i] = changed[i]! + delta
    const leaf = leaves[j] as Tensor
    const replaced = leaf.backend.fromData(changed, leaf.shape)
    const p = tree.unflatten(structure, leaves.map((l, k) => (k === j ? replaced : l)))
    const l = scope(() => clone(loss(p)))
    const v = (await read(l))[0]!
    dispose([replaced, l])
    return v
  }
  for (let j = 0; j < leaves.length; j++) {
    const n = values[j]!.length
    const indices =
      samples >= n ? Array.from({ length: n }, (_, i) => i) : Array.from(uniformValues(foldIn(sampleKey, j), samples), (u) => Math.floor(u * n))
    for (const i of indices) {
      const numeric = ((await evaluate(j, i, h)) - (await evaluate(j, i, -h))) / (2 * h)
      const a = analyticLeaves[j]![i]!
      const err = Math.abs(a - numeric) / Math.max(Math.abs(a) + Math.abs(numeric), floor)
      checked++
      if (err > maxRelativeError || worst.index < 0) {
        if (err >= maxRelativeError) worst = { path: paths[j]!, index: i, analytic: a, numeric }
        maxRelativeError = Math.max(maxRelativeError, err)
      }
    }
  }
  return { maxRelativeError, worst, checked }
}
