/**
 * Laws of the tree functions over arbitrary keys, as pure predicates over a tree (or two) and an
 * implementation of the tree functions (fluxion's `tree` by default, or a variant under test). The
 * expected answers come from a naive reference walk in this file: a node is an array or an object
 * whose prototype is `Object.prototype` or null, record keys are visited in code-unit order
 * (`Array.prototype.sort`'s default), arrays by index.
 */
import { StructureError, type Tree, tree } from '../../src/index.js'
import type { LawResult } from './transform.js'

/** The tree functions the laws exercise, as `tree` exports them. */
export interface TreeFunctions {
  readonly flatten: typeof tree.flatten
  readonly unflatten: typeof tree.unflatten
  readonly map: typeof tree.map
  readonly leaves: typeof tree.leaves
  readonly paths: typeof tree.paths
  readonly zipWith: typeof tree.zipWith
  readonly sameStructure: typeof tree.sameStructure
  readonly firstDifference: typeof tree.firstDifference
}

type Segment = string | number

/** A leaf holding the two leaves `zipWith` combined (a class instance, so not a node itself). */
class Pair {
  constructor(
    readonly x: unknown,
    readonly y: unknown,
  ) {}
}

const fail = (message: string, path = ''): LawResult => ({ ok: false, path, index: -1, actual: NaN, expected: NaN, message })
const show = (s: readonly Segment[]) => (s.length === 0 ? '<root>' : s.map((x) => `[${JSON.stringify(x)}]`).join(''))

const isRecord = (x: unknown): x is Record<string, unknown> => {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return false
  const proto = Object.getPrototypeOf(x)
  return proto === Object.prototype || proto === null
}
const own = (x: Record<string, unknown>, k: string): unknown => Object.getOwnPropertyDescriptor(x, k)?.value
const codeUnitOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
const keysOf = (x: Record<string, unknown>) => Object.keys(x).sort(codeUnitOrder)

/** The reference leaf order: each leaf with the segments that lead to it. */
const referenceWalk = (t: unknown): { segments: Segment[]; leaf: unknown }[] => {
  const out: { segments: Segment[]; leaf: unknown }[] = []
  const go = (x: unknown, at: Segment[]) => {
    if (Array.isArray(x)) x.forEach((c, i) => go(c, [...at, i]))
    else if (isRecord(x)) for (const k of keysOf(x)) go(own(x, k), [...at, k])
    else out.push({ segments: at, leaf: x })
  }
  go(t, [])
  return out
}

/** The reference structure as a string: kinds, array lengths and record key sets, recursively. */
const canonical = (t: unknown): string => {
  if (Array.isArray(t)) return `[${t.map(canonical).join(',')}]`
  if (isRecord(t)) return `{${keysOf(t).map((k) => `${JSON.stringify(k)}:${canonical(own(t, k))}`).join(',')}}`
  return '*'
}

/** The first place where `actual` is not `expected` as own-key data (records as plain objects with exactly those keys). */
const differenceAt = (actual: unknown, expected: unknown, at: Segment[] = []): string | undefined => {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length || Object.keys(actual).length !== expected.length) return `${show(at)}: expected an array of length ${expected.length}`
    for (let i = 0; i < expected.length; i++) {
      const d = differenceAt(actual[i], expected[i], [...at, i])
      if (d) return d
    }
    return undefined
  }
  if (isRecord(expected)) {
    if (!isRecord(actual) || Object.getPrototypeOf(actual) !== Object.prototype) return `${show(at)}: expected a plain record`
    const [ka, ke] = [keysOf(actual), keysOf(expected)]
    if (ka.length !== ke.length || ka.some((k, i) => k !== ke[i])) return `${show(at)}: own keys ${JSON.stringify(ka)}, expected ${JSON.stringify(ke)}`
    for (const k of ke) {
      const d = differenceAt(own(actual, k), own(expected, k), [...at, k])
      if (d) return d
    }
    return undefined
  }
  return Object.is(actual, expected) ? undefined : `${show(at)}: leaf ${String(actual)}, expected ${String(expected)}`
}

