/**
 * The non-finite policy (docs/nonfinite.md) on every backend: a NaN or ±∞ gradient entry reaches the
 * params as a non-finite value in every catalogued transform and optimizer (and every convention and
 * primitive behind them), is never frozen into a silent 0 afterwards, while the 0/0 of a coordinate
 * that never saw a gradient stays an exact 0; `applyIfFinite` skips overflow inside the optimizer,
 * restoring its tensors bit for bit and counting the skip; zero-size leaves pass through every
 * norm-based transform; `allClose` takes NaN for a mismatch unless told otherwise. Regressions of
 * issue 12, items 1, 2, 8 and 9.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type AnyTransformation,
  type Backend,
  type Convention,
  type GradientTransformation,
  type Params,
  type Tensor,
  adadelta,
  adagrad,
  adam,
  adamax,
  adamw,
  adaptiveGradClip,
  addNoise,
  amsgrad,
  applyIfFinite,
  applyUpdates,
  chain,
  clipByBlockRms,
  clipByGlobalNorm,
  clipByNorm,
  defineElementwise,
  dispose,
  elementwise,
  ema,
  fromArray,
  injectHyperparams,
  lamb,
  lars,
  lbfgs,
  lookahead,
  masked,
  readTree,
  rmsprop,
  scaleByAdadelta,
  scaleByAdam,
  scaleByAdamax,
  scaleByAmsgrad,
  scaleByLbfgs,
  scaleByLion,
  scaleByRadam,
  scaleByRms,
  scaleByRss,
  scaleByStddev,
  scaleByTrustRatio,
  scope,
  sgd,
  trace,
  tree,
  zeroNans,
  zeros,
} from '../src/index.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
import { type SequenceInput, hyperparametersArb, sequenceArb } from '../laws/arbitraries.js'
import { catalog, runsOn } from '../laws/catalog.js'
import { HostTensor, type HostTree } from '../laws/host.js'
import { exact, type LawResult } from '../laws/predicates/transform.js'
import { radamReference } from '../laws/reference/optimizers.js'
import { runTransform } from '../laws/run.js'
import { assertLaw, propertyParameters } from '../laws/runners.js'
import { backends } from './backends.js'

// ---- the property ---------------------------------------------------------------------------------

/** A planted transformation: state s (zeros at init) and per leaf one op of (g, s) giving [s', u]. */
const leafwise = (name: string, [next, out]: readonly [string, string]): GradientTransformation<{ readonly s: Params }> => {
  const op = defineElementwise({ name, inputs: ['g', 's'], outputs: [next, out] })
  return {
    init: (params) => ({ s: tree.map((x: Tensor) => x.backend.fill(x.shape, 0))(params) }),
    update: (u, st) => {
      const { leaves, structure } = tree.flatten(u)
      const ss = tree.leaves(st.s)
      const outs = leaves.map((g, j) => elementwise(op, [g as Tensor, ss[j] as Tensor]))
      return [tree.unflatten(structure, outs.map((o) => o[1]!)), { s: tree.unflatten(structure, outs.map((o) => o[0]!)) }] as const
    },
  }
}

/** Where a non-finite value is planted: step k, the flat element index over all leaves, the value. */
interface Plant {
  readonly step: number
  readonly at: number
  readonly value: number
}

const plantArb: fc.Arbitrary<Plant> = fc.record({
  step: fc.nat(),
  at: fc.nat(),
  value: fc.oneof({ weight: 2, arbitrary: fc.constant(NaN) }, { weight: 1, arbitrary: fc.constantFrom(Infinity, -Infinity) }),
})

const flatLeaves = (t: HostTree): Float64Array[] => tree.leaves(t).map((h: HostTensor) => h.data)

/** The leaf and element of flat index `at` (mod the size of the tree). */
const locate = (t: HostTree, at: number): readonly [number, number] => {
  const sizes = flatLeaves(t).map((d) => d.length)
  let i = at % sizes.reduce((a, b) => a + b, 0)
  for (let j = 0; j < sizes.length; j++) {
    if (i < sizes[j]!) return [j, i]
    i -= sizes[j]!
  }
  throw new Error('unreachable')
}

