/**
 * Parameter trees: nested records and arrays whose leaves are tensors (or any non-container value).
 *
 * A value is a *node* when it is an array or a plain object (prototype `Object.prototype` or
 * `null`); everything else (a `Tensor`, a number, a boolean, a function) is a *leaf*. Record keys are
 * visited in sorted order, so `{ a, b }` and `{ b, a }` have the same structure and leaf order, as in
 * JAX's pytrees. Paths read like accessors: `layers[0].kernel`; the root is the empty path `''`.
 *
 * Functions are data-last and curried where that reads well in a pipe:
 * `tree.map(f)(params)`, `tree.zipWith(f)(a, b)`, `tree.reduce(f, init)(t)`.
 *
 * Reference: the pytree model of JAX/Optax, which the lectures' parameter vector θ generalises.
 */
import { StructureError } from '../errors.js'

/** A tree whose leaves have type `L`. */
export type Tree<L> = L | readonly Tree<L>[] | { readonly [key: string]: Tree<L> }

/**
 * What the tree functions accept: a `Tree<L>`, or any object whose fields are trees, such as the
 * state interfaces the transformations return (`ScaleByAdamState`, `ChainState<...>`), which
 * TypeScript does not consider assignable to an index signature.
 */
export type TreeLike<L> = Tree<L> | object

/** A reusable description of a tree's shape without its leaves (plain JSON data). */
export type Structure =
  | { readonly kind: 'leaf' }
  | { readonly kind: 'array'; readonly children: readonly Structure[] }
  | { readonly kind: 'record'; readonly keys: readonly string[]; readonly children: readonly Structure[] }

