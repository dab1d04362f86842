/**
 * Wrappers on every backend: injectHyperparams, masked / freeze / multiTransform, multiSteps,
 * applyEvery, applyIfFinite, lookahead, emaParams, reduceOnPlateau; and their laws.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type AnyTransformation,
  type Params,
  type Tensor,
  adam,
  adamw,
  addDecayedWeights,
  MissingParamsError,
  applyEvery,
  applyIfFinite,
  applyUpdates,
  chain,
  dispose,
  emaParams,
  freeze,
  fromArray,
  identity,
  injectHyperparams,
  lars,
  lookahead,
  masked,
  multiSteps,
  multiTransform,
  readTree,
  reduceOnPlateau,
  rmsprop,
  scope,
  sgd,
  setToZero,
  stateless,
  tree,
  type GradientTransformation,
  HyperparameterError,
  StructureError,
  UnsupportedError,
} from '../src/index.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
import { type SequenceInput, sequenceArb } from '../laws/arbitraries.js'
import { type HostTree, hostMap, toDevice, toHost } from '../laws/host.js'
import { exact } from '../laws/predicates/transform.js'
import { runTransform } from '../laws/run.js'
import { reduceOnPlateauReference } from '../laws/reference/transforms.js'
import { assertLaw, propertyParameters } from '../laws/runners.js'
import { checkTransformLaws } from '../laws/vitest.js'
import { backends } from './backends.js'
import { caught } from './helpers.js'

const lr = fc.double({ min: 1e-3, max: 0.3, noNaN: true })
const hasRank = (p: Params) => tree.map((x: Tensor) => x.shape.length > 0)(p)

const sameUpdates = async (a: AnyTransformation, b: AnyTransformation, x: SequenceInput, backend: (typeof backends)[number], tol = exact) => {
  const ra = await runTransform(a, x.params, x.grads, backend)
  const rb = await runTransform(b, x.params, x.grads, backend)
  return allClose(ra.updates, rb.updates, tol)
}

describe.each(backends)('wrappers on $name', (backend) => {
  it('injectHyperparams(opt) equals opt step for step (numbers and schedules)', () =>
    assertLaw(fc.tuple(sequenceArb(), lr, fc.boolean()), async ([x, a, sched]) => {
      const learningRate = sched ? (k: number) => a / (1 + k) : a
      const r1 = await sameUpdates(injectHyperparams(adam)({ learningRate, b1: 0.8 }), adam({ learningRate, b1: 0.8 }), x, backend)
      return r1.ok ? sameUpdates(injectHyperparams(rmsprop)({ learningRate, momentum: 0.9, nesterov: true }), rmsprop({ learningRate, momentum: 0.9, nesterov: true }), x, backend) : r1
    }, 15, backend.name))

  it('injectHyperparams keeps masks (functions too) and conventions fixed, and injects only numbers and schedules', () =>
    assertLaw(fc.tuple(sequenceArb(), lr), async ([x, a]) => {
      const mask = (q: Params) => tree.map((t: Tensor) => t.shape.length > 1)(q)
      const wd = (k: number) => 0.1 / (1 + k)
      const o1 = { learningRate: a, weightDecay: wd, mask, convention: 'pytorch' as const }
      const o2 = { learningRate: a, weightDecay: 0.01, weightDecayMask: mask, trustRatioMask: mask, nesterov: true }
      const i1 = injectHyperparams(adamw)(o1)
      const i2 = injectHyperparams(lars)(o2)
      const p = toDevice(x.params, backend)
      const [s1, s2] = [i1.init(p), i2.init(p)]
      expect(Object.keys(s1.hyperparams).sort()).toEqual(['learningRate', 'weightDecay'])
      expect(Object.keys(s2.hyperparams).sort()).toEqual(['learningRate', 'weightDecay'])
      dispose([p, s1, s2])
      const r = await sameUpdates(i1, adamw(o1), x, backend)
      return r.ok ? sameUpdates(i2, lars(o2), x, backend) : r
    }, 10, backend.name))

  it('setting the learning rate through the state changes the next step exactly as a new constant would', () =>
    assertLaw(fc.tuple(sequenceArb({ maxSteps: 6 }), lr, lr, fc.integer({ min: 0, max: 3 })), async ([x, a, b, K]) => {
      const opt = injectHyperparams(sgd)({ learningRate: a, momentum: 0.9 })
      let params = toDevice(x.params, backend)
      let state = opt.init(params)
      const got: HostTree[] = []
      for (let k = 0; k < x.grads.length; k++) {
        if (k === K) state = { ...state, hyperparams: { ...state.hyperparams, learningRate: b } }
        const g = toDevice(x.grads[k]!, backend)
        const [u, s] = opt.update(g, state, params)
        got.push(await toHost(u))
        dispose([g, u, state], [s, params])
        state = s
      }
      dispose([params, state])
      const ref = await runTransform(sgd({ learningRate: (k) => (k < K ? a : b), momentum: 0.9 }), x.params, x.grads, backend)
      return allClose(got, ref.updates, exact)
    }, 15, backend.name))

  it('masked(t, all false) is the identity; masked(t, all true) is t; multiTransform with one group is t', () =>
    assertLaw(fc.tuple(sequenceArb(), lr), async ([x, a]) => {
      const none = (p: Params) => tree.map(() => false)(p)
      const all = (p: Params) => tree.map(() => true)(p)
      const r1 = await sameUpdates(masked(adam({ learningRate: a }), none), identity(), x, backend)
      if (!r1.ok) return r1
      const r2 = await sameUpdates(masked(adam({ learningRate: a }), all), adam({ learningRate: a }), x, backend)
      if (!r2.ok) return r2
      return sameUpdates(multiTransform({ only: adam({ learningRate: a }) }, (p) => tree.map(() => 'only')(p)), adam({ learningRate: a }), x, backend)
    }, 15, backend.name))

  it('no weight decay on biases: multiTransform by leaf name, and freeze', async () => {
    const p = { dense: { kernel: fromArray([1, 2, 3, 4], [2, 2], backend), bias: fromArray([1, 1], [2], backend) } }
    const g = tree.map((x: Tensor) => fromArray(new Array(x.size).fill(0), x.shape, backend))(p) as typeof p
    const opt = multiTransform(
      { decay: chain(addDecayedWeights({ weightDecay: 0.5 }), sgd({ learningRate: 1 })), plain: sgd({ learningRate: 1 }) },
      (q) => tree.map((_x: Tensor, path) => (path.endsWith('kernel') ? 'decay' : 'plain'))(q),
    )
    const [u] = opt.update(g, opt.init(p), p)
    expect(await readTree(u as typeof p)).toEqual({ dense: { bias: Float32Array.of(-0, -0), kernel: Float32Array.of(-0.5, -1, -1.5, -2) } })
    const [fu] = freeze({ dense: { kernel: true, bias: false } }).update(p, freeze({ dense: { kernel: true, bias: false } }).init(p))
    expect(await readTree(fu as typeof p)).toEqual({ dense: { bias: Float32Array.of(1, 1), kernel: new Float32Array(4) } })
    const e = caught(() => multiTransform({ a: identity() }, { dense: { kernel: 'a', bias: 'b' } }).init(p))
    expect(e.message).toContain('dense.bias')
    expect(e.message).toContain('"b"')
    dispose([p, g, u, fu])
  })

  it('multiSteps(k) over 2k mini-steps equals two steps on the mean gradients', () =>
    // Momentum SGD, not Adam: Adam's first step is lr·sign(mean), blind to a wrong mean.
    assertLaw(fc.tuple(sequenceArb({ maxSteps: 1 }), fc.integer({ min: 1, max: 4 }), lr), async ([x, k, a]) => {
      const gs = Array.from({ length: 2 * k }, (_, i) => hostMap((v) => v * (i + 1) - i, x.grads[0]!))
      const mean = (part: readonly (typeof gs)[number][]) => hostMap((...vs) => vs.reduce((s, v) => s + v, 0) / k, ...part)
      const inner = () => sgd({ learningRate: a, momentum: 0.5 })
      const acc = await runTransform(multiSteps(inner(), { everyK: k }), x.params, gs, backend)
      const two = await runTransform(inner(), x.params, [mean(gs.slice(0, k)), mean(gs.slice(k))], backend)
      for (const [i, u] of acc.updates.entries()) {
        if (i % k === k - 1) continue
        const z = allClose(u, hostMap(() => 0, u), exact)
        if (!z.ok) return z
      }
      const first = allClose(acc.params[k - 1]!, two.params[0]!, float32Tolerance)
      return first.ok ? allClose(acc.params.at(-1)!, two.params[1]!, float32Tolerance) : first
    }, 15, backend.name))

  it('applyEvery(k) emits the sum of k updates every k steps, zeros between', () =>
    assertLaw(fc.tuple(sequenceArb({ minSteps: 4, maxSteps: 7 }), fc.integer({ min: 1, max: 3 })), async ([x, k]) => {
      const run = await runTransform(applyEvery(k), x.params, x.grads, backend)
      for (let i = 0; i < x.grads.length; i++) {
        const expected = i % k === k - 1 ? hostMap((...vs) => vs.reduce((s, v) => s + Math.fround(v), 0), ...x.grads.slice(i - k + 1, i + 1)) : hostMap(() => 0, x.grads[i]!)
        const c = allClose(run.updates[i]!, expected, float32Tolerance)
        if (!c.ok) return c
      }
      return { ok: true as const }
    }, 15, backend.name))

  it('applyIfFinite leaves params and state unchanged on a NaN or ±∞ gradient, counts, and gives up after the limit', async () => {
    const opt = applyIfFinite(adam({ learningRate: 0.1 }), { maxConsecutiveErrors: 2 })
    let params: Params = { w: fromArray([1, 2], [2], backend), b: fromArray([3], [1], backend) }
    let state = opt.init(params)
    const step = (g: Params) => {
      const [p2, s2] = scope(() => {
        const [u, s] = opt.update(g, state, params)
        return [applyUpdates(params, u), s] as const
      })
      dispose([params, state, g], [p2, s2])
      params = p2
      state = s2
    }
    step({ w: fromArray([1, 1], [2], backend), b: fromArray([1], [1], backend) })
    const adamState = () => (state.inner as unknown as [{ mu: Params; nu: Params }])[0]
    const before = { p: await readTree(params), mu: await readTree(adamState().mu), nu: await readTree(adamState().nu) }
    for (const bad of [NaN, Infinity]) {
      step({ w: fromArray([bad, 1], [2], backend), b: fromArray([1], [1], backend) })
      expect(await readTree(params)).toEqual(before.p)
      expect(await readTree(adamState().mu)).toEqual(before.mu)
      expect(await readTree(adamState().nu)).toEqual(before.nu)
      expect((await readTree(state.lastFinite))[0]).toBe(0)
    }
    expect((await readTree(state.notfiniteCount))[0]).toBe(2)
    step({ w: fromArray([-Infinity, 1], [2], backend), b: fromArray([1], [1], backend) }) // third in a row: > 2, applied
    expect(Number.isNaN((await readTree(params as { w: Tensor })).w[0])).toBe(true)
    expect((await readTree(state.totalNotfinite))[0]).toBe(3)
    dispose([params, state])
  })

  it('lookahead: k fast steps, then φ ← φ + α(θ − φ) and θ ← φ (Zhang et al. 2019)', () =>
    // at least four steps of nonzero gradients and α inside (0, 1), where a sync moves the params
    assertLaw(fc.tuple(sequenceArb({ minSteps: 4, maxSteps: 7, grads: { zeroWeight: 0 } }), lr, fc.integer({ min: 1, max: 3 }), fc.double({ min: 0.05, max: 0.95, noNaN: true })), async ([x, a, k, alpha]) => {
      const run = await runTransform(lookahead(sgd({ learningRate: a }), { syncPeriod: k, slowStepSize: alpha }), x.params, x.grads, backend)
      // float64 transcription of Algorithm 1 with an SGD inner loop
      let theta = tree.leaves(x.params).map((h) => Float64Array.from(h.data))
      let slow = theta.map((v) => Float64Array.from(v))
      x.grads.forEach((g, i) => {
        const gl = tree.leaves(g)
        theta = theta.map((v, j) => v.map((p, n) => p - a * Math.fround(gl[j]!.data[n]!)))
        if ((i + 1) % k === 0) {
          slow = slow.map((s, j) => s.map((sv, n) => sv + alpha * (theta[j]![n]! - sv)))
          theta = slow.map((s) => Float64Array.from(s))
        }
      })
      return allClose(tree.leaves(run.params.at(-1)!).map((h) => h.data), theta, float32Tolerance)
    }, 15, backend.name))

  it('emaParams: passes updates through and averages the params', () =>
    assertLaw(fc.tuple(sequenceArb({ minSteps: 2, maxSteps: 5, grads: { zeroWeight: 0 } }), fc.double({ min: 0.05, max: 0.99, noNaN: true })), async ([x, d]) => {
      const opt = chain(sgd({ learningRate: 0.1 }), emaParams({ decay: d }))
      let params = toDevice(x.params, backend)
      let state = opt.init(params)
      let ema = tree.leaves(x.params).map((h) => Float64Array.from(h.data))
      for (const g of x.grads) {
        const gd = toDevice(g, backend)
        const [u, s] = opt.update(gd, state, params)
        const p2 = applyUpdates(params, u)
        const host = tree.leaves(await toHost(p2))
        ema = ema.map((e, j) => e.map((v, n) => d * v + (1 - d) * host[j]!.data[n]!))
        dispose([gd, u, state, params], [s, p2])
        state = s
        params = p2
      }
      const got = tree.leaves(await toHost((state[1] as { ema: Params }).ema)).map((h) => h.data)
      dispose([params, state])
      return allClose(got, ema, float32Tolerance)
    }, 15, backend.name))

  it('reduceOnPlateau follows its reference (Optax contrib) on random curves and options', () =>
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.integer({ min: -6, max: 6 }).map((x) => x / 2), { freq: 4 }), { maxLength: 40 }),
        fc.record({
          factor: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
          patience: fc.integer({ min: 1, max: 4 }),
          cooldown: fc.integer({ min: 0, max: 3 }),
          minScale: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
          rtol: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.5, noNaN: true })),
          atol: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
          accumulationSize: fc.integer({ min: 1, max: 3 }),
        }),
        (values, o) => {
          const opt = reduceOnPlateau(o)
          const p = { w: fromArray([1], [1], backend) }
          let s = opt.init(p)
          const scales: number[] = []
          for (const value of values) {
            const [u, s2] = opt.update(p, s, p, value === null ? undefined : { value })
            dispose(u)
            scales.push(s2.scale)
            s = s2
          }
          dispose(p)
          expect(scales).toEqual(reduceOnPlateauReference(values.map((v) => v ?? undefined), o))
        },
      ),
      propertyParameters(100),
    ))

  it('reduceOnPlateau reproduces a scripted validation curve, negative losses included', async () => {
    const opt = reduceOnPlateau({ factor: 0.5, patience: 2, cooldown: 1, minScale: 0.2 })
    const p = { w: fromArray([1], [1], backend) }
    // losses below zero and improving, then a plateau, a reduction, cooldown, another plateau ...
    const curve = [-1, -2, -2, -2, -2, -2, -2, -3, -3, -3, -3, -3, -3, -3, -3]
    const expected = [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
    let s = opt.init(p)
    const scales: number[] = []
    const applied: number[] = []
    for (const value of curve) {
      const [u, s2] = opt.update(p, s, p, { value })
      scales.push(s2.scale)
      applied.push((await readTree(u as typeof p)).w[0]!)
      dispose(u)
      s = s2
    }
    expect(scales).toEqual(expected)
    expect(applied).toEqual(expected.map(Math.fround))
    const [u] = opt.update(p, s, p)
    expect((await readTree(u as typeof p)).w[0]).toBe(Math.fround(0.2))
    expect(() => opt.update(p, s, p, { value: NaN })).toThrow(/value = NaN/)
    dispose([p, u])
  })
})

const wrapped: [string, () => AnyTransformation][] = [
  ['injectHyperparams(adam)', () => injectHyperparams(adam)({ learningRate: (k: number) => 0.1 / (1 + k) })],
  ['masked(adam)', () => masked(adam({ learningRate: 0.1 }), hasRank)],
  ['freeze', () => freeze(hasRank)],
  ['multiTransform', () => multiTransform({ a: adam({ learningRate: 0.1 }), b: sgd({ learningRate: 0.1, momentum: 0.9 }) }, (p) => tree.map((x: Tensor) => (x.shape.length > 0 ? 'a' : 'b'))(p))],
  ['applyIfFinite(adam)', () => applyIfFinite(adam({ learningRate: 0.1 }))],
  ['multiSteps(adam, 2)', () => multiSteps(adam({ learningRate: 0.1 }), { everyK: 2 })],
  ['applyEvery(2)', () => applyEvery(2)],
  ['lookahead(sgd)', () => lookahead(sgd({ learningRate: 0.1 }), { syncPeriod: 2 })],
  ['emaParams', () => emaParams({ decay: 0.9 })],
  ['reduceOnPlateau', () => reduceOnPlateau()],
]
for (const [name, make] of wrapped) checkTransformLaws(name, make, { backends, numRuns: 4 })

describe('every wrapper and chain pass the update extras ({ value }) to what they wrap', () => {
  const seen: unknown[] = []
  const spy: GradientTransformation<Record<string, never>> = {
    init: () => ({}),
    update: (u, s, _p, extra) => {
      seen.push(extra?.value)
      return [u, s]
    },
  }
  const cases: [string, AnyTransformation][] = [
    ['chain', chain(identity(), spy)],
    ['injectHyperparams', injectHyperparams((_o: { a: number }) => spy)({ a: 1 })],
    ['masked', masked(spy, { w: true })],
    ['multiTransform', multiTransform({ x: spy }, { w: 'x' })],
    ['applyIfFinite', applyIfFinite(spy)],
    ['multiSteps', multiSteps(spy, { everyK: 1 })],
    ['lookahead', lookahead(spy)],
  ]
  it.each(cases)('%s', (_n, t) => {
    seen.length = 0
    const p = { w: fromArray([1], [1]) }
    const [u, s] = t.update(p, t.init(p), p, { value: 42 })
    expect(seen).toEqual([42])
    dispose([p, u, s])
  })
})

describe('masked and multiTransform pass the params on, and only when given', () => {
  it.each(backends)('$name', async (backend) => {
    const p = { a: fromArray([1, -2], [2], backend), b: fromArray([4], [1], backend) }
    const g = { a: fromArray([0.5, 0.5], [2], backend), b: fromArray([1], [1], backend) }
    const decay = () => addDecayedWeights({ weightDecay: 0.5 })
    const m = masked(decay(), { a: true, b: false })
    const [u1] = m.update(g, m.init(p), p)
    expect(await readTree(u1 as typeof p)).toEqual({ a: Float32Array.of(1, -0.5), b: Float32Array.of(1) })
    expect(caught(() => m.update(g, m.init(p)))).toEqual(new MissingParamsError('addDecayedWeights'))
    // without params, an inner transformation that needs none still runs
    const ms = masked(setToZero(), { a: true, b: false })
    const [u2] = ms.update(g, ms.init(p))
    expect(await readTree(u2 as typeof p)).toEqual({ a: Float32Array.of(0, 0), b: Float32Array.of(1) })
    expect(caught(() => m.init({ a: p.a })).message).toBe('tree structures differ at b: masked: params vs mask: missing in the first tree')

    // a labelling function sees the params when they are given, else the updates
    const seen: Params[] = []
    const mt = multiTransform({ d: decay(), z: setToZero() }, (q: Params) => {
      seen.push(q)
      return { a: 'd', b: 'z' }
    })
    const s = mt.init(p)
    const [u3] = mt.update(g, s, p)
    expect(await readTree(u3 as typeof p)).toEqual({ a: Float32Array.of(1, -0.5), b: Float32Array.of(0) })
    const mz = multiTransform({ z: setToZero(), i: identity() }, (q: Params) => {
      seen.push(q)
      return { a: 'z', b: 'i' }
    })
    const [u4] = mz.update(g, mz.init(p))
    expect(await readTree(u4 as typeof p)).toEqual({ a: Float32Array.of(0, 0), b: Float32Array.of(1) })
    expect(seen.map((q) => (q === p ? 'params' : q === g ? 'updates' : 'other'))).toEqual(['params', 'params', 'params', 'updates'])
    expect(caught(() => mt.update(g, s))).toEqual(new MissingParamsError('addDecayedWeights'))
    dispose([p, g, u1, u2, u3, u4, s])
  })
})

describe('applyIfFinite keeps an inner state tensor the inner step left unchanged (no copy)', () => {
  it.each(backends)('$name', (backend) => {
    const p = { a: fromArray([1, -2], [2], backend) }
    const buf = fromArray([7], [1], backend)
    const keeps: GradientTransformation<{ readonly buf: Tensor; readonly n: number }> = { init: () => ({ buf, n: 0 }), update: (u, st) => [u, { buf: st.buf, n: st.n + 1 }] }
    const opt = applyIfFinite(keeps)
    const s0 = opt.init(p)
    const [u, s1] = opt.update(p, s0, p)
    expect(s1.inner.buf).toBe(buf)
    expect(s1.inner.n).toBe(1)
    dispose([p, u, s1])
  })
})

describe('injectHyperparams injects the numbers and the functions of options whose name does not end in "mask"', () => {
  it('a custom factory sees the evaluated schedules, and its masks as given', () => {
    const seen: Record<string, unknown>[] = []
    const mask = () => true
    const factory = (o: { readonly maskScale: number; readonly rate: number; readonly mask: unknown; readonly weightDecayMask: unknown; readonly flag: boolean }) => {
      seen.push(o)
      return identity()
    }
    const opt = injectHyperparams(factory)({ maskScale: (k: number) => 2 * k + 1, rate: 0.5, mask, weightDecayMask: mask, flag: true })
    const p = { w: fromArray([1], [1]) }
    const s0 = opt.init(p)
    expect(s0.hyperparams).toEqual({ maskScale: 1, rate: 0.5 })
    const [u, s1] = opt.update(p, s0, p)
    expect(s1.hyperparams).toEqual({ maskScale: 1, rate: 0.5 })
    const [u2, s2] = opt.update(p, s1, p)
    expect(s2.hyperparams).toEqual({ maskScale: 3, rate: 0.5 })
    expect(seen.at(-1)).toEqual({ maskScale: 3, rate: 0.5, mask, weightDecayMask: mask, flag: true })
    dispose([p, u, u2])
  })
})

describe('wrapper errors', () => {
  it('name what was wrong', () => {
    expect(caught(() => multiSteps(identity(), { everyK: 0 })).message).toMatch(/everyK = 0/)
    expect(caught(() => lookahead(identity(), { slowStepSize: 2 })).message).toMatch(/slowStepSize = 2/)
    expect(caught(() => reduceOnPlateau({ factor: 1 })).message).toMatch(/factor = 1/)
    expect(caught(() => applyIfFinite(identity(), { maxConsecutiveErrors: -1 })).message).toMatch(/maxConsecutiveErrors = -1/)
    const p = { w: fromArray([1], [1]) }
    const opt = injectHyperparams(sgd)({ learningRate: 0.1 })
    const s = opt.init(p)
    expect(caught(() => opt.update(p, { ...s, hyperparams: { learningRate: -1 } }, p)).message).toMatch(/learningRate = -1/)
  })

  it('masked, multiTransform, applyIfFinite and injectHyperparams name the tree, label or state that is wrong', () => {
    const p = { a: fromArray([1], [1]), b: { c: fromArray([2, 3], [2]) } }
    const dropsLeaves = stateless(() => ({}))
    const e1 = caught(() => masked(dropsLeaves, { a: true, b: { c: false } }).update(p, { inner: {} }, p))
    expect(e1).toBeInstanceOf(StructureError)
    expect(e1.message).toBe('tree structures differ at <root>: masked: the inner transformation returned 0 leaves for 1')
    expect(caught(() => masked(identity(), { a: true, b: { c: false } }).update(p, { inner: {} }, { a: p.a }))).toBeInstanceOf(StructureError)
    expect(caught(() => masked(identity(), { a: true, b: { c: false } }).update(p, { inner: {} }, { a: p.a })).message).toMatch(/masked: updates vs params/)
    expect(caught(() => masked(identity(), { a: true, b: { c: 1 } } as never).update(p, { inner: {} }, p)).message).toBe(
      'tree structures differ at b.c: masked: mask leaves must be booleans, got 1',
    )

    const e2 = caught(() => multiTransform({}, { a: 'x', b: { c: 'x' } }))
    expect(e2).toBeInstanceOf(HyperparameterError)
    expect(e2).toMatchObject({ transform: 'multiTransform', field: 'transforms', expected: 'at least one labelled transformation' })
    const mt = multiTransform({ sgd: sgd({ learningRate: 0.1 }), frozen: setToZero() }, { a: 'sgd', b: { c: 'adam' } })
    expect(caught(() => mt.init(p)).message).toBe('tree structures differ at b.c: multiTransform: label "adam" has no transformation (labels: frozen, sgd)')
    const bad = multiTransform({ sgd: sgd({ learningRate: 0.1 }) }, { a: 'sgd', b: { c: 3 } } as never)
    expect(caught(() => bad.init(p)).message).toBe('tree structures differ at b.c: multiTransform: label 3 has no transformation (labels: sgd)')
    expect(caught(() => bad.init(p))).toBeInstanceOf(StructureError)
    const short = multiTransform({ sgd: sgd({ learningRate: 0.1 }) }, { a: 'sgd' })
    expect(caught(() => short.init(p)).message).toMatch(/multiTransform: updates vs labels/)
    const byRank = multiTransform({ one: setToZero(), two: identity() }, (q: Params) => tree.map((x: Tensor) => (x.size > 1 ? 'two' : 'one'))(q))
    const s = byRank.init(p)
    expect(Object.keys(s.inner)).toEqual(['one', 'two'])

    const changesShape: GradientTransformation<unknown> = { init: () => ({ a: 0 }), update: (u) => [u, { b: 0 }] }
    const e3 = caught(() => applyIfFinite(changesShape).update(p, applyIfFinite(changesShape).init(p), p))
    expect(e3).toBeInstanceOf(UnsupportedError)
    expect(e3.message).toMatch(/^applyIfFinite: the inner state changed structure at /)

    const e4 = caught(() => injectHyperparams(3 as never)({}))
    expect(e4).toMatchObject({ transform: 'injectHyperparams', field: 'factory', expected: 'a function options => GradientTransformation' })
    dispose(p)
  })
})
