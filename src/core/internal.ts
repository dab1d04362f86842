/**
 * @internal Helpers that lift elementwise ops to trees: every structure, backend, shape and
 * liveness check runs over all leaves before any device work starts, so a bad input throws before
 * anything is half-applied.
 */
import { elementwise } from '../tensor/ops.js'
import { type ElementwiseOp, Tensor, checkOperands } from '../tensor/tensor.js'
import { BackendError } from '../errors.js'
import * as tree from '../tree/index.js'
import type { Params } from './types.js'

/** Names a tree in error messages, e.g. `['updates', updates]`. */
export type Named = readonly [name: string, value: Params]

/**
 * Applies `op` leaf by leaf over trees of one structure; returns one tree per output of `op`.
 * Throws (before computing anything) a StructureError / ShapeError / BackendError naming the path.
 */
export const elementwiseTree = (op: ElementwiseOp, named: readonly Named[], scalars: readonly number[] = []): Params[] => {
  const [firstName, first] = named[0]!
  for (let i = 1; i < named.length; i++) tree.assertSameStructure(first, named[i]![1], `${firstName} vs ${named[i]![0]}`)
  const paths = tree.paths(first)
  const columns = named.map(([, t]) => tree.leaves(t))
  const rows = paths.map((path, j) => {
    const row = columns.map((col, i) => {
      const leaf = col[j]
      if (!(leaf instanceof Tensor)) throw new BackendError(path, `${named[i]![0]} leaf is not a Tensor: ${String(leaf)}`)
      return leaf
    })
    checkOperands(row, path)
    return row
  })
  const results = rows.map((row, j) => elementwise(op, row, scalars, paths[j]))
  const structure = tree.structureOf(first)
  return op.outputs.map((_, k) => tree.unflatten(structure, results.map((r) => r[k]!)))
}

/** `Object.freeze` typed for state records. */
export const frozen = <S extends object>(s: S): Readonly<S> => Object.freeze(s)
