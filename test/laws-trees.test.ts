/**
 * Tree laws over keys that test/tree-keys.test.ts's fixed list does not reach (laws/arbitraries-keys.ts):
 * numeric-looking strings ("01", "1e3", "-1", "4294967294"), upper and lower case, combining marks,
 * astral characters and lone surrogates, path punctuation, and records built in random insertion
 * orders. flatten/unflatten round trips (also through JSON), one leaf order for leaves, paths, map
 * and flatten with paths that resolve to their leaves, and structure equality exactly when the
 * structures are equal; then planted tree implementations each law must reject.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StructureError, type Tree, tree } from '../src/index.js'
import { keyedTreeArb, structurePairArb, treeKeyArb } from '../laws/arbitraries-keys.js'
import * as laws from '../laws/predicates/index.js'
import { propertyParameters } from '../laws/runners.js'

const holds = (r: laws.LawResult): boolean => {
  if (!r.ok) throw new Error(r.message)
  return true
}

describe('tree laws over arbitrary keys', () => {
  it('flatten/unflatten (and the structure through JSON text) round-trips, own keys and prototypes included', () =>
    fc.assert(fc.property(keyedTreeArb(), (t) => holds(laws.flattenRoundTrips(t))), propertyParameters(300)))

  it('leaves, paths, flatten and map agree on the documented order, and every path leads to its leaf', () =>
    fc.assert(fc.property(keyedTreeArb(), (t) => holds(laws.oneLeafOrder(t))), propertyParameters(300)))

  it('structures compare equal exactly when they are (either insertion order), and zipWith pairs leaves by path', () => {
    let [pairs, equal] = [0, 0]
    fc.assert(
      fc.property(structurePairArb(), ([a, b]) => {
        pairs++
        if (tree.sameStructure(a, b)) equal++
        return holds(laws.structureEqualityExact(a, b))
      }),
      propertyParameters(300),
    )
    // both answers are exercised (about half the pairs have one structure)
    if (pairs >= 100) expect([equal > pairs / 5, equal < (4 * pairs) / 5]).toEqual([true, true])
  })

  it('numeric-looking and cased keys are visited in code-unit order, not numerically, by locale or by insertion', () => {
    const keys = ['a', '10', 'B', '9', '01', '1e3', '-1', '\u{1F600}', '\uFF5E', 'é', 'e\u0301']
    const t = Object.fromEntries(keys.map((k, i) => [k, i]))
    expect(tree.paths(t)).toEqual(['["-1"]', '["01"]', '["10"]', '["1e3"]', '["9"]', 'B', 'a', '["e\u0301"]', '["é"]', '["\u{1F600}"]', '["\uFF5E"]'])
    expect(tree.leaves(t)).toEqual([6, 4, 1, 5, 3, 2, 0, 10, 9, 7, 8])
    expect(laws.oneLeafOrder(t).ok).toBe(true)
  })

  it('the key arbitrary draws the awkward kinds', () => {
    const sample = fc.sample(treeKeyArb, { numRuns: 2000, seed: 1 })
    for (const k of ['__proto__', 'constructor', '01', '1e3', '-1', '', 'B', '\uD800']) expect(sample).toContain(k)
    expect(sample.some((k) => /^[A-Z]/.test(k) && k.length > 1)).toBe(true)
  })
})

// ---- planted tree implementations ----------------------------------------------------------

interface Variant {
  /** The order of a record's keys. */
  readonly order?: (keys: string[]) => string[]
  /** The path of a record key under a parent. */
  readonly keyPath?: (parent: string, key: string) => string
  /** How unflatten builds a record. */
  readonly build?: (entries: readonly (readonly [string, unknown])[]) => Record<string, unknown>
  /** sameStructure's view of a node: false to compare arrays and records alike, by their keys. */
  readonly kinds?: boolean
}

/** A tree implementation written from the module's docs, with one aspect swapped by `variant`. */
const plantedTree = (variant: Variant = {}): laws.TreeFunctions => {
  const order = variant.order ?? ((ks) => ks.sort())
  const keyPath = variant.keyPath ?? ((parent, key) => tree.childPath(parent, key))
  const build = variant.build ?? ((es) => Object.fromEntries(es))
  const kinds = variant.kinds ?? true
  const isRecord = (x: unknown): x is Record<string, unknown> => tree.isNode(x) && !Array.isArray(x)
  const walk = (t: unknown) => {
    const leaves: unknown[] = []
    const paths: string[] = []
    const go = (x: unknown, path: string): tree.Structure => {
      if (Array.isArray(x)) return { kind: 'array', children: x.map((c, i) => go(c, tree.childPath(path, i))) }
      if (isRecord(x)) {
        const keys = order(Object.keys(x))
        return { kind: 'record', keys, children: keys.map((k) => go(x[k], keyPath(path, k))) }
      }
      leaves.push(x)
      paths.push(path)
      return { kind: 'leaf' }
    }
    return { structure: go(t, ''), leaves, paths }
  }
  const unflatten = (s: tree.Structure, items: readonly unknown[]): Tree<unknown> => {
    let next = 0
    const go = (x: tree.Structure): unknown => (x.kind === 'leaf' ? items[next++] : x.kind === 'array' ? x.children.map(go) : build(x.keys.map((k, i) => [k, go(x.children[i]!)] as const)))
    return go(s) as Tree<unknown>
  }
  const firstDifference = (a: unknown, b: unknown): { path: string; detail: string } | undefined => {
    const kind = (x: unknown) => (Array.isArray(x) ? (kinds ? 'array' : 'node') : isRecord(x) ? (kinds ? 'record' : 'node') : 'leaf')
    if (kind(a) !== kind(b)) return { path: '', detail: 'kind' }
    if (kind(a) === 'leaf') return undefined
    const [ka, kb] = [Object.keys(a as object).sort(), Object.keys(b as object).sort()]
    if (ka.join('\u0000') !== kb.join('\u0000') || ka.length !== kb.length) return { path: '', detail: 'keys' }
    for (const k of ka) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
      if (d) return d
    }
    return undefined
  }
  const impl: laws.TreeFunctions = {
    flatten: ((t: unknown) => {
      const { leaves, structure } = walk(t)
      return { leaves, structure }
    }) as typeof tree.flatten,
    unflatten: unflatten as typeof tree.unflatten,
    leaves: ((t: unknown) => walk(t).leaves) as typeof tree.leaves,
    paths: (t) => walk(t).paths,
    map: ((f: (x: unknown, path: string) => unknown) => (t: unknown) => {
      const { leaves, paths, structure } = walk(t)
      return unflatten(structure, leaves.map((x, i) => f(x, paths[i]!)))
    }) as typeof tree.map,
    zipWith: ((f: (xs: unknown[], path: string) => unknown) => (...ts: unknown[]) => {
      for (const t of ts.slice(1)) if (firstDifference(ts[0], t)) throw new StructureError('', 'structures differ')
      const walks = ts.map(walk)
      return unflatten(walks[0]!.structure, walks[0]!.paths.map((p, j) => f(walks.map((w) => w.leaves[j]), p)))
    }) as typeof tree.zipWith,
    firstDifference,
    sameStructure: (a, b) => firstDifference(a, b) === undefined,
  }
  return impl
}

