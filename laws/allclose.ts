/**
 * The one tolerance-aware comparison of trees used by every law and test:
 * |a − b| ≤ atol + rtol·|b| elementwise (numpy's `allclose`), infinities equal only to themselves,
 * and NaN a mismatch, also against NaN, unless `nanEqual` is set. Structures must match.
 */
import { tree } from '../src/index.js'
import type { TreeLike } from '../src/index.js'
import { HostTensor } from './host.js'

/**
 * Tolerances of `allClose`. `nanEqual: true` makes a NaN match a NaN at the same position (numpy's
 * `equal_nan`); by default every NaN is a mismatch, so a run that went NaN never passes for one
 * that matches its reference. Set it only where NaN is the expected value, and say why.
 */
export interface Tolerance {
  readonly rtol: number
  readonly atol: number
  /** Whether NaN matches NaN at the same position. Default false. */
  readonly nanEqual?: boolean
}

/** Float32 tolerance for a few steps of float32 arithmetic against a float64 reference. */
export const float32Tolerance: Tolerance = Object.freeze({ rtol: 2e-4, atol: 1e-5 })

/** The first mismatch found, or ok. */
export type Comparison =
  | { readonly ok: true }
  | { readonly ok: false; readonly path: string; readonly index: number; readonly actual: number; readonly expected: number; readonly message: string }

/** What `allClose` compares at a leaf: a host tensor, an array of numbers or a number. */
export type Leaf = HostTensor | ArrayLike<number> | number

const isNumbers = (x: unknown): x is ArrayLike<number> =>
  ArrayBuffer.isView(x) && !(x instanceof DataView) ? typeof (x as unknown as ArrayLike<unknown>)[0] !== 'bigint' : false
/** The numbers of a leaf, or undefined for a leaf that holds no numbers (a boolean, null, an object). */
const asArray = (x: unknown): ArrayLike<number> | undefined =>
  x instanceof HostTensor ? x.data : typeof x === 'number' ? [x] : isNumbers(x) ? x : undefined
const describeLeaf = (x: unknown): string => (x === null ? 'null' : typeof x === 'object' ? `a ${x.constructor?.name ?? 'null-prototype'} object` : `a ${typeof x}`)
const at = (path: string) => (path === '' ? '<root>' : path)

const close = (x: number, y: number, tol: Tolerance): boolean => {
  if (Number.isNaN(x) || Number.isNaN(y)) return tol.nanEqual === true && Number.isNaN(x) && Number.isNaN(y)
  if (!Number.isFinite(x) || !Number.isFinite(y)) return x === y
  return Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y)
}

/**
 * Compares two trees of numbers, arrays or host tensors: at every position
 * |actual − expected| ≤ atol + rtol·|expected|, ±∞ only equal to itself, NaN never close (with
 * `nanEqual`, close to NaN only). Returns the first mismatch. A tolerance given in part is completed
 * with `float32Tolerance`'s fields (`{ atol: 1e-3 }` keeps rtol 2e-4).
 *
 * @example
 * ```ts
 * allClose([1, 2.0001], [1, 2], { rtol: 1e-3, atol: 0 }).ok                  // true
 * allClose([NaN, 1], [NaN, 1], float32Tolerance).ok                          // false: NaN is a mismatch
 * allClose([NaN, 1], [NaN, 1], { ...float32Tolerance, nanEqual: true }).ok   // true
 * ```
 */
/**
 * The tolerance a caller gave, completed with `float32Tolerance`'s fields; unknown names and values
 * of the wrong kind are refused (a typo such as `atoll` must not pass every comparison or none).
 */
const toleranceOf = (given: Partial<Tolerance> | undefined): Tolerance => {
  if (given === undefined) return float32Tolerance
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw new TypeError(`allClose: the tolerance must be an object { rtol?, atol?, nanEqual? }, got ${String(given)}`)
  for (const k of Object.keys(given)) {
    if (!['rtol', 'atol', 'nanEqual'].includes(k)) throw new TypeError(`allClose: unknown tolerance field ${JSON.stringify(k)}; the fields are rtol, atol, nanEqual`)
  }
  const tol = { ...float32Tolerance, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) } as Tolerance
  for (const k of ['rtol', 'atol'] as const) {
    if (typeof tol[k] !== 'number' || !(tol[k] >= 0)) throw new TypeError(`allClose: ${k} must be a number ≥ 0, got ${String(tol[k])}`)
  }
  if (tol.nanEqual !== undefined && typeof tol.nanEqual !== 'boolean') throw new TypeError(`allClose: nanEqual must be a boolean, got ${String(tol.nanEqual)}`)
  return tol
}

export const allClose = (actual: TreeLike<Leaf>, expected: TreeLike<Leaf>, tolerance?: Partial<Tolerance>): Comparison => {
  const tol = toleranceOf(tolerance)
  const d = tree.firstDifference(actual, expected)
  if (d) return { ok: false, path: d.path, index: -1, actual: NaN, expected: NaN, message: `structures differ at ${at(d.path)}: ${d.detail}` }
  const as = tree.leaves(actual)
  const es = tree.leaves(expected)
  const paths = tree.paths(actual)
  for (let j = 0; j < as.length; j++) {
    const a = asArray(as[j])
    const e = asArray(es[j])
    const path = paths[j]!
    if (a === undefined || e === undefined) {
      const which = a === undefined ? `actual is ${describeLeaf(as[j])}` : `expected is ${describeLeaf(es[j])}`
      return { ok: false, path, index: -1, actual: NaN, expected: NaN, message: `${at(path)}: not a number, an array of numbers or a host tensor (${which})` }
    }
    if (a.length !== e.length) return { ok: false, path, index: -1, actual: a.length, expected: e.length, message: `${at(path)}: lengths ${a.length} vs ${e.length}` }
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!
      const y = e[i]!
      if (!close(x, y, tol)) {
        const nan = Number.isNaN(x) || Number.isNaN(y) ? (tol.nanEqual ? ', NaN only matches NaN' : ', NaN is a mismatch unless nanEqual') : ''
        return { ok: false, path, index: i, actual: x, expected: y, message: `${at(path)}${typeof as[j] === 'number' ? '' : `[${i}]`}: ${x} vs expected ${y} (rtol ${tol.rtol}, atol ${tol.atol}${nan})` }
      }
    }
  }
  return { ok: true }
}

/** Throws with the first mismatch's message unless the trees are close. */
export const assertAllClose = (actual: TreeLike<Leaf>, expected: TreeLike<Leaf>, tol?: Partial<Tolerance>): void => {
  const c = allClose(actual, expected, tol)
  if (!c.ok) throw new Error(`not close: ${c.message}`)
}
