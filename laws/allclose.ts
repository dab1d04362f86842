/**
 * The one tolerance-aware comparison of trees used by every law and test:
 * |a − b| ≤ atol + rtol·|b| elementwise (numpy's `allclose`), with NaN equal only to NaN and
 * infinities equal only to themselves. Structures must match.
 */
import { tree } from '../src/index.js'
import type { TreeLike } from '../src/index.js'
import { HostTensor } from './host.js'

/** Tolerances of `allClose`. */
export interface Tolerance {
  readonly rtol: number
  readonly atol: number
}

/** Float32 tolerance for a few steps of float32 arithmetic against a float64 reference. */
export const float32Tolerance: Tolerance = Object.freeze({ rtol: 2e-4, atol: 1e-5 })

/** The first mismatch found, or ok. */
export type Comparison =
  | { readonly ok: true }
  | { readonly ok: false; readonly path: string; readonly index: number; readonly actual: number; readonly expected: number; readonly message: string }

/** What `allClose` compares at a leaf: a host tensor, an array of numbers or a number. */
export type Leaf = HostTensor | ArrayLike<number> | number

const asArray = (x: Leaf): ArrayLike<number> => (x instanceof HostTensor ? x.data : typeof x === 'number' ? [x] : x)

/** Compares two trees of numbers, arrays or host tensors. */
export const allClose = (actual: TreeLike<Leaf>, expected: TreeLike<Leaf>, tol: Tolerance = float32Tolerance): Comparison => {
  const d = tree.firstDifference(actual, expected)
  if (d) return { ok: false, path: d.path, index: -1, actual: NaN, expected: NaN, message: `structures differ at ${d.path}: ${d.detail}` }
  const as = tree.leaves(actual)
  const es = tree.leaves(expected)
  const paths = tree.paths(actual)
  for (let j = 0; j < as.length; j++) {
    const a = asArray(as[j]!)
    const e = asArray(es[j]!)
    const path = paths[j]!
    if (a.length !== e.length) return { ok: false, path, index: -1, actual: a.length, expected: e.length, message: `${path}: lengths ${a.length} vs ${e.length}` }
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!
      const y = e[i]!
      const same = Number.isNaN(x) || Number.isNaN(y) ? Number.isNaN(x) && Number.isNaN(y) : !Number.isFinite(x) || !Number.isFinite(y) ? x === y : Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y)
      if (!same) {
        return { ok: false, path, index: i, actual: x, expected: y, message: `${path === '' ? '<root>' : path}[${i}]: ${x} vs expected ${y} (rtol ${tol.rtol}, atol ${tol.atol})` }
      }
    }
  }
  return { ok: true }
}

/** Throws with the first mismatch's message unless the trees are close. */
export const assertAllClose = (actual: TreeLike<Leaf>, expected: TreeLike<Leaf>, tol: Tolerance = float32Tolerance): void => {
  const c = allClose(actual, expected, tol)
  if (!c.ok) throw new Error(`not close: ${c.message}`)
}
