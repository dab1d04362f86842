import fc from 'fast-check'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { StructureError, addDecayedWeights, chain, clipByGlobalNorm, dispose, fromArray, readTree, scaleByAdam, scaleByLearningRate, tree } from '../src/index.js'
import type { Tree } from '../src/index.js'
import { allClose } from '../laws/allclose.js'
import { propertyParameters } from '../laws/runners.js'
import { caught } from './helpers.js'

const leafArb = fc.integer()
const treeArb: fc.Arbitrary<Tree<number>> = fc.letrec<{ t: Tree<number> }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('t'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'kernel', 'bias', 'x y'), tie('t'), { maxKeys: 3 }),
  ),
})).t

describe('tree', () => {
  it('flatten then unflatten is the identity (up to key order) and leaves follow paths', () => {
    fc.assert(
      fc.property(treeArb, (t) => {
        const { leaves, structure } = tree.flatten(t)
        const back = tree.unflatten(structure, leaves)
        expect(back).toEqual(t)
        expect(tree.paths(t)).toHaveLength(leaves.length)
        expect(tree.sameStructure(back, t)).toBe(true)
      }),
      propertyParameters(200),
    )
  })

  it('map preserves structure and applies f to every leaf with its path', () => {
    fc.assert(
      fc.property(treeArb, (t) => {
        const m = tree.map((x: number, path) => `${path}=${x + 1}`)(t)
        expect(tree.sameStructure(m, t)).toBe(true)
        expect(tree.leaves(m)).toEqual(tree.leaves(t).map((x, i) => `${tree.paths(t)[i]}=${x + 1}`))
      }),
      propertyParameters(200),
    )
  })

  it('zipWith combines leaves of equal structures; reduce folds in leaf order', () => {
    fc.assert(
      fc.property(treeArb, (t) => {
        const doubled = tree.map((x: number) => 2 * x)(t)
        const z = tree.zipWith(([a, b]: readonly [number, number]) => b - a)(t, doubled)
        expect(tree.leaves(z)).toEqual(tree.leaves(t))
        expect(tree.reduce((s: number, x: number) => s + x, 0)(t)).toBe(tree.leaves(t).reduce((a, b) => a + b, 0))
      }),
      propertyParameters(200),
    )
  })

  it('record key order does not matter; leaves are ordered by sorted key', () => {
    expect(tree.leaves({ b: 2, a: 1 })).toEqual([1, 2])
    expect(tree.sameStructure({ b: 2, a: 1 }, { a: 3, b: 4 })).toBe(true)
    expect(tree.paths({ layers: [{ w: 0, 'x y': 1 }] })).toEqual(['layers[0].w', 'layers[0]["x y"]'])
  })

  it('a mismatch throws a StructureError naming the first differing path', () => {
    const a = { layers: [{ w: 1, b: 2 }, { w: 3, b: 4 }] }
    const cases: [unknown, string][] = [
      [{ layers: [{ w: 1, b: 2 }, { w: 3 }] }, 'layers[1].b'],
      [{ layers: [{ w: 1, b: 2 }] }, 'layers'],
      [{ layers: [{ w: 1, b: [2] }, { w: 3, b: 4 }] }, 'layers[0].b'],
      [{ layers: [{ w: 1, b: 2 }, { w: 3, b: 4 }], extra: 0 }, 'extra'],
    ]
    for (const [b, path] of cases) {
      expect(tree.firstDifference(a, b)?.path).toBe(path)
      expect(() => tree.zipWith(([x]: readonly [number, number]) => x)(a, b as typeof a)).toThrow(StructureError)
      const e = caught(() => tree.assertSameStructure(a, b))
      expect(e).toBeInstanceOf(StructureError)
      expect((e as StructureError).path).toBe(path)
      expect(e.message).toContain(path)
    }
  })

  it('unflatten rejects a wrong number of leaves', () => {
    const { structure } = tree.flatten({ a: 1, b: [2, 3] })
    expect(() => tree.unflatten(structure, [1, 2])).toThrow(/3 leaves but 2/)
    expect(tree.leafCount(structure)).toBe(3)
  })
})

describe('the tree functions accept every state type the library returns', () => {
  it('tree.leaves, tree.paths, tree.map and readTree + allClose on a chain state, without casts', async () => {
    // chain states are tuples of interfaces (ScaleByAdamState, ...), which have no index signature
    const params = { w: fromArray([1, -2, 3], [3]), b: fromArray([0.5]) }
    const opt = chain(clipByGlobalNorm(1), scaleByAdam(), addDecayedWeights({ weightDecay: 1e-2 }), scaleByLearningRate(0.1))
    const state = opt.init(params)
    // scaleByAdam: count, mu.b, mu.w, nu.b, nu.w; addDecayedWeights: count; scaleByLearningRate: count
    expect(tree.leaves(state)).toHaveLength(7)
    expect(tree.paths(state)).toEqual(['[1].count', '[1].mu.b', '[1].mu.w', '[1].nu.b', '[1].nu.w', '[2].count', '[3].count'])
    const host = await readTree(state)
    expectTypeOf(host[1].mu).toEqualTypeOf<Tree<Float32Array>>()
    expectTypeOf(host[1].count).toEqualTypeOf<number>()
    expect(allClose(host, host).ok).toBe(true)
    const zeros = tree.map((x: unknown) => (x instanceof Float32Array ? new Float32Array(x.length) : 0))(host)
    expect(allClose(host, zeros)).toMatchObject({ ok: true })
    const [, next] = opt.update(params, state, params)
    const after = await readTree(next)
    expect(allClose(after, host).ok).toBe(false) // μ and ν moved away from 0
    dispose([params, state, next])
  })
})

describe('allClose on leaves that hold no numbers', () => {
  it.each([
    [{ a: true }, { a: false }, 'a: not a number, an array of numbers or a host tensor (actual is a boolean)'],
    [{ a: null }, { a: null }, 'a: not a number, an array of numbers or a host tensor (actual is null)'],
    [{ a: 1 }, { a: new Map() }, 'a: not a number, an array of numbers or a host tensor (expected is a Map object)'],
    [{ a: ['x'] }, { a: [1] }, 'a[0]: not a number, an array of numbers or a host tensor (actual is a string)'],
  ])('%j vs %j is a mismatch that says why', (actual, expected, message) => {
    expect(allClose(actual as never, expected as never)).toMatchObject({ ok: false, message })
  })

  it('names the root <root>', () => {
    expect(allClose(1, { a: 1 }).ok).toBe(false)
    expect(allClose(1, { a: 1 })).toMatchObject({ message: expect.stringMatching(/^structures differ at <root>: /) })
    expect(allClose([1, 3], [1, 2])).toMatchObject({ ok: false, path: '[1]' })
    expect(allClose(new Float32Array([1, 2]), new Float32Array([1, 2])).ok).toBe(true)
  })
})
