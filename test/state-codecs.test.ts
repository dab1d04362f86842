/**
 * The io-ts codecs of saved state (src/core/state.ts): round trips over random values (exact for
 * float32, NaN, ±∞ and −0), and every malformed input rejected with the codec's own description.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  StateDecodeError,
  StoredTensor,
  countCodec,
  emptyStateCodec,
  floatCodec,
  keyCodec,
  paramsCodec,
  tensorCodec,
  tupleCodec,
} from '../src/index.js'
import * as f from '../src/index.js'
import { propertyParameters } from '../laws/runners.js'
import { caught } from './helpers.js'

const roundTrip = <A, O>(codec: { encode: (a: A) => O; decode: (u: unknown) => { _tag: string } }, a: A): A => {
  const r = codec.decode(JSON.parse(JSON.stringify(codec.encode(a)))) as { _tag: string; right: A }
  expect(r._tag).toBe('Right')
  return r.right
}
const rejects = (codec: { is: (u: unknown) => boolean; decode: (u: unknown) => { _tag: string } }, u: unknown): boolean =>
  !codec.is(u) && codec.decode(u)._tag === 'Left'

const float32Arb = fc.float({ noDefaultInfinity: false, noNaN: false })
const storedArb = fc
  .array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 })
  .chain((shape) =>
    fc.array(float32Arb, { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) }).map((xs) => new StoredTensor(shape, Float32Array.from(xs))),
  )
// raw state JSON (no envelope), to reach the codecs directly
const legacy = { acceptLegacy: true, onWarning: () => undefined }
const sameBits = (a: Float32Array, b: Float32Array): boolean =>
  a.length === b.length && a.every((x, i) => Object.is(x, b[i]))

describe('state codecs', () => {
  it('tensorCodec round-trips every float32 bit pattern it is given, with its shape', () =>
    fc.assert(
      fc.property(storedArb, (s) => {
        const back = roundTrip(tensorCodec, s)
        expect(back).toBeInstanceOf(StoredTensor)
        expect(back.shape).toEqual(s.shape)
        return sameBits(back.data, s.data) && tensorCodec.is(back) && !tensorCodec.is({ ...s })
      }),
      propertyParameters(100),
    ))

  it('tensorCodec rejects anything that is not a tensor filling its shape', () => {
    const good = tensorCodec.encode(new StoredTensor([2], Float32Array.of(1, 2)))
    const bad: unknown[] = [
      null,
      3,
      'x',
      { ...good, shape: undefined },
      { ...good, shape: [-2] },
      { ...good, shape: [1.5] },
      { ...good, shape: 2 },
      { ...good, shape: [3] },
      { ...good, shape: [] },
      { ...good, dtype: 'float64' },
      { ...good, data: 7 },
      { ...good, data: `${good.data}!` },
      { ...good, data: good.data.slice(0, -4) },
      { ...good, data: 'AAA=' },
    ]
    for (const u of bad) expect([u, rejects(tensorCodec, u)]).toEqual([u, true])
    expect(tensorCodec.decode(good)._tag).toBe('Right')
    expect(tensorCodec.decode({ ...good, shape: [2, 1] })._tag).toBe('Right')
    expect(tensorCodec.decode({ shape: [0], dtype: 'float32', data: '' })._tag).toBe('Right')
  })

  it('paramsCodec round-trips nested records and arrays of tensors, and rejects other leaves', () => {
    const t = (...xs: number[]) => new StoredTensor([xs.length], Float32Array.from(xs))
    const p = { a: [t(1), { b: t(2, 3) }], c: {}, d: [] as unknown[] }
    const back = roundTrip(paramsCodec, p) as typeof p
    expect(paramsCodec.is(back)).toBe(true)
    expect(Array.isArray(back.a)).toBe(true)
    expect(back.a[0]).toBeInstanceOf(StoredTensor)
    expect(Array.from((back.a[1] as { b: StoredTensor }).b.data)).toEqual([2, 3])
    expect(back.c).toEqual({})
    expect(back.d).toEqual([])
    expect(paramsCodec.encode(p)).toEqual({ a: [tensorCodec.encode(t(1)), { b: tensorCodec.encode(t(2, 3)) }], c: {}, d: [] })
    for (const u of [3, 'x', null, { a: 3 }, [t(1), 'x'], { a: { b: null } }]) expect([u, rejects(paramsCodec, u)]).toEqual([u, true])
    expect(paramsCodec.is({ a: [t(1)] })).toBe(true)
  })

  it('floatCodec keeps every double, NaN, ±∞ and −0 included, through JSON', () =>
    fc.assert(
      fc.property(fc.double(), (x) => {
        const encoded = floatCodec.encode(x)
        expect(typeof encoded).toBe(Number.isFinite(x) && !Object.is(x, -0) ? 'number' : 'string')
        return Object.is(roundTrip(floatCodec, x), x) && floatCodec.is(x)
      }),
      propertyParameters(200),
    ))

  it('paramsCodec reads an object with any one of a tensor\'s keys as a tensor, and is() needs every leaf to be one', () => {
    const stored = new StoredTensor([1], Float32Array.of(1))
    const tr = f.trace({ decay: 0.9 })
    for (const leaf of [{ shape: [1] }, { dtype: 'float32' }, { data: 'AAAAAA==' }]) {
      const e = caught(() => f.loadState(tr, { trace: { w: leaf } }, f.cpu, legacy))
      expect(e).toBeInstanceOf(StateDecodeError)
      expect([(e as StateDecodeError).path, (e as StateDecodeError).expected]).toEqual(['trace.w', tensorCodec.name])
    }
    // a tensor with no elements and data that is not whole float32s
    expect(rejects(tensorCodec, { shape: [0], dtype: 'float32', data: 'AAA=' })).toBe(true)
    expect(tensorCodec.decode({ shape: [0], dtype: 'float32', data: '' })._tag).toBe('Right')
    expect(paramsCodec.is({ a: stored, b: 3 })).toBe(false)
    expect(paramsCodec.is([stored, 'x'])).toBe(false)
  })

  it('floatCodec reads exactly the four special strings', () => {
    expect(['Infinity', '-Infinity', 'NaN', '-0'].map((u) => (floatCodec.decode(u) as { right: number }).right)).toEqual([Infinity, -Infinity, Number.NaN, -0])
    expect(Object.is((floatCodec.decode('-0') as { right: number }).right, -0)).toBe(true)
    expect([Infinity, -Infinity, Number.NaN, -0, 0].map((x) => floatCodec.encode(x))).toEqual(['Infinity', '-Infinity', 'NaN', '-0', 0])
    for (const u of ['inf', '1', '', 'toString', 'constructor', null, undefined, {}]) expect([u, rejects(floatCodec, u)]).toEqual([u, true])
  })

  it('countCodec accepts exactly the integers ≥ 0', () => {
    for (const n of [0, 1, 2 ** 40]) expect(countCodec.decode(n)).toEqual({ _tag: 'Right', right: n })
    for (const u of [-1, 0.5, Number.NaN, Infinity, '1', null]) expect([u, rejects(countCodec, u)]).toEqual([u, true])
  })

  it('saveState and loadState of a transformation without a codec are UnsupportedErrors', async () => {
    const bare: f.GradientTransformation<{ n: number }> = { init: () => ({ n: 0 }), update: (u, st) => [u, st] }
    const message = 'this transformation has no stateCodec, so its state cannot be saved or loaded'
    await expect(f.saveState(bare, { n: 0 })).rejects.toEqual(new f.UnsupportedError(message))
    expect(caught(() => f.loadState(bare, { n: 0 }))).toEqual(new f.UnsupportedError(message))
  })

  it('a bad random key in a state is named', () => {
    const e = caught(() => f.loadState(f.addNoise(), { count: 0, key: 3 }, f.cpu, legacy))
    expect(e.message).toBe('invalid state at key: expected a random key, got 3')
  })

  it('keyCodec accepts a key, rejects a wrong kind or word', () => {
    expect(keyCodec.decode({ kind: 'fluxion.key', words: [1, 2] })._tag).toBe('Right')
    for (const u of [{ kind: 'key', words: [1, 2] }, { kind: 'fluxion.key', words: [1] }, { kind: 'fluxion.key', words: [1, -2] }]) expect(rejects(keyCodec, u)).toBe(true)
  })

  it('tupleCodec checks the length and every element, names itself from its elements, and encodes each element', () => {
    const c = tupleCodec([countCodec, floatCodec])
    expect(c.name).toBe(`[an integer in [0, 2^53), ${floatCodec.name}]`)
    expect(c.decode([1, 'NaN'])._tag).toBe('Right')
    expect(Number.isNaN((c.decode([1, 'NaN']) as { right: number[] }).right[1])).toBe(true)
    expect(c.is([1, 2])).toBe(true)
    expect(c.encode([1, Infinity])).toEqual([1, 'Infinity'])
    for (const u of [[1], [1, 2, 3], [-1, 2], [1, 'x'], { 0: 1, 1: 2 }, null]) expect([u, rejects(c, u)]).toEqual([u, true])
    const e = c.decode([1, 'x'])
    expect(e._tag).toBe('Left')
    const ctx = (e as unknown as { left: { context: { key: string }[] }[] }).left[0]!.context.map((x) => x.key)
    expect(ctx).toEqual(['', '1'])
    expect(tupleCodec([]).decode([])._tag).toBe('Right')
  })

  it('emptyStateCodec is {}', () => {
    expect(emptyStateCodec.decode({})).toEqual({ _tag: 'Right', right: {} })
    expect(emptyStateCodec.name).toBe('{}')
  })

  it('StateDecodeError names the root and shortens long values', () => {
    expect(new StateDecodeError('', null, 'x').message).toBe('invalid state at <root>: expected x, got null')
    expect(new StateDecodeError('a', undefined, 'x').message).toBe('invalid state at a: expected x, got undefined')
    const long = 'a'.repeat(500)
    expect(new StateDecodeError('0.mu', long, 'y').message).toBe(`invalid state at 0.mu: expected y, got ${JSON.stringify(long).slice(0, 120)}`)
  })
})

describe("a state that is not an object is rejected with an error listing the state's fields", () => {
  const p = { w: f.fromArray([1, -2], [2]), b: f.fromArray([3], [1]) }
  const sgd = () => f.sgd({ learningRate: 0.1 })
  const cases: readonly [string, f.AnyTransformation][] = [
    ['clipByNorm', f.clipByNorm(1)],
    ['clipByGlobalNorm', f.clipByGlobalNorm(1)],
    ['clipByBlockRms', f.clipByBlockRms(1)],
    ['adaptiveGradClip', f.adaptiveGradClip()],
    ['clip', f.clip(1)],
    ['addDecayedWeights', f.addDecayedWeights({ weightDecay: 0.1 })],
    ['addL1Penalty', f.addL1Penalty({ l1: 0.1 })],
    ['addElasticNet', f.addElasticNet({ l1: 0.1, l2: 0.1 })],
    ['scaleByLbfgs', f.scaleByLbfgs()],
    ['addNoise', f.addNoise()],
    ['centralize', f.centralize()],
    ['keepParamsNonnegative', f.keepParamsNonnegative()],
    ['zeroNans', f.zeroNans()],
    ['scaleBySign', f.scaleBySign()],
    ['trace', f.trace({ decay: 0.9 })],
    ['ema', f.ema()],
    ['scaleByAdam', f.scaleByAdam()],
    ['scaleByAmsgrad', f.scaleByAmsgrad()],
    ['scaleByAdamax', f.scaleByAdamax()],
    ['scaleByRms', f.scaleByRms()],
    ['scaleByStddev', f.scaleByStddev()],
    ['scaleByRss', f.scaleByRss()],
    ['scaleByAdadelta', f.scaleByAdadelta()],
    ['scaleByLion', f.scaleByLion()],
    ['scaleByRadam', f.scaleByRadam()],
    ['scaleByTrustRatio', f.scaleByTrustRatio()],
    ['scale', f.scale(2)],
    ['scaleBySchedule', f.scaleBySchedule(f.constant(0.1))],
    ['scaleByLearningRate', f.scaleByLearningRate(0.1)],
    ['injectHyperparams', f.injectHyperparams((o: { learningRate: number }) => f.sgd(o))({ learningRate: 0.1 })],
    ['masked', f.masked(sgd(), { w: true, b: false })],
    ['freeze', f.freeze({ w: true, b: false })],
    ['multiTransform', f.multiTransform({ a: sgd(), b: f.identity() }, { w: 'a', b: 'b' })],
    ['applyIfFinite', f.applyIfFinite(sgd())],
    ['multiSteps', f.multiSteps(sgd(), { everyK: 2 })],
    ['applyEvery', f.applyEvery(2)],
    ['lookahead', f.lookahead(sgd())],
    ['emaParams', f.emaParams()],
    ['reduceOnPlateau', f.reduceOnPlateau()],
  ]
  it.each(cases)('%s', async (_name, t) => {
    const s = t.init(p)
    const saved = await f.saveState(t, s)
    const keys = Object.keys(saved.state as Record<string, unknown>).sort()
    for (const bad of [42, null, 'x']) {
      const e = caught(() => f.loadState(t, { ...saved, state: bad }))
      expect(e).toBeInstanceOf(StateDecodeError)
      const m = /^invalid state at <root>: expected \{ ?(.*?) ?\}, got (.*)$/.exec(e.message)
      expect(m?.[2]).toBe(JSON.stringify(bad))
      expect(m![1] === '' ? [] : m![1]!.split(', ').sort()).toEqual(keys)
    }
    f.dispose(s)
  })
})