/**
 * Parses a path as the tree module documents it: identifiers after dots (`a.b`, never
 * `__proto__`), indices in brackets (`[0]`), any other key as a JSON string in brackets
 * (`["0"]`, `["__proto__"]`). Undefined when the text is not such a path.
 */
const parsePath = (path: string): Segment[] | undefined => {
  const out: Segment[] = []
  let i = 0
  const ident = /^[A-Za-z_$][\w$]*/
  while (i < path.length) {
    if (path[i] === '[') {
      if (path[i + 1] === '"') {
        let j = i + 2
        while (j < path.length && path[j] !== '"') j += path[j] === '\\' ? 2 : 1
        if (path[j + 1] !== ']') return undefined
        out.push(JSON.parse(path.slice(i + 1, j + 1)) as string)
        i = j + 2
      } else {
        const m = /^\[(0|[1-9]\d*)\]/.exec(path.slice(i))
        if (!m) return undefined
        out.push(Number(m[1]))
        i += m[0].length
      }
    } else {
      if (out.length > 0 && path[i++] !== '.') return undefined
      const m = ident.exec(path.slice(i))
      if (!m || m[0] === '__proto__') return undefined
      out.push(m[0])
      i += m[0].length
    }
  }
  return out
}

/** The value at `segments`: numbers index arrays, strings name own keys of records. */
const resolve = (t: unknown, segments: readonly Segment[]): { found: boolean; value?: unknown } => {
  let x = t
  for (const s of segments) {
    if (typeof s === 'number' ? !Array.isArray(x) || s >= x.length : !isRecord(x) || !Object.prototype.hasOwnProperty.call(x, s)) return { found: false }
    x = typeof s === 'number' ? (x as unknown[])[s] : own(x as Record<string, unknown>, s)
  }
  return { found: true, value: x }
}

/**
 * Round trip: `unflatten(structure, leaves)` of `flatten(t)` rebuilds t as data — arrays of the
 * same length, plain records with exactly t's own keys (`__proto__` and `constructor` included),
 * the same leaves (`Object.is`) — also after the structure goes through JSON text; `map` of the
 * identity rebuilds it too.
 */
export const flattenRoundTrips = (t: Tree<unknown>, impl: TreeFunctions = tree): LawResult => {
  const { leaves, structure } = impl.flatten(t)
  const back = differenceAt(impl.unflatten(structure, leaves), t)
  if (back) return fail(`unflatten(flatten(t)) differs at ${back}`)
  const viaJson = differenceAt(impl.unflatten(JSON.parse(JSON.stringify(structure)) as tree.Structure, leaves), t)
  if (viaJson) return fail(`unflatten of the structure read back from JSON differs at ${viaJson}`)
  const mapped = differenceAt(impl.map((x: unknown) => x)(t), t)
  return mapped ? fail(`map(identity)(t) differs at ${mapped}`) : { ok: true }
}

/**
 * One leaf order: `leaves`, `flatten`'s leaves, `paths` and the calls `map` makes all follow the
 * documented order (record keys sorted by code unit, arrays by index); each path is a well-formed
 * accessor (identifiers after dots, indices and JSON-quoted keys in brackets) that leads from the
 * root to its leaf, and no two leaves share a path.
 */
