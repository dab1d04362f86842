/**
 * @internal Helpers that lift elementwise ops to trees: every structure, backend, shape and
 * liveness check runs over all leaves before any device work starts, so a bad input throws before
 * anything is half-applied.
 */
import * as t from 'io-ts'
import { elementwise, scope } from '../tensor/ops.js'
import { type ElementwiseOp, Tensor, adoptIntoParentScope, checkOperands, runInScope } from '../tensor/tensor.js'
import { BackendError, MissingParamsError, StructureError, describeValue } from '../errors.js'
import * as tree from '../tree/index.js'
import { countCodec, emptyStateCodec } from './state.js'
import { type FusionSpec, registerFusion } from './fusion.js'
import type { EmptyState, GradientTransformation, Params, UpdateExtras } from './types.js'

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

/**
 * Runs `fn`; if it throws, releases every tensor created inside it (and rethrows the error
 * unchanged), else keeps them all: they join the enclosing scope, so ownership on success is as
 * if `fn` had run without it. Unlike `scope`, nothing is released on success.
 */
export const releasingOnError = <R>(fn: () => R): R => {
  const { result, created } = runInScope(fn)
  adoptIntoParentScope([...created].filter((x) => x.backend.isLive(x)))
  return result
}

const kindOf = (v: unknown): string =>
  v === null || typeof v !== 'object' ? describeValue(v) : `a ${(Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'object'}`

/** Throws unless `updates` is a tensor or a tree (arrays, plain objects) whose leaves are all tensors. */
export const checkUpdates = (transform: string, updates: unknown): void => {
  if (!(updates instanceof Tensor) && !tree.isNode(updates)) {
    throw new StructureError('updates', `${transform}: updates must be a tree of tensors, got ${kindOf(updates)}`)
  }
  const leaves = tree.leaves(updates)
  const i = leaves.findIndex((x) => !(x instanceof Tensor))
  if (i >= 0) throw new BackendError(tree.paths(updates)[i]!, `updates leaf is not a Tensor: ${String(leaves[i])}`)
}

/** The fields a state codec requires (those of a `t.strict` / `t.type` record), with their codecs. */
const requiredFields = (codec: t.Mixed | undefined): readonly (readonly [string, t.Mixed])[] => {
  const inner: unknown = codec instanceof t.ExactType ? codec.type : codec
  if (!(inner instanceof t.InterfaceType)) return []
  return Object.entries(inner.props as Record<string, t.Mixed>).filter(([, c]) => !c.is(undefined))
}

// the transformations that need the params, by their update function (which `withIdentity` and
// other copies keep), with the name a MissingParamsError reports
const paramsNeeded = new WeakMap<object, string>()

// the check every update runs on its state, by update function: compileStep runs it too
const stateChecks = new WeakMap<object, (state: unknown) => void>()

const names = new WeakMap<object, string>()

/** The name a transformation was built with (`'adam'` for an alias, `'scaleByAdam'`, `'chain'`), or `'transformation'` for a user-written one. */
export const transformationName = (transform: { readonly update: object; readonly identity?: { readonly name: string } }): string =>
  transform.identity?.name ?? names.get(transform.update) ?? 'transformation'

/** Runs the state check of `transform`'s update (the one `update` itself runs first), if it has one. */
export const checkStateOf = (transform: { readonly update: object }, state: unknown): void => stateChecks.get(transform.update)?.(state)

/** The name of the transformation (or chain member) whose update needs the params, if any. */
export const paramsNeededBy = (transform: { readonly update: object }): string | undefined => paramsNeeded.get(transform.update)

/**
 * A transformation from its `init` and `update`, with the checks and the exception safety every
 * transformation shares. Before the body runs, `update` refuses (with a typed error naming what was
 * wrong) updates that are not a tree of tensors, a state that is not an object or lacks a field its
 * codec requires, and missing params when `needsParams` is set (`true`, or the name of the chain
 * member that needs them). `init` and `update` run in `releasingOnError`: when they throw, every
 * tensor they allocated is released.
 */
/** Freezes every record and array of a state, all the way down (tensors are immutable handles already). */
export const deepFreeze = <T>(value: T): T => {
  const go = (node: unknown): void => {
    if (!tree.isNode(node) || Object.isFrozen(node)) {
      // a frozen node may still hold unfrozen children built elsewhere: walk those too
      if (tree.isNode(node)) for (const child of Object.values(node)) go(child)
      return
    }
    Object.freeze(node)
    for (const child of Object.values(node)) go(child)
  }
  go(value)
  return value
}

export const transformation = <S>(
  name: string,
  body: GradientTransformation<S>,
  options: {
    readonly needsParams?: boolean | string | undefined
    /** Replaces the check that the state is an object with the fields its codec requires. */
    readonly checkState?: (state: unknown) => void
    /** How it runs inside a compiled step (`compileStep`); unfused when absent. */
    readonly fusion?: FusionSpec
  } = {},
): GradientTransformation<S> => {
  const fields = requiredFields(body.stateCodec)
  const needs = options.needsParams === true ? name : options.needsParams || undefined
  const expected = body.stateCodec?.name ?? 'object'
  const checkState =
    options.checkState ??
    ((state: unknown) => {
      if (typeof state !== 'object' || state === null) throw new StructureError('state', `${name}: state must be the ${expected} that init returned, got ${kindOf(state)}`)
      for (const [field] of fields) {
        if ((state as Record<string, unknown>)[field] === undefined) throw new StructureError(`state.${field}`, `${name}: state.${field} is missing (the state init returns is ${expected})`)
      }
    })
  const update = (updates: Params, state: S, params?: Params, extra?: UpdateExtras): readonly [Params, S] => {
    checkUpdates(name, updates)
    checkState(state)
    if (needs !== undefined && params === undefined) throw new MissingParamsError(needs)
    const [u, next] = releasingOnError(() => body.update(updates, state, params, extra))
    return [u, deepFreeze(next)] as const
  }
  if (needs !== undefined) paramsNeeded.set(update, needs)
  if (options.fusion) registerFusion(update, options.fusion)
  stateChecks.set(update, checkState)
  names.set(update, name)
  return frozen({ ...body, init: (params: Params) => deepFreeze(releasingOnError(() => body.init(params))), update })
}

const emptyState: EmptyState = frozen({})

/** A stateless transformation named `name` (see `transformation`); `f` gets the params too. */
export const statelessTransformation = (
  name: string,
  f: (updates: Params, params?: Params) => Params,
  options: { readonly needsParams?: boolean; readonly fusion?: FusionSpec } = {},
): GradientTransformation<EmptyState> =>
  transformation(name, { init: () => emptyState, update: (updates: Params, state: EmptyState, params?: Params) => [f(updates, params), state] as const, stateCodec: emptyStateCodec }, options)
