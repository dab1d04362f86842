/**
 * fast-check arbitraries of parameter trees over keys that ordinary arbitraries never draw: digits
 * and numeric-looking strings ("0", "01", "1e3", "-1", array-index-like "4294967294"), upper and
 * lower case, non-ASCII (combining marks, astral characters, lone surrogates), names of
 * `Object.prototype` members (`__proto__`, `constructor`, `toString`), separators that paths use
 * (".", "[0]", '"'), and the empty string, with records built in random insertion orders.
 */
import fc from 'fast-check'
import type { Tree } from '../src/index.js'

/**
 * The hand-picked awkward keys `treeKeyArb` draws most often: prototype members, numeric-looking
 * strings (JavaScript enumerates integer-like keys first, whatever the insertion order), case
 * pairs, non-ASCII and astral characters, path punctuation and the empty string.
 *
 * @example
 * ```ts
 * awkwardKeys.includes('__proto__') // true
 * ```
 */
export const awkwardKeys: readonly string[] = Object.freeze([
  '__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', 'prototype', 'length',
  '0', '01', '1', '9', '10', '1e3', '-1', '1.5', '-0', 'NaN', 'Infinity', '4294967294', '4294967295',
  '', ' ', 'A', 'B', 'Z', 'a', 'b', 'z', 'aB', 'Ab', '_', '$',
  'ü', 'é', 'e\u0301', 'ß', '日本', '😀', '\uFF5E', '\uD800',
  'a.b', 'a b', '[0]', '"', '\\', 'x-y',
])

/**
 * A record key: one of `awkwardKeys`, a short string of graphemes or of any code units (lone
 * surrogates included), a decimal integer, or a capitalised identifier.
 *
 * @example
 * ```ts
 * import fc from 'fast-check'
 * fc.sample(treeKeyArb, 5) // e.g. ['01', '__proto__', 'Q7', '\u{1F600}', '']
 * ```
 */
export const treeKeyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...awkwardKeys) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 2 }) },
  { weight: 1, arbitrary: fc.integer({ min: -20, max: 5000 }).map(String) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z][a-z0-9]{0,3}$/) },
)

/** A record with exactly these own keys, in this insertion order (`Object.fromEntries` makes `__proto__` an own key). */
const recordOf = <V>(entries: readonly (readonly [string, V])[]): Record<string, V> => Object.fromEntries(entries)

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/** The same tree with its leaves renumbered 0, 1, … in insertion order, so every leaf is distinct. */
const renumber = (t: Tree<number>): Tree<number> => {
  let next = 0
  const go = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(go)
    if (isRecord(x)) return recordOf(Object.keys(x).map((k) => [k, go(x[k])] as const))
    return next++
  }
  return go(t) as Tree<number>
}

/**
 * Trees of distinct number leaves (0, 1, … in insertion order) in arrays and records keyed by
 * `treeKeyArb`, each record built in a random key order, up to `maxDepth` levels (default 3).
 *
 * @example
 * ```ts
 * import fc from 'fast-check'
 * fc.assert(fc.property(keyedTreeArb(), (t) => predicates.flattenRoundTrips(t).ok))
 * ```
 */
export const keyedTreeArb = (maxDepth = 3): fc.Arbitrary<Tree<number>> => {
  const { t } = fc.letrec<{ t: Tree<number> }>((tie) => ({
    t: fc.oneof(
      { depthSize: 'small', maxDepth, withCrossShrink: true },
      fc.constant(0),
      fc.array(tie('t'), { maxLength: 3 }),
      fc.uniqueArray(fc.tuple(treeKeyArb, tie('t')), { maxLength: 5, selector: ([k]) => k }).map((es) => recordOf(es)),
    ),
  }))
  return t.map(renumber)
}

/** A new key for a record that has `keys`: an awkward key it lacks, else a fresh one. */
const freshKey = (keys: readonly string[], pick: number): string => {
  const free = awkwardKeys.filter((k) => !keys.includes(k))
  if (free.length > 0) return free[pick % free.length]!
  let k = `k${pick}`
  while (keys.includes(k)) k += '_'
  return k
}

