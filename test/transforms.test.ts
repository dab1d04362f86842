/**
 * The clipping, decay, noise and other primitives against float64 references (laws/reference/
 * transforms.ts) on every backend; masks; statistics of the noise; L-BFGS against its reference;
 * the transform laws for every primitive; and the typed errors for bad hyperparameters.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type AnyTransformation,
  HyperparameterError,
  MissingParamsError,
  ShapeError,
  StructureError,
  type Params,
  applyUpdates,
  type Tensor,
  adam,
  adaptiveGradClip,
  addDecayedWeights,
  addElasticNet,
  addL1Penalty,
  addNoise,
  centralize,
  clip,
  clipByBlockRms,
  clipByGlobalNorm,
  clipByNorm,
  dispose,
  ema,
  fromArray,
  globalNorm,
  keepParamsNonnegative,
  l2Norm,
  lbfgs,
  readTree,
  rmsprop,
  scaleByAdadelta,
  scaleByAdamax,
  scaleByAmsgrad,
  scaleByLbfgs,
  scaleByLion,
  scaleByRadam,
  scaleByRms,
  scaleByRss,
  scaleBySign,
  scaleByStddev,
  scaleByTrustRatio,
  adagrad,
  adadelta,
  adamw,
  sgd,
  tree,
  zeroNans,
} from '../src/index.js'
import { type Tolerance, allClose, float32Tolerance } from '../laws/allclose.js'
import { templateArb, valuesLike } from '../laws/arbitraries.js'
import { HostTensor, type HostTree, toDevice, toHost } from '../laws/host.js'
import * as R from '../laws/reference/transforms.js'
import { lbfgsReference } from '../laws/reference/optimizers.js'
import { runOnObjective, runTransform } from '../laws/run.js'
import { assertLaw } from '../laws/runners.js'
import { checkTransformLaws } from '../laws/vitest.js'
import { backends } from './backends.js'
import { caught } from './helpers.js'

const hostLeaves = (t: HostTree) => tree.leaves(t)
const pair = templateArb.chain((t) => fc.tuple(valuesLike(t, { min: -20, max: 20 }), valuesLike(t, { min: -20, max: 20 })))

/** One stateless update of `t` on (g, p), compared leaf by leaf with `expected(gLeaves, pLeaves)`. */
const checkOnce = (
  backend: (typeof backends)[number],
  make: () => AnyTransformation,
  expected: (g: HostTensor[], p: HostTensor[]) => HostTensor[],
  tol: Tolerance = float32Tolerance,
) =>
  assertLaw(
    pair,
    async ([g, p]) => {
      const t = make()
      const [gd, pd] = [toDevice(g, backend), toDevice(p, backend)]
      const s = t.init(pd)
      const [u, s2] = t.update(gd, s, pd)
      const got = hostLeaves(await toHost(u))
      dispose([gd, pd, s, s2, u])
      return allClose(got, expected(hostLeaves(g), hostLeaves(p)), tol)
    },
    15, backend.name,
  )