const withValue = (t: HostTree, [leaf, i]: readonly [number, number], v: number): HostTree => {
  const { leaves, structure } = tree.flatten(t)
  return tree.unflatten(structure, (leaves as HostTensor[]).map((h, j) => (j === leaf ? new HostTensor(h.shape, h.data.map((x, n) => (n === i ? v : x))) : h)))
}

const fail = (message: string): LawResult => ({ ok: false, path: '', index: -1, actual: NaN, expected: NaN, message })

/**
 * The policy on one input: with a non-finite entry planted at one coordinate at step k, the update
 * there at step k is non-finite, the params there stay non-finite from step k on, and no later
 * update there is an exact 0 where the same run without the plant moves that coordinate.
 */
const carriesNonFinite = async (t: () => AnyTransformation, input: SequenceInput, p: Plant, backend: Backend): Promise<LawResult> => {
  const k = p.step % input.grads.length
  const where = locate(input.params, p.at)
  const [leaf, i] = where
  const planted = input.grads.map((g, j) => (j === k ? withValue(g, where, p.value) : g))
  const run = await runTransform(t(), input.params, planted, backend)
  const clean = await runTransform(t(), input.params, input.grads, backend)
  const at = (h: HostTree) => flatLeaves(h)[leaf]![i]!
  const uk = at(run.updates[k]!)
  if (Number.isFinite(uk)) return fail(`step ${k}: a ${p.value} gradient at leaf ${leaf}[${i}] gave the finite update ${uk}`)
  for (let j = k; j < planted.length; j++) {
    const theta = at(run.params[j]!)
    if (Number.isFinite(theta)) return fail(`step ${j}: after a ${p.value} gradient at step ${k}, the param at leaf ${leaf}[${i}] is finite again (${theta})`)
  }
  for (let j = k + 1; j < planted.length; j++) {
    const u = at(run.updates[j]!)
    const c = at(clean.updates[j]!)
    if (u === 0 && c !== 0) return fail(`step ${j}: after a ${p.value} gradient at step ${k}, a silent 0 update at leaf ${leaf}[${i}] where the clean run moves it by ${c}`)
  }
  return { ok: true }
}

const inputs = sequenceArb({ minSteps: 2, maxSteps: 5 })

// every convention of every optimizer that has them, and the primitives and wrappers behind them
const all: readonly Convention[] = ['optax', 'pytorch', 'keras', 'tfjs']
const fixed: [string, () => AnyTransformation][] = [
  ...all.flatMap((cv): [string, () => AnyTransformation][] => [
    [`sgd nesterov (${cv})`, () => sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true, convention: cv })],
    [`adagrad (${cv})`, () => adagrad({ learningRate: 0.1, convention: cv })],
    [`rmsprop centered momentum (${cv})`, () => rmsprop({ learningRate: 0.01, centered: true, momentum: 0.5, convention: cv })],
    [`adadelta (${cv})`, () => adadelta({ learningRate: 1, convention: cv })],
    [`adam (${cv})`, () => adam({ learningRate: 0.01, convention: cv })],
    [`adamax (${cv})`, () => adamax({ learningRate: 0.01, convention: cv })],
  ]),
  ...(['optax', 'pytorch', 'keras'] as const).flatMap((cv): [string, () => AnyTransformation][] => [
    [`adamw (${cv})`, () => adamw({ learningRate: 0.01, convention: cv })],
    [`amsgrad (${cv})`, () => amsgrad({ learningRate: 0.01, convention: cv })],
  ]),
  ['trace', () => trace({ decay: 0.9 })],
  ['ema', () => ema({ decay: 0.9 })],
  ['scaleByAdam (nesterov, ε = 0)', () => scaleByAdam({ nesterov: true, eps: 0 })],
  ['scaleByAmsgrad', () => scaleByAmsgrad()],
  ['scaleByAdamax', () => scaleByAdamax()],
  ['scaleByRms (ε outside, bias correction)', () => scaleByRms({ epsInSqrt: false, biasCorrection: true })],
  ['scaleByStddev', () => scaleByStddev()],
  ['scaleByRss (r₀ = 0, ε = 0)', () => scaleByRss({ initialAccumulatorValue: 0, eps: 0 })],
  ['scaleByAdadelta', () => scaleByAdadelta()],
  ['scaleByLion', () => scaleByLion()],
  ['scaleByRadam (b₂ = 0.9: rectified from step 6)', () => scaleByRadam({ b2: 0.9 })],
  ['scaleByTrustRatio', () => scaleByTrustRatio()],
  ['scaleByLbfgs', () => scaleByLbfgs({ memorySize: 3 })],
  ['adaptiveGradClip', () => adaptiveGradClip()],
  ['addNoise', () => addNoise()],
  ['chain(clipByGlobalNorm, adam)', () => chain(clipByGlobalNorm(1), adam({ learningRate: 0.1 }))],
  ['lookahead(adam)', () => lookahead(adam({ learningRate: 0.1 }), { syncPeriod: 2 })],
  ['injectHyperparams(adam)', () => injectHyperparams(adam)({ learningRate: 0.1 })],
  ['masked(adam)', () => masked(adam({ learningRate: 0.1 }), (p: Params) => tree.map(() => true)(p))],
]

