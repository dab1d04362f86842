/**
 * @internal Helpers that lift elementwise ops to trees: every structure, backend, shape and
 * liveness check runs over all leaves before any device work starts, so a bad input throws before
 * anything is half-applied.
 */
import { elementwise, scope } from '../tensor/ops.js'
import { type ElementwiseOp, Tensor, checkOperands } from '../tensor/tensor.js'
import { BackendError, MissingParamsError, StructureError } from '../errors.js'
import * as tree from '../tree/index.js'
import { countCodec } from './state.js'
import type { Params } from './types.js'

/** Names a tree in error messages, e.g. `['updates', updates]`. */
export type Named = readonly [name: string, value: Params]

/**
 * The leaves of several trees of one structure, row by row, after checking (before any device work)
 * that structures match and each row's tensors share backend and shape; errors name the path.
 */
export const leafRows = (named: readonly Named[]): { rows: Tensor[][]; paths: string[]; structure: tree.Structure } => {
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
  return { rows, paths, structure: tree.structureOf(first) }
}

/**
 * Applies `f` leaf by leaf over trees of one structure (checked first, see `leafRows`); `f` returns
 * `outputs` tensors per leaf, and the result is one tree per output.
 */
export const mapLeaves = (
  named: readonly Named[],
  outputs: number,
  f: (leaves: Tensor[], path: string, index: number) => Tensor[],
): Params[] => {
  const { rows, paths, structure } = leafRows(named)
  // inside a scope, so a failure at a later leaf releases what earlier leaves made
  return scope(() => {
    const results = rows.map((row, j) => f(row, paths[j]!, j))
    return Array.from({ length: outputs }, (_, k) => tree.unflatten(structure, results.map((r) => r[k]!)))
  })
}

/**
 * Applies `op` leaf by leaf over trees of one structure; returns one tree per output of `op`.
 * Throws (before computing anything) a StructureError / ShapeError / BackendError naming the path.
 */
export const elementwiseTree = (op: ElementwiseOp, named: readonly Named[], scalars: readonly number[] = []): Params[] =>
  mapLeaves(named, op.outputs.length, (row, path) => elementwise(op, row, scalars, path))

/** The params, or a MissingParamsError naming the transform. */
export const requireParams = (transform: string, params: Params | undefined): Params => {
  if (params === undefined) throw new MissingParamsError(transform)
  return params
}

/** Checks a step counter read from a state (`state[field]`, default `count`). */
export const checkCount = (transform: string, count: unknown, field = 'count'): number => {
  if (!countCodec.is(count)) throw new StructureError(field, `${transform}: state.${field} must be ${countCodec.name}, got ${String(count)}`)
  return count
}

/** `Object.freeze` typed for state records. */
export const frozen = <S extends object>(s: S): Readonly<S> => Object.freeze(s)
