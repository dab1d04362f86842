/**
 * Every own key is data (issue 12, item 5): `"__proto__"`, `"constructor"`, digits, the empty
 * string and non-ASCII keys survive every tree function, the params codec and a save/load round
 * trip; and nesting past `tree.maxDepth` is refused with a TreeDepthError before anything is
 * computed (issue 12, item 10), for the tree functions and for `loadState` on 20,000-deep JSON.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StoredTensor, loadState, maxJsonDepth, paramsCodec, saveState, tensorCodec } from '../src/core/state.js'
import { StructureError, TreeDepthError } from '../src/errors.js'
import { type Tensor, type Tree, adam, applyUpdates, cpu, dispose, fromArray, liveTensors, readTree, scope, trace, tree } from '../src/index.js'
import { propertyParameters } from '../laws/runners.js'
import { caught } from './helpers.js'

const awkward = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '0', '10', '', 'ü', 'x y', 'a'] as const

/** A record with exactly these own keys, whatever they spell. */
const record = <V>(entries: readonly (readonly [string, V])[]): Record<string, V> => Object.fromEntries(entries)

/** Deep equality over own keys only, prototypes included (toEqual's view of `__proto__` is not the point here). */
const sameTree = (a: unknown, b: unknown): boolean => {
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameTree(x, b[i]))
  if (tree.isNode(a)) {
    if (!tree.isNode(b) || Array.isArray(b) || Object.getPrototypeOf(b) !== Object.prototype) return false
    const ka = Object.keys(a).sort()
    const kb = Object.keys(b).sort()
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameTree((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  }
  return Object.is(a, b)
}

const treeArb: fc.Arbitrary<Tree<number>> = fc.letrec<{ t: Tree<number> }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer(),
    fc.array(tie('t'), { maxLength: 3 }),
    fc.uniqueArray(fc.tuple(fc.constantFrom(...awkward), tie('t')), { maxLength: 4, selector: ([k]) => k }).map((es) => record(es)),
  ),
})).t

const sample = () => JSON.parse('{"__proto__": 1, "constructor": 2, "0": 3, "": 4, "ü": 5, "a": {"__proto__": [6, 7]}}') as Tree<number>