describe.each(backends)('primitives against their references on $name', (backend) => {
  it('l2Norm and globalNorm equal √Σx² in float64 (seed 002, "Gradient Clipping by norm")', () =>
    assertLaw(
      templateArb.chain((t) => valuesLike(t, { min: -20, max: 20 })),
      async (g) => {
        const gd = toDevice(g, backend)
        const leaves = tree.leaves(gd) as Tensor[]
        const norms = leaves.map((x, i) => l2Norm(x, `leaf${i}`))
        const total = globalNorm(gd)
        const got = [...(await Promise.all(norms.map((n) => readTree(n)))), await readTree(total)].map((x) => x[0]!)
        expect(norms.every((n) => n.shape.length === 0) && total.shape.length === 0).toBe(true)
        dispose([gd, norms, total])
        const sq = hostLeaves(g).map((h) => h.data.reduce((a, x) => a + x * x, 0))
        return allClose(got, [...sq.map(Math.sqrt), Math.sqrt(sq.reduce((a, b) => a + b, 0))])
      },
      15, backend.name,
    ))

  it('globalNorm of a tree without leaves is a ShapeError; clip allows min = max', async () => {
    expect(caught(() => globalNorm({}))).toEqual(new ShapeError('', 'globalNorm of a tree without leaves'))
    const g = { w: fromArray([-3, 0.2, 7], [3], backend) }
    const [u] = clip({ min: 0.5, max: 0.5 }).update(g, {})
    expect(Array.from((await readTree(u as typeof g)).w)).toEqual([0.5, 0.5, 0.5])
    dispose([g, u])
  })

  it('clip by value (seed 002)', () => checkOnce(backend, () => clip({ min: -1.5, max: 2 }), (g) => g.map((x) => R.clipByValueReference(x, -1.5, 2))))
  it('clip(δ) is symmetric clipping', () => checkOnce(backend, () => clip(0.7), (g) => g.map((x) => R.clipByValueReference(x, -0.7, 0.7))))
  it('clipByNorm per leaf (seed 002)', () => checkOnce(backend, () => clipByNorm(3), (g) => g.map((x) => R.clipByNormReference(x, 3))))
  it('clipByGlobalNorm', () => checkOnce(backend, () => clipByGlobalNorm(5), (g) => R.clipByGlobalNormReference(g, 5)))
  it('clipByBlockRms', () => checkOnce(backend, () => clipByBlockRms(2), (g) => g.map((x) => R.clipByBlockRmsReference(x, 2))))
  it('adaptiveGradClip, unit-wise over ranks 3 and 4 and shapes with unit axes', () => {
    const hi = (shape: number[]) => new HostTensor(shape, new Float64Array(shape.reduce((a, b) => a * b, 1)))
    const template = { a: hi([2, 3, 2]), b: hi([2, 1, 2, 3]), c: hi([1, 4, 1]), d: hi([3, 1]) }
    return assertLaw(
      fc.tuple(valuesLike(template, { min: -20, max: 20 }), valuesLike(template, { min: -2, max: 2 })),
      async ([g, p]) => {
        const t = adaptiveGradClip({ clipping: 0.3, eps: 1e-3 })
        const [gd, pd] = [toDevice(g, backend), toDevice(p, backend)]
        const [u, s2] = t.update(gd, t.init(pd), pd)
        const got = hostLeaves(await toHost(u))
        dispose([gd, pd, s2, u])
        return allClose(got, hostLeaves(g).map((x, i) => R.adaptiveGradClipReference(x, hostLeaves(p)[i]!, 0.3, 1e-3)), { rtol: 1e-3, atol: 1e-4 })
      },
      15, backend.name,
    )
  })
  it('adaptiveGradClip, unit-wise', () =>
    checkOnce(backend, () => adaptiveGradClip({ clipping: 0.3, eps: 1e-3 }), (g, p) => g.map((x, i) => R.adaptiveGradClipReference(x, p[i]!, 0.3, 1e-3)), { rtol: 1e-3, atol: 1e-4 }))
  it('addDecayedWeights (seed 001, L2)', () => checkOnce(backend, () => addDecayedWeights({ weightDecay: 0.1 }), (g, p) => g.map((x, i) => R.penaltyReference(x, p[i]!, 0, 0.1))))
  it('addL1Penalty (seed 001, sign subgradient)', () => checkOnce(backend, () => addL1Penalty({ l1: 0.2 }), (g, p) => g.map((x, i) => R.penaltyReference(x, p[i]!, 0.2, 0))))
  it('addElasticNet (seed 002/004)', () => checkOnce(backend, () => addElasticNet({ l1: 0.2, l2: 0.05 }), (g, p) => g.map((x, i) => R.penaltyReference(x, p[i]!, 0.2, 0.05))))
  it('centralize', () => checkOnce(backend, () => centralize(), (g) => g.map(R.centralizeReference), { rtol: 1e-4, atol: 1e-4 }))
  it('keepParamsNonnegative', () => checkOnce(backend, () => keepParamsNonnegative(), (g, p) => g.map((x, i) => R.keepParamsNonnegativeReference(x, p[i]!))))
  it('scaleByTrustRatio', () => checkOnce(backend, () => scaleByTrustRatio({ trustCoefficient: 0.5, eps: 1e-3 }), (g, p) => g.map((x, i) => R.trustRatioReference(x, p[i]!, 0, 0.5, 1e-3)), { rtol: 1e-3, atol: 1e-4 }))
  it('scaleByTrustRatio with a norm floor, on the leaves a mask selects', () =>
    checkOnce(
      backend,
      () => scaleByTrustRatio({ minNorm: 2, trustCoefficient: 0.7, eps: 0.01, mask: (q: Params) => tree.map((x: Tensor) => x.size % 2 === 1)(q) }),
      (g, p) => g.map((x, i) => (x.data.length % 2 === 1 ? R.trustRatioReference(x, p[i]!, 2, 0.7, 0.01) : x)),
      { rtol: 1e-3, atol: 1e-4 },
    ))
  it('scaleBySign', () => checkOnce(backend, () => scaleBySign(), (g) => g.map((x) => new HostTensor(x.shape, Array.from(x.data, Math.sign)))))

  it('ema, debiased or not', () =>
    assertLaw(
      fc.tuple(templateArb.chain((t) => fc.array(valuesLike(t), { minLength: 1, maxLength: 5 })), fc.double({ min: 0, max: 0.99, noNaN: true }), fc.boolean()),
      async ([gs, d, debias]) => {
        const run = await runTransform(ema({ decay: d, debias }), gs[0]!, gs, backend)
        const expected = tree.leaves(gs[0]!).map((_, j) => R.emaReference(gs.map((g) => tree.leaves(g)[j]!), d, debias))
        return allClose(run.updates.map((u) => tree.leaves(u)), gs.map((_, k) => expected.map((e) => e[k]!)))
      },
      15, backend.name,
    ))

  it('masks: masked-out leaves pass through unchanged (tree and function forms)', async () => {
    const p = { kernel: fromArray([1, -2, 3, -4], [2, 2], backend), bias: fromArray([5, -6], [2], backend) }
    const g = { kernel: fromArray([0.1, 0.1, 0.1, 0.1], [2, 2], backend), bias: fromArray([0.1, 0.1], [2], backend) }
    for (const mask of [{ kernel: true, bias: false }, (q: typeof p) => tree.map((x: Tensor) => x.shape.length > 1)(q)]) {
      const t = addDecayedWeights({ weightDecay: 0.5, mask: mask as never })
      const [u] = t.update(g, t.init(p), p)
      const h = await readTree(u as typeof p)
      expect(Array.from(h.bias)).toEqual(Array.from(Float32Array.of(0.1, 0.1)))
      expect(Array.from(h.kernel)).toEqual(Array.from(Float32Array.of(0.6, -0.9, 1.6, -1.9)))
    }
    const e = caught(() => addDecayedWeights({ weightDecay: 0.5, mask: { kernel: true } as never }).update(g, { count: 0 }, p))
    expect(e).toBeInstanceOf(StructureError)
    expect(e.message).toContain('bias')
    dispose([p, g])
  })

  it('zeroNans zeroes NaN (not ±∞) and flags the leaves that had one', async () => {
    const g = { a: fromArray([NaN, 1, Infinity], [3], backend), b: fromArray([2], [1], backend) }
    const t = zeroNans()
    const [u, s] = t.update(g, t.init(g))
    const h = await readTree(u as typeof g)
    expect(Array.from(h.a)).toEqual([0, 1, Infinity])
    expect(await readTree(s.foundNan as never)).toEqual({ a: Float32Array.of(1), b: Float32Array.of(0) })
    dispose([g, u, s])
  })

  it('addNoise: reproducible, annealed as η/(1 + k)^γ, mean 0', async () => {
    const n = 20000
    const g = { w: fromArray(new Float32Array(n), [n], backend) }
    const t = addNoise({ eta: 0.25, gamma: 0.55, seed: 11 })
    let s = t.init(g)
    const variances: number[] = []
    for (let k = 0; k < 3; k++) {
      const [u, s2] = t.update(g, s)
      const [u2] = t.update(g, s)
      const x = (await readTree(u as typeof g)).w
      expect(Array.from((await readTree(u2 as typeof g)).w)).toEqual(Array.from(x))
      const mean = x.reduce((a, b) => a + b, 0) / n
      variances.push(x.reduce((a, b) => a + (b - mean) ** 2, 0) / n)
      expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt(0.25 / n))
      dispose([u, u2])
      s = s2
    }
    variances.forEach((v, k) => expect(Math.abs(v / (0.25 / (1 + k) ** 0.55) - 1)).toBeLessThan(0.05))
    dispose(g)
  })

  it('scaleByLbfgs matches the two-loop reference on random quadratics', () =>
    assertLaw(
      fc.tuple(
        fc.array(fc.tuple(fc.double({ min: 0.5, max: 5, noNaN: true }), fc.double({ min: -2, max: 2, noNaN: true })), { minLength: 2, maxLength: 6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
      ),
      async ([coeffs, memory, steps, scaleInitPrecond]) => {
        // two leaves, so the inner products sum over leaves as the reference's concatenated vector does
        const a = coeffs.map((c) => Math.fround(c[0]))
        const theta0 = coeffs.map((c) => Math.fround(c[1]))
        const cut = a.length >> 1
        const grad = (t: ArrayLike<number>) => Float64Array.from(a, (ai, i) => ai * t[i]!)
        const split = (v: ArrayLike<number>): HostTree => ({ u: new HostTensor([cut], Array.from(v).slice(0, cut)), w: new HostTensor([a.length - cut], Array.from(v).slice(cut)) })
        const join = (p: HostTree) => { const q = p as { u: HostTensor; w: HostTensor }; return [...q.u.data, ...q.w.data] }
        const traj = await runOnObjective(lbfgs({ learningRate: 0.5, memorySize: memory, scaleInitPrecond, linesearch: null }), split(theta0), (p) => split(grad(join(p))), steps, backend)
        return allClose(Float64Array.from(join(traj.at(-1)!)), lbfgsReference(Float64Array.from(theta0), grad, steps, 0.5, memory, scaleInitPrecond), { rtol: 1e-3, atol: 1e-4 })
      },
      15, backend.name,
    ))

  it('scaleByLbfgs rejects a memory whose s, y and ρ lists disagree or exceed memorySize', () => {
    const t = scaleByLbfgs({ memorySize: 1 })
    const p = { w: fromArray([1, 2], [2], backend) }
    const s0 = t.init(p)
    const [u1, s1] = t.update(p, s0, p)
    const [u2, s2] = t.update(p, s1, p)
    expect(s2.s).toHaveLength(1)
    for (const bad of [{ ...s2, y: [] }, { ...s2, rho: [] }, { ...s2, s: [...s2.s, ...s2.s], y: [...s2.y, ...s2.y], rho: [...s2.rho, ...s2.rho] }]) {
      const e = caught(() => t.update(p, bad, p))
      expect(e.message).toMatch(/^tree structures differ at s: scaleByLbfgs: memory of \d s, \d y, \d rho \(memorySize 1\)$/)
    }
    dispose([p, s0, u1, s1, u2, s2])
  })

  it('scaleByLbfgs: the first step returns a copy of g and adds no pair; the memory then holds the last memorySize pairs', () => {
    const t = scaleByLbfgs({ memorySize: 2 })
    let p: Params = { w: fromArray([1, 2], [2], backend) }
    let s = t.init(p)
    const lengths: number[] = []
    for (let k = 0; k < 4; k++) {
      const g = tree.map((x: Tensor) => fromArray([0.5 * (k + 1), -0.25], x.shape, backend))(p) as Params
      const [u, s2] = t.update(g, s, p)
      if (k === 0) expect((u as { w: Tensor }).w).not.toBe((g as { w: Tensor }).w)
      lengths.push(s2.s.length)
      const p2: Params = applyUpdates(p, tree.map((x: Tensor) => fromArray([-0.1 * (k + 1), 0.2], x.shape, backend))(u) as Params)
      dispose([g, u, s, p])
      ;[s, p] = [s2, p2]
    }
    expect(lengths).toEqual([0, 1, 2, 2])
    dispose([p, s])
  })

  it('transforms that need params say so', () => {
    const g = { w: fromArray([1], [1], backend) }
    for (const t of [addDecayedWeights({ weightDecay: 0.1 }), keepParamsNonnegative(), scaleByTrustRatio(), adaptiveGradClip(), scaleByLbfgs()] as AnyTransformation[]) {
      const e = caught(() => t.update(g, t.init(g)))
      expect(e).toBeInstanceOf(MissingParamsError)
    }
    expect(caught(() => adaptiveGradClip().update({ w: fromArray(new Array(32).fill(1), [2, 2, 2, 2, 2], backend) }, {}, { w: fromArray(new Array(32).fill(1), [2, 2, 2, 2, 2], backend) }))).toEqual(
      new ShapeError('w', 'adaptiveGradClip supports tensors of rank ≤ 4, got [2, 2, 2, 2, 2]'),
    )
    dispose(g)
  })
})

const primitives: [string, () => AnyTransformation][] = [
  ['clip', () => clip(1)],
  ['clipByNorm', () => clipByNorm(1)],
  ['clipByGlobalNorm', () => clipByGlobalNorm(1)],
  ['clipByBlockRms', () => clipByBlockRms(1)],
  ['adaptiveGradClip', () => adaptiveGradClip()],
  ['addDecayedWeights', () => addDecayedWeights({ weightDecay: 0.1 })],
  ['addL1Penalty', () => addL1Penalty({ l1: 0.1 })],
  ['addElasticNet', () => addElasticNet({ l1: 0.1, l2: 0.1 })],
  ['addNoise', () => addNoise({ seed: 3 })],
  ['centralize', () => centralize()],
  ['keepParamsNonnegative', () => keepParamsNonnegative()],
  ['zeroNans', () => zeroNans()],
  ['scaleBySign', () => scaleBySign()],
  ['ema', () => ema()],
  ['scaleByAmsgrad', () => scaleByAmsgrad()],
  ['scaleByAdamax', () => scaleByAdamax()],
  ['scaleByRms', () => scaleByRms()],
  ['scaleByStddev', () => scaleByStddev()],
  ['scaleByRss', () => scaleByRss()],
  ['scaleByAdadelta', () => scaleByAdadelta()],
  ['scaleByLion', () => scaleByLion()],
  ['scaleByRadam', () => scaleByRadam()],
  ['scaleByTrustRatio', () => scaleByTrustRatio()],
  ['scaleByLbfgs', () => scaleByLbfgs({ memorySize: 3 })],
  ['rmsprop centered nesterov', () => rmsprop({ learningRate: 0.1, centered: true, momentum: 0.9, nesterov: true })],
]
for (const [name, make] of primitives) checkTransformLaws(name, make, { backends, numRuns: 4 })

describe('bad hyperparameters throw a HyperparameterError naming field, value and range', () => {
  const cases: [string, () => unknown, string, RegExp][] = [
    ['b2 ≥ 1', () => adam({ learningRate: 0.1, b2: 1 }), 'b2', /\[0, 1\)/],
    ['b2 > 1 in amsgrad', () => scaleByAmsgrad({ b2: 1.01 }), 'b2', /\[0, 1\)/],
    ['negative eps', () => rmsprop({ learningRate: 0.1, eps: -1 }), 'eps', /≥ 0/],
    ['negative eps in adagrad', () => adagrad({ learningRate: 0.1, eps: -1e-7 }), 'eps', /≥ 0/],
    ['non-finite learning rate', () => adamw({ learningRate: Infinity }), 'learningRate', /finite/],
    ['NaN learning rate', () => lbfgs({ learningRate: NaN }), 'learningRate', /finite/],
    ['memory size 0 for L-BFGS', () => lbfgs({ memorySize: 0 }), 'memorySize', /integer ≥ 1/],
    ['fractional memory size', () => scaleByLbfgs({ memorySize: 2.5 }), 'memorySize', /integer ≥ 1/],
    ['adadelta eps 0', () => adadelta({ learningRate: 1, eps: 0 }), 'eps', /> 0/],
    ['clip with min > max', () => clip({ min: 1, max: -1 }), 'max', /≥ min/],
    ['clipByNorm negative', () => clipByNorm(-1), 'maxNorm', /≥ 0/],
    ['unknown convention', () => adam({ learningRate: 0.1, convention: 'jax' as never }), 'convention', /'optax', 'pytorch', 'keras', 'tfjs'/],
    ['convention a framework lacks', () => adamw({ learningRate: 0.1, convention: 'tfjs' }), 'convention', /'optax', 'pytorch', 'keras'/],
    ['nesterov rmsprop in keras', () => rmsprop({ learningRate: 0.1, momentum: 0.9, nesterov: true, convention: 'keras' }), 'nesterov', /^rmsprop: nesterov = true is invalid; expected false: the keras convention has no Nesterov RMSProp$/],
    ['ν₀ in pytorch', () => rmsprop({ learningRate: 0.1, initialScale: 1, convention: 'pytorch' }), 'initialScale', /^rmsprop: initialScale = 1 is invalid; expected 0: the pytorch convention starts ν at 0$/],
    ['centered rmsprop with ε = 0', () => rmsprop({ learningRate: 0.1, centered: true, eps: 0 }), 'eps', /^rmsprop: eps = 0 is invalid; expected a number > 0 when centered/],
    ['negative weight decay', () => addDecayedWeights({ weightDecay: -1 }), 'weightDecay', /≥ 0/],
    ['noise seed', () => addNoise({ seed: -3 }), 'seed', /integer/],
    ['momentum 1', () => sgd({ learningRate: 0.1, momentum: 1, convention: 'keras' }), 'momentum', /\[0, 1\)/],
  ]
  it.each(cases)('%s', (_n, build, field, range) => {
    const e = caught(build)
    expect(e).toBeInstanceOf(HyperparameterError)
    expect((e as HyperparameterError).field).toBe(field)
    expect(e.message).toMatch(range)
  })
})
