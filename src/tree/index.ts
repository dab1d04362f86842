/**
 * Parameter trees: nested records and arrays whose leaves are tensors (or any non-container value).
 *
 * A value is a *node* when it is an array or a plain object (prototype `Object.prototype` or
 * `null`); everything else (a `Tensor`, a number, a boolean, a function) is a *leaf*. Record keys are
 * visited in sorted order, so `{ a, b }` and `{ b, a }` have the same structure and leaf order, as in
 * JAX's pytrees. Paths read like accessors: `layers[0].kernel`; the root is the empty path `''`.
 *
 * Every own enumerable string key is data, whatever it spells: `'__proto__'`, `'constructor'`,
 * digits, the empty string, non-ASCII. Records are built with `Object.fromEntries` (which defines
 * own properties) rather than assigned, so `{ ['__proto__']: x }` stays a record with that key;
 * keys that are not identifiers, and `__proto__`, are written in brackets: `a["__proto__"]`, `a["0"]`.
 *
 * Nesting is limited to `maxDepth` (1,000) levels: a deeper tree is refused with a
 * `TreeDepthError` (a `StructureError`) naming the path where the limit was reached, before any
 * leaf function is called, instead of overflowing the stack.
 *
 * Functions are data-last and curried where that reads well in a pipe:
 * `tree.map(f)(params)`, `tree.zipWith(f)(a, b)`, `tree.reduce(f, init)(t)`.
 *
 * Reference: the pytree model of JAX/Optax, which the lectures' parameter vector θ generalises.
 */
import { StructureError, TreeDepthError } from '../errors.js'

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

/**
 * The deepest nesting the tree functions accept: a leaf may sit under at most this many arrays and
 * records. Deeper trees throw a `TreeDepthError` (real parameter trees are a few levels deep; the
 * limit keeps every recursive walk far from the stack's end).
 */
export const maxDepth = 1000