describe.each(backends)('a NaN or ±∞ gradient reaches the params, never a silent 0, on $name', (backend) => {
  it.each(catalog.filter((e) => runsOn(e, backend)).map((e) => [e.name, e] as const))('%s (catalogue, hyperparameters from its codecs)', (_n, entry) =>
    assertLaw(
      fc.tuple(inputs, hyperparametersArb(entry.hyperparameters), plantArb),
      ([x, h, p]) => carriesNonFinite(() => entry.make(h), x, p, backend),
      8, backend.name,
    ))

  it.each(fixed)('%s', (_n, make) => assertLaw(fc.tuple(inputs, plantArb), ([x, p]) => carriesNonFinite(make, x, p, backend), 4, backend.name))

  it('the property can fail: zeroNans turns a NaN into a 0 step; a guard that freezes a NaN state is caught later', async () => {
    // NaN only: zeroNans keeps ±∞
    const nanPlant = plantArb.map((p) => ({ ...p, value: NaN }))
    const zeroed = await fc.check(fc.asyncProperty(inputs, nanPlant, async (x, p) => (await carriesNonFinite(() => chain(zeroNans(), sgd({ learningRate: 0.1 })), x, p, backend)).ok), propertyParameters(20, {}, backend.name))
    expect(zeroed.failed).toBe(true)
    // the update is g while the state is finite, then 0 once the state went NaN: the old `den > 0 ? … : 0` freeze
    const freezing = leafwise('plantedFreeze', ['s + g', '(s > 0 || s <= 0) ? g : 0'])
    const frozenLater = await fc.check(
      // gradients in [0.5, 10]: the clean run moves every coordinate at every step
      fc.asyncProperty(sequenceArb({ minSteps: 3, maxSteps: 5, grads: { min: 0.5, max: 10, zeroWeight: 0 } }), nanPlant, async (x, p) => (await carriesNonFinite(() => freezing, x, { ...p, step: 0 }, backend)).ok),
      propertyParameters(10, {}, backend.name),
    )
    expect(frozenLater.failed).toBe(true)
  })
})

// ---- the exact 0/0 the guards exist for ------------------------------------------------------------------

describe.each(backends)('a coordinate that never saw a gradient gets an exact 0 update (0/0 with ε = 0), on $name', (backend) => {
  it.each([
    ['scaleByAdam', () => scaleByAdam({ eps: 0 })],
    ['scaleByAdam (nesterov)', () => scaleByAdam({ eps: 0, nesterov: true })],
    ['scaleByAmsgrad', () => scaleByAmsgrad({ eps: 0 })],
    ['scaleByAdamax', () => scaleByAdamax({ eps: 0 })],
    ['scaleByRms', () => scaleByRms({ eps: 0 })],
    ['scaleByRss', () => scaleByRss({ initialAccumulatorValue: 0, eps: 0 })],
    ['scaleByRadam (rectified from step 6)', () => scaleByRadam({ eps: 0, b2: 0.9 })],
  ] as [string, () => AnyTransformation][])('%s', async (_n, make) => {
    const params = new HostTensor([2], [1, 2])
    const run = await runTransform(make(), params, Array.from({ length: 8 }, () => new HostTensor([2], [0, 0.5])), backend)
    for (const u of run.updates) {
      const [never, seen] = (u as HostTensor).data
      expect(never === 0).toBe(true)
      expect(Number.isFinite(seen) && seen !== 0).toBe(true)
    }
  })
})