describe('every own key is data', () => {
  it('JSON.parse and Object.fromEntries make "__proto__" an own key (the premise)', () => {
    const t = sample() as Record<string, unknown>
    expect(Object.hasOwn(t, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype)
    expect(Object.hasOwn(record([['__proto__', 1]]), '__proto__')).toBe(true)
  })

  it('map, leaves, paths and structureOf keep "__proto__", "constructor", digits, "" and non-ASCII keys', () => {
    const t = sample()
    expect(tree.paths(t)).toEqual(['[""]', '["0"]', '["__proto__"]', 'a["__proto__"][0]', 'a["__proto__"][1]', 'constructor', '["ü"]'])
    expect(tree.leaves(t)).toEqual([4, 3, 1, 6, 7, 2, 5])
    const m = tree.map((x: number, path) => `${path}=${x * 10}`)(t) as Record<string, unknown>
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype)
    expect(Object.keys(m).sort()).toEqual(['', '0', '__proto__', 'a', 'constructor', 'ü'])
    expect(Object.getOwnPropertyDescriptor(m, '__proto__')?.value).toBe('["__proto__"]=10')
    expect(Array.isArray(Object.getOwnPropertyDescriptor(m.a, '__proto__')?.value)).toBe(true)
    const s = tree.structureOf(t)
    expect(s.kind === 'record' && s.keys).toEqual(['', '0', '__proto__', 'a', 'constructor', 'ü'])
  })

  it('flatten then unflatten and zipWith rebuild records with those keys as own properties', () => {
    const t = sample()
    const { leaves, structure } = tree.flatten(t)
    expect(sameTree(tree.unflatten(structure, leaves), t)).toBe(true)
    const z = tree.zipWith(([a, b]: readonly [number, number]) => a + b)(t, tree.map((x: number) => 100 * x)(t))
    expect(sameTree(z, tree.map((x: number) => 101 * x)(t))).toBe(true)
    expect(Object.getOwnPropertyDescriptor(z, '__proto__')?.value).toBe(101)
  })

  it('firstDifference names an own "__proto__" or "constructor" key that only one tree has', () => {
    expect(tree.firstDifference(record([['__proto__', 1]]), {})).toEqual({ path: '["__proto__"]', detail: 'missing in the second tree' })
    expect(tree.firstDifference({}, record([['constructor', 1]]))).toEqual({ path: 'constructor', detail: 'missing in the first tree' })
    expect(caught(() => tree.zipWith(([a]: readonly [number, number]) => a)(record([['__proto__', 1]]), { x: 1 }))).toBeInstanceOf(StructureError)
  })

  it('every tree function round-trips trees whose keys are any of the awkward ones', () => {
    fc.assert(
      fc.property(treeArb, (t) => {
        const { leaves, structure } = tree.flatten(t)
        const mapped = tree.map((x: number) => x)(t)
        return (
          sameTree(tree.unflatten(structure, leaves), t) &&
          sameTree(mapped, t) &&
          sameTree(tree.zipWith(([a]: readonly [number, number]) => a)(t, mapped), t) &&
          new Set(tree.paths(t)).size === leaves.length &&
          tree.sameStructure(mapped, t)
        )
      }),
      propertyParameters(300),
    )
  })

  it('paramsCodec decodes and encodes records with "__proto__" and "constructor" keys', () => {
    const json = JSON.parse(`{"__proto__": ${JSON.stringify(tensorCodec.encode(new StoredTensor([1], Float32Array.of(1))))}, "constructor": []}`)
    const r = paramsCodec.decode(json)
    expect(r._tag).toBe('Right')
    const decoded = (r as { right: Record<string, unknown> }).right
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toBeInstanceOf(StoredTensor)
    expect(decoded.constructor).toEqual([])
    expect(paramsCodec.is(decoded)).toBe(true)
    const encoded = paramsCodec.encode(decoded) as Record<string, unknown>
    expect(Object.keys(encoded).sort()).toEqual(['__proto__', 'constructor'])
    expect(JSON.parse(JSON.stringify(encoded))).toEqual(json)
  })

  it('an optimizer steps, saves and loads params named "__proto__" and "constructor"', async () => {
    const live = liveTensors(cpu)
    const params = record<Tensor | Record<string, Tensor>>([
      ['__proto__', fromArray([1, -2])],
      ['constructor', record([['__proto__', fromArray([3])]])],
    ])
    const opt = adam({ learningRate: 0.1 })
    const s0 = opt.init(params)
    // scope: the chain's intermediate updates are released
    const [u, state] = scope(() => opt.update(params, s0, params))
    const next = applyUpdates(params, u)
    expect(Object.hasOwn(next, '__proto__')).toBe(true)
    const json = JSON.parse(JSON.stringify(await saveState(opt, state)))
    const loaded = loadState(opt, json, cpu, { params })
    const mu = (loaded as unknown as [{ mu: Record<string, unknown> }])[0].mu
    expect(Object.keys(mu).sort()).toEqual(['__proto__', 'constructor'])
    expect(await readTree(loaded)).toEqual(await readTree(state))
    dispose([params, s0, u, state, next, loaded])
    expect(liveTensors(cpu)).toBe(live)
  })
})

/** `{ a: { a: … leaf } }` with `depth` records above the leaf, built without recursion. */
const nested = (depth: number, leaf: unknown = 1, wrap: (x: unknown) => unknown = (x) => ({ a: x })): Tree<number> => {
  let t = leaf
  for (let i = 0; i < depth; i++) t = wrap(t)
  return t as Tree<number>
}