type Edit = 'reorder' | 'rename' | 'drop' | 'add' | 'resize' | 'leafToNode' | 'nodeToLeaf' | 'arrayToRecord'

/**
 * Applies `edit` at the `target`-th node (records and arrays in walk order, modulo their count),
 * and rebuilds every record in a shuffled key order with leaves offset by 100 (same structure);
 * every edit but 'reorder' changes the structure.
 */
const edited = (t: Tree<number>, edit: Edit, target: number, shuffle: number): Tree<number> => {
  let nodes = 0
  const count = (x: unknown): void => {
    if (Array.isArray(x)) {
      nodes++
      x.forEach(count)
    } else if (isRecord(x)) {
      nodes++
      Object.keys(x).forEach((k) => count(x[k]))
    }
  }
  count(t)
  const at = nodes === 0 ? -1 : target % nodes
  let index = 0
  const rotate = <T>(xs: readonly T[]): T[] => (xs.length === 0 ? [] : [...xs.slice(shuffle % xs.length), ...xs.slice(0, shuffle % xs.length)].reverse())
  const go = (x: unknown): unknown => {
    if (Array.isArray(x)) {
      const here = index++ === at
      const children = x.map(go)
      if (!here || edit === 'reorder') return children
      if (edit === 'arrayToRecord') return recordOf(children.map((c, i) => [String(i), c] as const))
      if (edit === 'nodeToLeaf') return 7
      if (edit === 'leafToNode') {
        const leaf = children.findIndex((c) => typeof c === 'number')
        return leaf < 0 ? [...children, []] : children.map((c, i) => (i === leaf ? [] : c))
      }
      // rename, drop, add and resize of an array: one element fewer or more
      return children.length > 0 && shuffle % 2 === 0 ? children.slice(1) : [...children, 7]
    }
    if (isRecord(x)) {
      const here = index++ === at
      const keys = Object.keys(x)
      const entries: (readonly [string, unknown])[] = keys.map((k) => [k, go(x[k])] as const)
      if (here && edit !== 'reorder') {
        if (edit === 'nodeToLeaf') return 7
        if (edit === 'arrayToRecord') return entries.map(([, v]) => v)
        const leaf = entries.findIndex(([, v]) => typeof v === 'number')
        const i = keys.length === 0 ? -1 : shuffle % keys.length
        if (edit === 'leafToNode' && leaf >= 0) entries[leaf] = [entries[leaf]![0], []]
        else if (edit === 'rename' && i >= 0) entries[i] = [freshKey(keys, shuffle), entries[i]![1]]
        else if (edit === 'drop' && i >= 0) entries.splice(i, 1)
        else entries.push([freshKey(keys, shuffle), 7])
      }
      return recordOf(rotate(entries))
    }
    return (x as number) + 100
  }
  const out = go(t) as Tree<number>
  // a tree without nodes is one leaf: the only structural edit is to make it a node
  return nodes === 0 && edit !== 'reorder' ? (shuffle % 2 === 0 ? [] : {}) : out
}

/**
 * Pairs of trees (over `keyedTreeArb`) about half of which have one structure: the second is the
 * first with every record rebuilt in another key order and other leaf values, or with one edit
 * that changes the structure (a key renamed, dropped or added, an array resized, a node made a
 * leaf, an array made a record with keys "0", "1", … or back).
 *
 * @example
 * ```ts
 * import fc from 'fast-check'
 * fc.assert(fc.property(structurePairArb(), ([a, b]) => predicates.structureEqualityExact(a, b).ok))
 * ```
 */
export const structurePairArb = (maxDepth = 3): fc.Arbitrary<readonly [Tree<number>, Tree<number>]> =>
  fc
    .tuple(
      keyedTreeArb(maxDepth),
      fc.oneof(
        { weight: 5, arbitrary: fc.constant<Edit>('reorder') },
        { weight: 5, arbitrary: fc.constantFrom<Edit>('rename', 'drop', 'add', 'resize', 'leafToNode', 'nodeToLeaf', 'arrayToRecord') },
      ),
      fc.nat(),
      fc.nat(),
    )
    .map(([t, edit, target, shuffle]) => [t, edited(t, edit, target, shuffle)] as const)