// ---- issue 12 regressions ---------------------------------------------------------------------------------

const step = <S,>(opt: GradientTransformation<S>) => {
  let state: S | undefined
  let params: Params | undefined
  return {
    init: (p: Params) => {
      params = p
      state = opt.init(p)
    },
    update: (g: Params) => {
      const [u, p2, s2] = scope(() => {
        const [u, s] = opt.update(g, state!, params)
        return [u, applyUpdates(params!, u), s] as const
      })
      dispose([params, state, g], [p2, s2, u])
      params = p2
      state = s2
      return u
    },
    get state() {
      return state!
    },
    get params() {
      return params!
    },
    dispose: () => dispose([params, state]),
  }
}

describe.each(backends)('issue 12 regressions on $name', (backend) => {
  it('item 1: adam after a NaN gradient at w[0] updates it by NaN, not 0, and leaves w[1] alone', async () => {
    const s = step(adam({ learningRate: 0.1 }))
    s.init({ w: fromArray([0.5, 1], [2], backend) })
    const u1 = s.update({ w: fromArray([NaN, 1], [2], backend) })
    const u2 = s.update({ w: fromArray([1, 1], [2], backend) })
    // Adam's first steps are −α·sign(g): [NaN, −0.1], then [NaN, −0.1] (it was [0, −0.1] forever);
    // −0.0999993 with Optax's float32 bias corrections, 1 − float32(0.999) = 0.99998713e-3
    for (const u of [u1, u2]) {
      const [a, b] = (await readTree(u as { w: Tensor })).w
      expect(a).toBeNaN()
      expect(b).toBeCloseTo(-0.1, 5)
    }
    expect((await readTree(s.params as { w: Tensor })).w[0]).toBeNaN()
    dispose([u1, u2])
    s.dispose()
  })

  it('item 8: applyIfFinite(adam) skips a 1e30 gradient (ν overflows), keeps every state tensor bit for bit, counts the skip', async () => {
    const s = step(applyIfFinite(adam({ learningRate: 0.1 })))
    s.init({ w: fromArray([1, 2], [2], backend), b: fromArray([3], [1], backend) })
    const p0 = () => readTree(s.params)
    const innerOf = () => s.state.inner as unknown as readonly [{ readonly count: number; readonly mu: Params; readonly nu: Params }, { readonly count: number }]
    dispose(s.update({ w: fromArray([1, -1], [2], backend), b: fromArray([0.5], [1], backend) }))
    const before = { params: await p0(), mu: await readTree(innerOf()[0].mu), nu: await readTree(innerOf()[0].nu), count: innerOf()[0].count }
    const u = s.update({ w: fromArray([1e30, 1], [2], backend), b: fromArray([1], [1], backend) })
    // every update is exactly 0 and every tensor of the inner state is what it was
    expect(await readTree(u)).toEqual({ w: Float32Array.of(0, 0), b: Float32Array.of(0) })
    expect(await p0()).toEqual(before.params)
    expect(allClose(await readTree(innerOf()[0].mu), before.mu, exact).ok).toBe(true)
    expect(allClose(await readTree(innerOf()[0].nu), before.nu, exact).ok).toBe(true)
    const counters = async () => [(await readTree(s.state.notfiniteCount))[0], (await readTree(s.state.lastFinite))[0], (await readTree(s.state.totalNotfinite))[0]]
    expect(await counters()).toEqual([1, 0, 1])
    // where the flag can be read at once (cpu, webasm, webgl2), the skipped step keeps the previous
    // inner state whole, host step counters included; on webgpu the host counters run
    // totalNotfinite steps ahead of the steps applied (docs/nonfinite.md)
    const probe = fromArray([0], [1], backend)
    const hostDecides = backend.readSync?.(probe) !== undefined
    dispose(probe)
    expect(innerOf()[0].count).toBe(hostDecides ? before.count : before.count + (await counters())[2]!)
    dispose(u)
    const u3 = s.update({ w: fromArray([1, 1], [2], backend), b: fromArray([1], [1], backend) })
    const { w, b } = (await readTree(u3)) as { w: Float32Array; b: Float32Array }
    expect([...w, ...b].every((x) => Number.isFinite(x) && x !== 0)).toBe(true)
    expect(await counters()).toEqual([0, 1, 1])
    dispose(u3)
    s.dispose()
  })

  it('item 8: without applyIfFinite the overflow is loud at once, not a frozen coordinate', async () => {
    const s = step(adam({ learningRate: 0.1 }))
    s.init({ w: fromArray([1, 2], [2], backend) })
    const first = (await readTree(s.update({ w: fromArray([1e30, 1], [2], backend) }) as { w: Tensor })).w
    // NaN at the overflowing step itself, on the cpu (float64 intermediates) as in float32
    expect(first[0]).toBeNaN()
    for (const g of [[1, 1], [1, 1]]) dispose(s.update({ w: fromArray(g, [2], backend) }))
    const [w0, w1] = (await readTree(s.params as { w: Tensor })).w
    expect(w0).toBeNaN()
    expect(w1).toBeCloseTo(1.7, 5)
    s.dispose()
  })

  // every catalogued transform and every fixed case: a finite gradient of 1e30 (whose square
  // overflows float32) at w[0] after one ordinary step never gives w[0] an exact 0 update
  const overflowCases: [string, () => AnyTransformation][] = [
    ...catalog.filter((e) => runsOn(e, backend)).map((e): [string, () => AnyTransformation] => [
      e.name,
      () => e.make(Object.fromEntries(Object.entries({ learningRate: 0.1, maxNorm: 1, threshold: 1, weightDecay: 0.01 }).filter(([k]) => k in e.hyperparameters))),
    ]),
    ...fixed,
  ]
  it.each(overflowCases)('item 8: a 1e30 gradient is never a silent 0 step in %s', async (_n, make) => {
    const params = new HostTensor([2], [0.5, -1])
    const run = await runTransform(make(), params, [[1, 1], [1e30, 1], [1, 1], [1, 1]].map((g) => new HostTensor([2], g)), backend)
    run.updates.slice(1).forEach((u, k) => expect((u as HostTensor).data[0] === 0, `step ${k + 1}: ${(u as HostTensor).data[0]}`).toBe(false))
  })

  it('item 8: applyIfFinite checks the inner state even where the updates are finite', async () => {
    // updates pass through; the state is g², which overflows float32 at 1e30
    const s = step(applyIfFinite(leafwise('plantedSquare', ['g * g', 'g'])))
    s.init({ w: fromArray([1, 2], [2], backend) })
    const u = s.update({ w: fromArray([1e30, 1], [2], backend) })
    expect((await readTree(u as { w: Tensor })).w).toEqual(Float32Array.of(0, 0))
    expect(await readTree((s.state.inner as { s: { w: Tensor } }).s.w)).toEqual(Float32Array.of(0, 0))
    expect((await readTree(s.state.totalNotfinite))[0]).toBe(1)
    dispose(u)
    s.dispose()
  })

  const norms: [string, () => AnyTransformation][] = [
    ['clipByNorm', () => clipByNorm(1)],
    ['clipByGlobalNorm', () => clipByGlobalNorm(1)],
    ['clipByBlockRms', () => clipByBlockRms(1)],
    ['adaptiveGradClip', () => adaptiveGradClip()],
    ['scaleByTrustRatio', () => scaleByTrustRatio()],
    ['applyIfFinite(adam)', () => applyIfFinite(adam({ learningRate: 0.1 }))],
    ['lamb', () => lamb({ learningRate: 0.1 })],
    ['lars', () => lars({ learningRate: 0.1 })],
    ['lbfgs', () => lbfgs({ learningRate: 0.1, linesearch: null })],
    ['scaleByLbfgs', () => scaleByLbfgs({ memorySize: 2 })],
  ]
  it.each(norms)('item 9: zero-size leaves through %s: empty updates, and the other leaves as without them', async (_n, make) => {
    const w0 = new HostTensor([2, 2], [3, -4, 0.5, 2])
    const grads = [[1, 2, -3, 0.5], [0.2, -1, 4, 1], [-2, 0.1, 1, 1]].map((g) => new HostTensor([2, 2], g))
    const empty = (shape: number[]) => new HostTensor(shape, [])
    const withEmpty = await runTransform(make(), { a: empty([0, 3]), w: w0, z: empty([0]) }, grads.map((g) => ({ a: empty([0, 3]), w: g, z: empty([0]) })), backend)
    const alone = await runTransform(make(), { w: w0 }, grads.map((g) => ({ w: g })), backend)
    const onlyEmpty = await runTransform(make(), { a: empty([0, 3]) }, grads.map(() => ({ a: empty([0, 3]) })), backend)
    withEmpty.updates.forEach((u, k) => {
      const { a, w, z } = u as { a: HostTensor; w: HostTensor; z: HostTensor }
      expect([a.shape, z.shape, a.data.length + z.data.length]).toEqual([[0, 3], [0], 0])
      expect(allClose(w, (alone.updates[k] as { w: HostTensor }).w, exact)).toEqual({ ok: true })
    })
    expect(onlyEmpty.updates.map((u) => (u as { a: HostTensor }).a.shape)).toEqual(grads.map(() => [0, 3]))
  })
})