describe('nesting deeper than tree.maxDepth is refused, never a stack overflow', () => {
  it('the limit is 1,000 levels: a leaf under 1,000 nodes is fine, one more level is refused', () => {
    expect(tree.maxDepth).toBe(1000)
    const ok = nested(1000)
    expect(tree.leaves(ok)).toEqual([1])
    expect(tree.paths(ok)[0]).toBe(Array(1000).fill('a').join('.'))
    expect(tree.leaves(tree.map((x: number) => x + 1)(ok))).toEqual([2])
    const { leaves, structure } = tree.flatten(ok)
    expect(tree.sameStructure(tree.unflatten(structure, leaves), ok)).toBe(true)
    expect(tree.leaves(nested(1000, 1, (x) => [x]))).toEqual([1])
    // an empty node at the limit has no children past it
    expect(tree.leaves(nested(1000, {}))).toEqual([])
    const e = caught(() => tree.leaves(nested(1001)))
    expect(e).toBeInstanceOf(TreeDepthError)
    expect((e as TreeDepthError).path).toBe(Array(1000).fill('a').join('.'))
  })

  it('a 5,000-deep tree throws a TreeDepthError (a StructureError naming the path prefix) from every tree function', () => {
    const deep = nested(5000)
    const deepArrays = nested(5000, 1, (x) => [x])
    const deepStructure = nested(5000, { kind: 'leaf' }, (x) => ({ kind: 'array', children: [x] })) as unknown as tree.Structure
    const calls: (() => unknown)[] = [
      () => tree.map((x: number) => x)(deep),
      () => tree.map((x: number) => x)(deepArrays),
      () => tree.zipWith(([a]: readonly [number, number]) => a)(deep, deep),
      () => tree.reduce((a: number, x: number) => a + x, 0)(deep),
      () => tree.leaves(deep),
      () => tree.paths(deepArrays),
      () => tree.flatten(deep),
      () => tree.structureOf(deep),
      () => tree.firstDifference(deep, deep),
      () => tree.assertSameStructure(deepArrays, deepArrays),
      () => tree.leafCount(deepStructure),
      () => tree.unflatten(deepStructure, [1]),
    ]
    for (const call of calls) {
      const e = caught(call)
      expect(e).toBeInstanceOf(TreeDepthError)
      expect(e).toBeInstanceOf(StructureError)
      expect((e as TreeDepthError).limit).toBe(1000)
      expect(e.message).toMatch(/^tree nested deeper than 1000 levels at (a\.a\.a|\[0\]\[0\]\[0\]|<root>|\[0\]\.a|a\.)/)
      expect(e.message.length).toBeLessThan(160)
    }
  })

  it('the leaf function is not called at all when any branch is too deep', () => {
    let calls = 0
    const t = { a: 1, b: [2, 3], z: nested(5000) }
    expect(caught(() => tree.map((x: number) => (calls++, x))(t))).toBeInstanceOf(TreeDepthError)
    expect(caught(() => tree.zipWith(([x]: readonly [number, number]) => (calls++, x))(t, t))).toBeInstanceOf(TreeDepthError)
    expect(caught(() => tree.reduce((acc: number, x: number) => (calls++, acc + x), 0)(t))).toBeInstanceOf(TreeDepthError)
    expect(calls).toBe(0)
  })

  it('loadState refuses 20,000-deep JSON with a TreeDepthError before decoding or allocating, with or without an envelope', async () => {
    const opt = trace({ decay: 0.9 })
    const params = { w: fromArray([1, 2]) }
    const s0 = opt.init(params)
    const envelope = await saveState(opt, s0)
    const live = liveTensors(cpu)
    const deep = nested(20_000, tensorCodec.encode(new StoredTensor([1], Float32Array.of(1))))
    for (const json of [{ ...envelope, state: { trace: deep } }, { trace: deep }, nested(20_000, null, (x) => [x])]) {
      const e = caught(() => loadState(opt, json, cpu, { acceptLegacy: true, onWarning: () => undefined }))
      expect(e).toBeInstanceOf(TreeDepthError)
      expect((e as TreeDepthError).limit).toBe(maxJsonDepth)
      expect(e.message.length).toBeLessThan(160)
    }
    expect(liveTensors(cpu)).toBe(live)
    dispose([params, s0])
  })

  it('an optimizer steps, saves and loads params nested 990 levels deep', async () => {
    const params = nested(990, fromArray([1, -2])) as unknown as Tree<Tensor>
    const opt = adam({ learningRate: 0.1 })
    const s0 = opt.init(params)
    const [u, state] = opt.update(params, s0, params)
    const json = JSON.parse(JSON.stringify(await saveState(opt, state)))
    const loaded = loadState(opt, json, cpu, { params })
    expect(await readTree(loaded)).toEqual(await readTree(state))
    dispose([params, s0, u, state, loaded])
  })
})