export const oneLeafOrder = (t: Tree<unknown>, impl: TreeFunctions = tree): LawResult => {
  const expected = referenceWalk(t)
  const leaves = impl.leaves(t)
  const paths = impl.paths(t)
  const flat = impl.flatten(t).leaves
  const calls: [unknown, string][] = []
  const mapped = impl.map((x: unknown, path: string) => (calls.push([x, path]), path))(t)
  if (leaves.length !== expected.length || paths.length !== expected.length) return fail(`${leaves.length} leaves and ${paths.length} paths, expected ${expected.length}`)
  for (let i = 0; i < expected.length; i++) {
    const want = expected[i]!
    if (!Object.is(leaves[i], want.leaf)) return fail(`leaf ${i} is ${String(leaves[i])}, but the leaf at ${show(want.segments)} (the documented order) is ${String(want.leaf)}`)
    if (!Object.is(flat[i], want.leaf)) return fail(`flatten's leaf ${i} is ${String(flat[i])}, leaves() says ${String(want.leaf)}`)
    if (!calls[i] || !Object.is(calls[i]![0], want.leaf) || calls[i]![1] !== paths[i]) return fail(`map's call ${i} got (${String(calls[i]?.[0])}, ${JSON.stringify(calls[i]?.[1])}), expected (${String(want.leaf)}, ${JSON.stringify(paths[i])})`)
    const segments = parsePath(paths[i]!)
    if (!segments) return fail(`path ${JSON.stringify(paths[i])} of leaf ${i} is not a well-formed accessor`, paths[i])
    const at = resolve(t, segments)
    if (!at.found || !Object.is(at.value, want.leaf)) return fail(`path ${JSON.stringify(paths[i])} of leaf ${i} leads to ${at.found ? String(at.value) : 'nothing'}, not to ${String(want.leaf)}`, paths[i])
  }
  if (calls.length !== expected.length) return fail(`map called its function ${calls.length} times for ${expected.length} leaves`)
  if (new Set(paths).size !== paths.length) return fail(`two leaves share a path: ${JSON.stringify(paths)}`)
  const placed = impl.leaves(mapped as Tree<unknown>)
  const wrong = placed.findIndex((p, i) => p !== paths[i])
  return wrong < 0 ? { ok: true } : fail(`map put leaf ${wrong}'s result where leaves() finds ${JSON.stringify(placed[wrong])}, not ${JSON.stringify(paths[wrong])}`)
}

/**
 * Structures compare equal exactly when they are: `sameStructure(a, b)` (both ways) and
 * `firstDifference(a, b) === undefined` hold exactly when a and b have the same kinds of node,
 * array lengths and record key sets all the way down, whatever the keys' insertion order; then
 * `zipWith` pairs the leaves at equal paths, and otherwise it throws a StructureError.
 */
export const structureEqualityExact = (a: Tree<unknown>, b: Tree<unknown>, impl: TreeFunctions = tree): LawResult => {
  const same = canonical(a) === canonical(b)
  const answers = { 'sameStructure(a, b)': impl.sameStructure(a, b), 'sameStructure(b, a)': impl.sameStructure(b, a), 'firstDifference(a, b) === undefined': impl.firstDifference(a, b) === undefined }
  for (const [what, answer] of Object.entries(answers)) if (answer !== same) return fail(`${what} is ${answer}, but the structures are ${same ? 'the same' : 'different'}: ${canonical(a)} vs ${canonical(b)}`)
  let zipped: Tree<unknown>
  try {
    zipped = impl.zipWith(([x, y]: readonly [unknown, unknown]) => new Pair(x, y))(a, b)
  } catch (e) {
    return same || !(e instanceof StructureError) ? fail(`zipWith threw ${String(e)} on ${same ? 'one structure' : 'two structures'}`) : { ok: true }
  }
  if (!same) return fail('zipWith combined two trees of different structures without a StructureError')
  const ra = referenceWalk(a)
  const rb = referenceWalk(b)
  const pairs = impl.leaves(zipped) as Pair[]
  for (let i = 0; i < ra.length; i++) {
    if (!pairs[i] || !Object.is(pairs[i]!.x, ra[i]!.leaf) || !Object.is(pairs[i]!.y, rb[i]!.leaf)) return fail(`zipWith's leaf ${i} pairs ${String(pairs[i]?.x)} with ${String(pairs[i]?.y)}, expected the leaves at ${show(ra[i]!.segments)}: ${String(ra[i]!.leaf)} and ${String(rb[i]!.leaf)}`)
  }
  return { ok: true }
}
