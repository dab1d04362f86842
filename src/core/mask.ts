/**
 * Masks: a tree of booleans with the params' structure, or a function of the params returning one.
 * A masked-out leaf (false) passes through a masked transformation unchanged.
 */
import { StructureError } from '../errors.js'
import * as tree from '../tree/index.js'
import type { Tree } from '../tree/index.js'
import type { Params } from './types.js'
import { refinement } from './validate.js'

/** A boolean tree shaped like the params, or a function computing it from the params. */
export type Mask = Tree<boolean> | ((params: Params) => Tree<boolean>)

/**
 * Codec of a mask option, checked when a transform is built: a boolean, a tree (object or array)
 * or a function, or undefined (every leaf). The tree's leaves are checked against the params when
 * it is used, by `maskLeaves`.
 */
export const maskCodec = refinement(
  'a tree of booleans shaped like the params, a function params => such a tree, or undefined',
  (u): u is Mask | undefined => u === undefined || typeof u === 'function' || typeof u === 'boolean' || (typeof u === 'object' && u !== null),
)

/**
 * The mask as one boolean per leaf of `reference` (the updates, or the params at init: errors call
 * it `referenceName`), in leaf order; throws a StructureError naming the first differing path, or
 * the path of a non-boolean leaf.
 */
export const maskLeaves = (transform: string, mask: Mask | undefined, reference: Params, params: Params | undefined, referenceName = 'updates'): boolean[] => {
  if (mask === undefined) return tree.leaves(reference).map(() => true)
  const m = typeof mask === 'function' ? mask((params ?? reference) as Params) : mask
  tree.assertSameStructure(reference, m, `${transform}: ${referenceName} vs mask`)
  const paths = tree.paths(m)
  return tree.leaves(m).map((b, i) => {
    if (typeof b !== 'boolean') throw new StructureError(paths[i]!, `${transform}: mask leaves must be booleans, got ${String(b)}`)
    return b
  })
}