describe('item 2: allClose takes NaN for a mismatch unless nanEqual', () => {
  it('NaN vs NaN, NaN vs a number, and the explicit option', () => {
    expect(allClose([NaN, 1], [NaN, 1]).ok).toBe(false)
    expect(allClose([NaN], [NaN], exact).ok).toBe(false)
    expect(allClose([1], [NaN]).ok).toBe(false)
    expect(allClose([NaN], [1], { ...float32Tolerance, nanEqual: true }).ok).toBe(false)
    expect(allClose({ a: [NaN, 2], b: 3 }, { a: [NaN, 2], b: 3 }, { ...float32Tolerance, nanEqual: true }).ok).toBe(true)
    expect(allClose([Infinity, -Infinity], [Infinity, -Infinity]).ok).toBe(true)
    expect(allClose([Infinity], [-Infinity], { rtol: 1, atol: 1, nanEqual: true }).ok).toBe(false)
    const c = allClose({ w: Float64Array.of(1, NaN) }, { w: Float64Array.of(1, NaN) })
    expect(c.ok ? '' : c.message).toMatch(/^w\[1\]: NaN vs expected NaN .*NaN is a mismatch unless nanEqual/)
  })

  it('the RAdam draws the optimizer table used (thresholds 3 and 1.5) are NaN in the reference itself', () => {
    // ρₜ passes 3 on its way to ρ∞ while (ρₜ − 4) < 0: the rectifier's root is NaN
    const theta = radamReference([Float64Array.of(1)], Array.from({ length: 6 }, () => [Float64Array.of(0.5)]), () => 0.1, 0.9, 0.999, 1e-8, 3)
    expect(theta[0]![0]).toBeNaN()
    expect(allClose(theta, theta).ok).toBe(false)
    const five = radamReference([Float64Array.of(1)], Array.from({ length: 6 }, () => [Float64Array.of(0.5)]), () => 0.1, 0.9, 0.999, 1e-8, 5)
    expect(Number.isFinite(five[0]![0])).toBe(true)
  })
})

// the zeros() helper is part of the public API the issue names: `zeros([0, 3])` works with a norm transform
describe.each(backends)('zeros([0, 3]) straight from the API, on $name', (backend) => {
  it('clipByGlobalNorm over { empty, w }', async () => {
    const g = { e: zeros([0, 3], backend), w: fromArray([3, 4], [2], backend) }
    const [u] = clipByGlobalNorm(1).update(g, {})
    const out = (await readTree(u)) as { e: Float32Array; w: Float32Array }
    expect((u as { e: Tensor }).e.shape).toEqual([0, 3])
    expect(allClose(out.w, Float64Array.of(0.6, 0.8)).ok).toBe(true)
    dispose([g, u])
  })
})