describe('the tree laws catch planted implementations', () => {
  const laws3 = (impl: laws.TreeFunctions, t: Tree<unknown>, u: Tree<unknown>) => ({
    roundTrip: laws.flattenRoundTrips(t, impl).ok,
    order: laws.oneLeafOrder(t, impl).ok,
    structure: laws.structureEqualityExact(t, u, impl).ok,
  })
  const t = Object.fromEntries([['b', 1], ['10', 2], ['B', { '9': 3, '01': [4, 5], '10': 9 }], ['a.b', 6], ['__proto__', 7], ['a', { b: 8 }]]) as Tree<unknown>
  const reordered = Object.fromEntries([['a', { b: 18 }], ['__proto__', 17], ['B', { '10': 19, '01': [14, 15], '9': 13 }], ['a.b', 16], ['10', 12], ['b', 11]]) as Tree<unknown>

  it('a tree written from the docs passes all three laws (the laws accept what they should)', () => {
    expect(laws3(plantedTree(), t, reordered)).toEqual({ roundTrip: true, order: true, structure: true })
    expect(laws3(tree, t, reordered)).toEqual({ roundTrip: true, order: true, structure: true })
  })

  /** Whether the arbitraries find a counterexample to the law for `impl` (they must, for a planted bug). */
  const found = (law: 'order' | 'roundTrip' | 'structure', impl: laws.TreeFunctions) =>
    fc.check(
      law === 'structure'
        ? fc.property(structurePairArb(), ([a, b]) => laws.structureEqualityExact(a, b, impl).ok)
        : fc.property(keyedTreeArb(), (x) => (law === 'order' ? laws.oneLeafOrder(x, impl) : laws.flattenRoundTrips(x, impl)).ok),
      // a fixed count: FC_NUM_RUNS must not make a planted bug slip through
      { ...propertyParameters(300), numRuns: 300 },
    ).failed

  it('flatten that keeps insertion order (no sort): a different leaf order per key order, zipWith pairing by position', () => {
    const insertion = plantedTree({ order: (ks) => ks })
    expect(laws3(insertion, t, reordered)).toEqual({ roundTrip: true, order: false, structure: false })
    expect([found('order', insertion), found('structure', insertion)]).toEqual([true, true])
  })

  it('flatten that sorts keys by locale or numerically: not the documented code-unit order', () => {
    const byLocale = plantedTree({ order: (ks) => ks.sort((a, b) => a.localeCompare(b)) })
    const numeric = plantedTree({ order: (ks) => ks.sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : a > b ? 1 : 0)) })
    expect([laws3(byLocale, t, reordered).order, laws3(numeric, t, reordered).order]).toEqual([false, false])
    expect([found('order', byLocale), found('order', numeric)]).toEqual([true, true])
  })

  it('paths that write every key after a dot: "a.b" the key and a → b collide, ["01"] reads as .01', () => {
    const dotted = plantedTree({ keyPath: (parent, key) => (parent === '' ? key : `${parent}.${key}`) })
    expect([laws.oneLeafOrder(t, dotted).ok, found('order', dotted)]).toEqual([false, true])
  })

  it('unflatten that assigns keys (record[k] = v): "__proto__" becomes the prototype, not a key', () => {
    const assigning = plantedTree({
      build: (es) => {
        const r: Record<string, unknown> = {}
        for (const [k, v] of es) r[k] = v
        return r
      },
    })
    expect([laws3(assigning, t, reordered).roundTrip, found('roundTrip', assigning)]).toEqual([false, true])
  })

  it('sameStructure that compares arrays and records by their keys alike: [x, y] equals { "0": x, "1": y }', () => {
    const loose = plantedTree({ kinds: false })
    expect(laws.structureEqualityExact([1, 2], { '0': 1, '1': 2 }, loose).ok).toBe(false)
    expect(laws.structureEqualityExact([1, 2], { '0': 1, '1': 2 }).ok).toBe(true)
    // and the pair arbitrary finds it
    expect(found('structure', loose)).toBe(true)
  })
})