/** True for arrays and plain objects, the two kinds of node; false for leaves. */
export const isNode = (value: unknown): value is readonly unknown[] | Record<string, unknown> => {
  if (Array.isArray(value)) return true
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const childPath = (parent: string, key: string | number): string =>
  typeof key === 'number' ? `${parent}[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key)
    ? parent === '' ? key : `${parent}.${key}`
    : `${parent}[${JSON.stringify(key)}]`

const sortedKeys = (record: object): string[] => Object.keys(record).sort()

/**
 * Applies `f` to every leaf, keeping the structure.
 *
 * @example
 * ```ts
 * tree.map((x: number) => 2 * x)({ a: 1, b: [2, 3] }) // { a: 2, b: [4, 6] }
 * ```
 */
export const map =
  <A, B>(f: (leaf: A, path: string) => B) =>
  (t: TreeLike<A>): Tree<B> => {
    const go = (node: unknown, path: string): unknown => {
      if (Array.isArray(node)) return node.map((c, i) => go(c, childPath(path, i)))
      if (isNode(node)) {
        const out: Record<string, unknown> = {}
        for (const k of sortedKeys(node)) out[k] = go((node as Record<string, unknown>)[k], childPath(path, k))
        return out
      }
      return f(node as A, path)
    }
    return go(t, '') as Tree<B>
  }

/**
 * The first place (in leaf order) where two trees' structures differ, or `undefined` when they
 * are the same.
 */
export const firstDifference = (a: unknown, b: unknown): { path: string; detail: string } | undefined => {
  const kind = (x: unknown) => (Array.isArray(x) ? 'array' : isNode(x) ? 'record' : 'leaf')
  const go = (x: unknown, y: unknown, path: string): { path: string; detail: string } | undefined => {
    const kx = kind(x)
    const ky = kind(y)
    if (kx !== ky) return { path, detail: `${kx} vs ${ky}` }
    if (kx === 'array') {
      const xs = x as unknown[]
      const ys = y as unknown[]
      if (xs.length !== ys.length) return { path, detail: `array of length ${xs.length} vs ${ys.length}` }
      for (let i = 0; i < xs.length; i++) {
        const d = go(xs[i], ys[i], childPath(path, i))
        if (d) return d
      }
      return undefined
    }
    if (kx === 'record') {
      const xk = sortedKeys(x as object)
      const yk = sortedKeys(y as object)
      const all = [...new Set([...xk, ...yk])].sort()
      for (const k of all) {
        const inX = Object.prototype.hasOwnProperty.call(x, k)
        const inY = Object.prototype.hasOwnProperty.call(y, k)
        if (!inX || !inY) return { path: childPath(path, k), detail: inX ? 'missing in the second tree' : 'missing in the first tree' }
        const d = go((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], childPath(path, k))
        if (d) return d
      }
    }
    return undefined
  }
  return go(a, b, '')
}

/** True when two trees have the same structure (leaves are not compared). */
export const sameStructure = (a: unknown, b: unknown): boolean => firstDifference(a, b) === undefined

/** Throws a `StructureError` naming the first differing path unless `a` and `b` have one structure. */
export const assertSameStructure = (a: unknown, b: unknown, what = ''): void => {
  const d = firstDifference(a, b)
  if (d) throw new StructureError(d.path, what === '' ? d.detail : `${what}: ${d.detail}`)
}

/**
 * Combines the leaves of several trees of one structure with `f`; throws a `StructureError` naming
 * the first path where the trees differ, before calling `f` on anything.
 *
 * @example
 * ```ts
 * tree.zipWith(([a, b]: [number, number]) => a + b)({ x: 1 }, { x: 2 }) // { x: 3 }
 * ```
 */
export const zipWith =
  <Ls extends readonly unknown[], B>(f: (leaves: Ls, path: string) => B) =>
  (...trees: { readonly [K in keyof Ls]: TreeLike<Ls[K]> }): Tree<B> => {
    if (trees.length === 0) throw new StructureError('', 'zipWith needs at least one tree')
    for (let i = 1; i < trees.length; i++) assertSameStructure(trees[0], trees[i], `tree 0 vs tree ${i}`)
    const go = (nodes: readonly unknown[], path: string): unknown => {
      const first = nodes[0]
      if (Array.isArray(first)) return first.map((_, i) => go(nodes.map((n) => (n as unknown[])[i]), childPath(path, i)))
      if (isNode(first)) {
        const out: Record<string, unknown> = {}
        for (const k of sortedKeys(first)) out[k] = go(nodes.map((n) => (n as Record<string, unknown>)[k]), childPath(path, k))
        return out
      }
      return f(nodes as unknown as Ls, path)
    }
    return go(trees as readonly unknown[], '') as Tree<B>
  }

/**
 * Folds the leaves in leaf order.
 *
 * @example
 * ```ts
 * tree.reduce((acc: number, x: number) => acc + x, 0)([1, { a: 2 }]) // 3
 * ```
 */
export const reduce =
  <A, B>(f: (acc: B, leaf: A, path: string) => B, initial: B) =>
  (t: TreeLike<A>): B => {
    let acc = initial
    map((leaf: A, path) => {
      acc = f(acc, leaf, path)
      return leaf
    })(t)
    return acc
  }

/** The leaves in leaf order (records by sorted key, arrays by index). */
export const leaves = <A>(t: TreeLike<A>): A[] => reduce<A, A[]>((acc, x) => (acc.push(x), acc), [])(t)

/** The path of every leaf, in leaf order, e.g. `['layers[0].bias', 'layers[0].kernel']`. */
export const paths = (t: TreeLike<unknown>): string[] => reduce<unknown, string[]>((acc, _x, p) => (acc.push(p), acc), [])(t)

/** The structure of a tree, reusable with `unflatten`. */
export const structureOf = (t: TreeLike<unknown>): Structure => {
  if (Array.isArray(t)) return { kind: 'array', children: t.map(structureOf) }
  if (isNode(t)) {
    const keys = sortedKeys(t)
    return { kind: 'record', keys, children: keys.map((k) => structureOf((t as Record<string, Tree<unknown>>)[k]!)) }
  }
  return { kind: 'leaf' }
}

/** Number of leaves a structure holds. */
export const leafCount = (s: Structure): number =>
  s.kind === 'leaf' ? 1 : s.children.reduce((n, c) => n + leafCount(c), 0)

/**
 * Splits a tree into its leaves and a reusable structure; `unflatten(structure, leaves)` inverts it.
 *
 * @example
 * ```ts
 * const { leaves, structure } = tree.flatten({ b: 2, a: [1] }) // leaves [1, 2]
 * tree.unflatten(structure, leaves.map((x) => x * 10)) // { a: [10], b: 20 }
 * ```
 */
export const flatten = <A>(t: TreeLike<A>): { readonly leaves: A[]; readonly structure: Structure } => ({
  leaves: leaves(t),
  structure: structureOf(t),
})

/** Rebuilds a tree from a structure and its leaves in leaf order; the count must match. */
export const unflatten = <A>(structure: Structure, items: readonly A[]): Tree<A> => {
  const expected = leafCount(structure)
  if (expected !== items.length) throw new StructureError('', `structure has ${expected} leaves but ${items.length} were given`)
  let next = 0
  const go = (s: Structure): unknown => {
    if (s.kind === 'leaf') return items[next++]
    if (s.kind === 'array') return s.children.map(go)
    const out: Record<string, unknown> = {}
    s.keys.forEach((k, i) => (out[k] = go(s.children[i]!)))
    return out
  }
  return go(structure) as Tree<A>
}