/** True for arrays and plain objects, the two kinds of node; false for leaves. */
export const isNode = (value: unknown): value is readonly unknown[] | Record<string, unknown> => {
  if (Array.isArray(value)) return true
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * The path of a child: `a.b` for identifiers, `a[0]` for indices, `a["x y"]` and `a["__proto__"]`
 * otherwise (a `__proto__` accessor would not name an own key).
 *
 * @example
 * ```ts
 * tree.childPath(tree.childPath('layers', 0), '__proto__') // 'layers[0]["__proto__"]'
 * ```
 */
export const childPath = (parent: string, key: string | number): string =>
  typeof key === 'number'
    ? `${parent}[${key}]`
    : /^[A-Za-z_$][\w$]*$/.test(key) && key !== '__proto__'
      ? parent === '' ? key : `${parent}.${key}`
      : `${parent}[${JSON.stringify(key)}]`

const sortedKeys = (record: object): string[] => Object.keys(record).sort()

/** A record with exactly these own keys (`Object.fromEntries` defines properties, so `__proto__` is data). */
const recordOf = (entries: Iterable<readonly [string, unknown]>): Record<string, unknown> => Object.fromEntries(entries)

const leafStructure: Structure = Object.freeze({ kind: 'leaf' })

/** Throws the TreeDepthError for a non-empty node at `depth` whose children would pass the limit. */
const checkDepth = (depth: number, path: string, childCount: number): void => {
  if (depth >= maxDepth && childCount > 0) throw new TreeDepthError(path, maxDepth)
}

/** One depth-checked walk: the leaves, their paths and the structure, before any leaf is used. */
const walk = <A>(t: unknown): { leaves: A[]; paths: string[]; structure: Structure } => {
  const leaves: A[] = []
  const paths: string[] = []
  const go = (node: unknown, path: string, depth: number): Structure => {
    if (Array.isArray(node)) {
      checkDepth(depth, path, node.length)
      return { kind: 'array', children: node.map((c, i) => go(c, childPath(path, i), depth + 1)) }
    }
    if (isNode(node)) {
      const keys = sortedKeys(node)
      checkDepth(depth, path, keys.length)
      return { kind: 'record', keys, children: keys.map((k) => go((node as Record<string, unknown>)[k], childPath(path, k), depth + 1)) }
    }
    leaves.push(node as A)
    paths.push(path)
    return leafStructure
  }
  const structure = go(t, '', 0)
  return { leaves, paths, structure }
}

/**
 * Applies `f` to every leaf, keeping the structure. The whole tree is walked (and its depth
 * checked) before `f` is first called.
 *
 * @example
 * ```ts
 * tree.map((x: number) => 2 * x)({ a: 1, b: [2, 3] }) // { a: 2, b: [4, 6] }
 * ```
 */
export const map =
  <A, B>(f: (leaf: A, path: string) => B) =>
  (t: TreeLike<A>): Tree<B> => {
    const { leaves, paths, structure } = walk<A>(t)
    return unflatten(structure, leaves.map((x, i) => f(x, paths[i]!)))
  }

/**
 * The first place (in leaf order) where two trees' structures differ, or `undefined` when they
 * are the same.
 */
export const firstDifference = (a: unknown, b: unknown): { path: string; detail: string } | undefined => {
  const kind = (x: unknown) => (Array.isArray(x) ? 'array' : isNode(x) ? 'record' : 'leaf')
  const go = (x: unknown, y: unknown, path: string, depth: number): { path: string; detail: string } | undefined => {
    const kx = kind(x)
    const ky = kind(y)
    if (kx !== ky) return { path, detail: `${kx} vs ${ky}` }
    if (kx === 'array') {
      const xs = x as unknown[]
      const ys = y as unknown[]
      if (xs.length !== ys.length) return { path, detail: `array of length ${xs.length} vs ${ys.length}` }
      checkDepth(depth, path, xs.length)
      for (let i = 0; i < xs.length; i++) {
        const d = go(xs[i], ys[i], childPath(path, i), depth + 1)
        if (d) return d
      }
      return undefined
    }
    if (kx === 'record') {
      const all = [...new Set([...sortedKeys(x as object), ...sortedKeys(y as object)])].sort()
      checkDepth(depth, path, all.length)
      for (const k of all) {
        const inX = Object.prototype.hasOwnProperty.call(x, k)
        const inY = Object.prototype.hasOwnProperty.call(y, k)
        if (!inX || !inY) return { path: childPath(path, k), detail: inX ? 'missing in the second tree' : 'missing in the first tree' }
        const d = go((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], childPath(path, k), depth + 1)
        if (d) return d
      }
    }
    return undefined
  }
  return go(a, b, '', 0)
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
    const walks = trees.map((x) => walk(x))
    const { paths, structure } = walks[0]!
    return unflatten(structure, paths.map((path, j) => f(walks.map((w) => w.leaves[j]) as unknown as Ls, path)))
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
    const { leaves, paths } = walk<A>(t)
    return leaves.reduce((acc, x, i) => f(acc, x, paths[i]!), initial)
  }

/** The leaves in leaf order (records by sorted key, arrays by index). */
export const leaves = <A>(t: TreeLike<A>): A[] => walk<A>(t).leaves

/** The path of every leaf, in leaf order, e.g. `['layers[0].bias', 'layers[0].kernel']`. */
export const paths = (t: TreeLike<unknown>): string[] => walk(t).paths

/** The structure of a tree, reusable with `unflatten`. */
export const structureOf = (t: TreeLike<unknown>): Structure => walk(t).structure

/** Number of leaves a structure holds (checking its depth, and that each record has a child per key). */
export const leafCount = (s: Structure): number => {
  // paths are built only for an error message
  const go = (x: Structure, depth: number, at: () => string): number => {
    if (x.kind === 'leaf') return 1
    if (x.kind === 'record' && x.keys.length !== x.children.length) throw new StructureError(at(), `record structure with ${x.keys.length} keys and ${x.children.length} children`)
    if (depth >= maxDepth && x.children.length > 0) throw new TreeDepthError(at(), maxDepth)
    let n = 0
    x.children.forEach((c, i) => (n += go(c, depth + 1, () => childPath(at(), x.kind === 'array' ? i : x.keys[i]!))))
    return n
  }
  return go(s, 0, () => '')
}

/**
 * Splits a tree into its leaves and a reusable structure; `unflatten(structure, leaves)` inverts it.
 *
 * @example
 * ```ts
 * const { leaves, structure } = tree.flatten({ b: 2, a: [1] }) // leaves [1, 2]
 * tree.unflatten(structure, leaves.map((x) => x * 10)) // { a: [10], b: 20 }
 * ```
 */
export const flatten = <A>(t: TreeLike<A>): { readonly leaves: A[]; readonly structure: Structure } => {
  const { leaves, structure } = walk<A>(t)
  return { leaves, structure }
}

/** Rebuilds a tree from a structure and its leaves in leaf order; the count must match. */
export const unflatten = <A>(structure: Structure, items: readonly A[]): Tree<A> => {
  const expected = leafCount(structure)
  if (expected !== items.length) throw new StructureError('', `structure has ${expected} leaves but ${items.length} were given`)
  let next = 0
  // leafCount has checked the depth and the records
  const go = (s: Structure): unknown => {
    if (s.kind === 'leaf') return items[next++]
    if (s.kind === 'array') return s.children.map(go)
    return recordOf(s.keys.map((k, i) => [k, go(s.children[i]!)] as const))
  }
  return go(structure) as Tree<A>
}
