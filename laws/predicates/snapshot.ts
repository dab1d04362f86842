/**
 * @internal Comparing snapshots (`readTree` results: tensors read back as Float32Arrays, every other
 * leaf as it is) as data, for the predicates that compare whole states and argument trees.
 */
import { tree } from '../../src/index.js'
import type { Tree } from '../../src/index.js'
import { type Tolerance, allClose } from '../allclose.js'
import type { Comparison } from '../allclose.js'

/**
 * `actual` against `expected`: the same structure, tensors within `tol`, every other leaf
 * identical (`Object.is`). A failure's message starts with `what` (when given) and names the path.
 */
export const sameData = (actual: unknown, expected: unknown, tol: Tolerance, what = ''): Comparison => {
  const lead = what === '' ? '' : `${what} `
  const d = tree.firstDifference(actual, expected)
  if (d) return { ok: false, path: d.path, index: -1, actual: NaN, expected: NaN, message: `${lead}structure differs at ${d.path}: ${d.detail}` }
  const as = tree.leaves(actual as Tree<unknown>)
  const es = tree.leaves(expected as Tree<unknown>)
  const paths = tree.paths(actual as Tree<unknown>)
  for (let i = 0; i < as.length; i++) {
    const x = as[i]
    const y = es[i]
    if (x instanceof Float32Array && y instanceof Float32Array) {
      const c = allClose(x, y, tol)
      if (!c.ok) return { ...c, path: paths[i]!, message: `${lead}${paths[i]}: ${c.message}` }
    } else if (!Object.is(x, y)) {
      return { ok: false, path: paths[i]!, index: -1, actual: NaN, expected: NaN, message: `${lead}${paths[i]}: ${String(x)} vs ${String(y)}` }
    }
  }
  return { ok: true }
}
