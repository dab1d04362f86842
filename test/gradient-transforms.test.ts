/**
 * The gradient transforms of src/transforms/gradients.ts and privacy.ts: each against its float64
 * reference (laws/reference/gradients.ts) on every backend; the DP noise's distribution and its
 * keys; the law catalogue over laws/catalog-gradients.ts (the skipping wrappers included); the
 * non-finite policy; shapes and options refused with typed errors; `scaleGradient` against finite
 * differences; and Optax 0.2.8's own numbers (test/fixtures/goldens/gradients-optax.json, written by
 * scripts/goldens/optax_gradients_goldens.py) through `update` and `compileStep` on the cpu backend,
 * at the tolerance of test/goldens.test.ts.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import { type Backend, type Params, type Tensor, applyUpdates, compileStep, cpu, dispose, fromArray, readTree, scope, tree } from '../src/index.js'
import { catalog } from '../laws/catalog.js'
import { catalogGradients, catalogGradientsSkipping, perExampleCoefficients } from '../laws/catalog-gradients.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
import { hyperparametersArb, sequenceArb, templateArb, valuesLike } from '../laws/arbitraries.js'
import { HostTensor, type HostTree, toDevice, toHost } from '../laws/host.js'
import * as ref from '../laws/reference/gradients.js'
import { adamFamilyReference, sgdTraceReference } from '../laws/reference/optimizers.js'
import { runTransform } from '../laws/run.js'
import { assertLaw, propertySeed, verifyTransformLaws } from '../laws/runners.js'
import { backends } from './backends.js'

type Leaves = Float64Array[]
const leaves = (t: HostTree): Leaves => tree.leaves(t).map((x) => Float64Array.from(x.data))
const hostLeaves = async (t: Params): Promise<Leaves> => leaves(await toHost(t))

/** Per-example gradients: a template's leaves with a batch axis of `batch` in front. */
const perExampleArb = fc.tuple(templateArb, fc.integer({ min: 1, max: 4 })).chain(([template, batch]) =>
  fc.array(valuesLike(template), { minLength: batch, maxLength: batch }).map((examples) => {
    const { structure } = tree.flatten(template)
    const stacked = tree.leaves(template).map((l, j) => new HostTensor([batch, ...l.shape], examples.flatMap((e) => Array.from(tree.leaves(e)[j]!.data))))
    return { batch, grads: tree.unflatten(structure, stacked) as HostTree }
  }),
)

/** The smallest |‖g_b‖ − C| / C over examples (global) or over examples and leaves (per leaf), to skip draws on the clipping boundary. */
const clipMargin = (perExample: Leaves, batch: number, clips: readonly number[], perLeaf: boolean): number => {
  let margin = Infinity
  for (let b = 0; b < batch; b++) {
    const parts = perExample.map((l) => l.subarray((b * l.length) / batch, ((b + 1) * l.length) / batch).reduce((s, x) => s + x * x, 0))
    const norms = perLeaf ? parts.map(Math.sqrt) : [Math.sqrt(parts.reduce((a, x) => a + x, 0))]
    norms.forEach((n, j) => {
      const c = clips[perLeaf ? j : 0]!
      if (Number.isFinite(c) && c > 0) margin = Math.min(margin, Math.abs(n - c) / c)
    })
  }
  return margin
}

const clipArb = fc.oneof(fc.constant(0), fc.constant(Infinity), fc.double({ min: 0.05, max: 20, noNaN: true }))

// ---- against the float64 references, on every backend -------------------------------------------

describe.each(backends)('against the float64 references on $name', (backend) => {
  it('normalizeByUpdateNorm: u = s·g/(‖g‖ + ε) at every step', () =>
    assertLaw(
      fc.tuple(sequenceArb(), fc.double({ min: -10, max: 10, noNaN: true }), fc.constantFrom(0, 1e-6, 1e-3, 1)),
      async ([x, s, eps]) => {
        const run = await runTransform(f.normalizeByUpdateNorm({ scaleFactor: s, eps }), x.params, x.grads, backend)
        for (let k = 0; k < x.grads.length; k++) {
          const r = allClose(leaves(run.updates[k]!), ref.normalizeByUpdateNormReference(leaves(x.grads[k]!), s, eps), float32Tolerance)
          if (!r.ok) return r
        }
        return { ok: true as const }
      },
      6, backend.name,
    ))

  it('perExampleGlobalNormClip and perExampleLayerNormClip: the clipped sums and the counts', () =>
    assertLaw(
      fc.tuple(perExampleArb, clipArb, fc.boolean()),
      async ([{ batch, grads }, c, uniform]) => {
        const g = leaves(grads)
        const k = g.length
        const sizes = g.map((l) => l.length / batch)
        const total = sizes.reduce((a, d) => a + d, 0)
        fc.pre(clipMargin(g, batch, [c], false) > 1e-4)
        fc.pre(clipMargin(g, batch, sizes.map((d) => (uniform ? c / Math.sqrt(k) : c * Math.sqrt(d / total))), true) > 1e-4)
        const device = toDevice(grads, backend)
        const [global, layer] = scope(() => [f.perExampleGlobalNormClip(device, c), f.perExampleLayerNormClip(device, c, { uniform })] as const)
        const expected = ref.perExampleGlobalNormClipReference(g, batch, c)
        const expectedLayer = ref.perExampleLayerNormClipReference(g, batch, c, uniform)
        const results = [
          allClose(await hostLeaves(global.sum), expected.sum, float32Tolerance),
          allClose(await hostLeaves(layer.sum), expectedLayer.sum, float32Tolerance),
          allClose([(await f.read(global.numClipped))[0]!], [expected.numClipped], { rtol: 0, atol: 0 }),
          allClose((await hostLeaves(layer.numClipped)).map((l) => l[0]!), expectedLayer.numClipped, { rtol: 0, atol: 0 }),
        ]
        // the sums are shaped like one example
        const shapes = tree.leaves(global.sum).map((x: Tensor) => x.shape)
        expect(shapes).toEqual(tree.leaves(grads).map((l) => l.shape.slice(1)))
        dispose([device, global, layer])
        return results.find((r) => !r.ok) ?? { ok: true as const }
      },
      6, backend.name,
    ))

  it('dpsgd with noiseMultiplier 0: SGD with momentum on the clipped means', () =>
    assertLaw(
      fc.tuple(
        templateArb.chain((template) => fc.record({ params: valuesLike(template), steps: fc.array(fc.array(valuesLike(template), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 5 }) })),
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        fc.double({ min: 1e-3, max: 0.3, noNaN: true }),
        fc.oneof(fc.constant(0), fc.double({ min: 0.1, max: 0.95, noNaN: true })),
        fc.boolean(),
      ),
      async ([{ params, steps }, c, alpha, momentum, nesterov]) => {
        const batch = 3
        const { structure } = tree.flatten(params)
        const stack = (examples: HostTree[]) => tree.unflatten(structure, (tree.leaves(params) as HostTensor[]).map((l, j) => new HostTensor([batch, ...l.shape], examples.flatMap((e) => Array.from((tree.leaves(e)[j] as HostTensor).data)))))
        const grads = steps.map(stack) as HostTree[]
        for (const g of grads) fc.pre(clipMargin(leaves(g), batch, [c], false) > 1e-4)
        const opt = f.dpsgd({ learningRate: alpha, l2NormClip: c, noiseMultiplier: 0, seed: 1, momentum, nesterov })
        let p = toDevice(params, backend)
        let s = opt.init(p)
        for (const g of grads) {
          const gd = toDevice(g, backend)
          const [p2, s2] = scope(() => {
            const [u, next] = opt.update(gd, s, p)
            return [applyUpdates(p, u), next] as const
          })
          dispose([gd, p, s], [p2, s2])
          ;[p, s] = [p2, s2]
        }
        const actual = await hostLeaves(p)
        dispose([p, s])
        return allClose(actual, ref.dpsgdReference(leaves(params), grads.map(leaves), batch, () => alpha, c, momentum, nesterov), float32Tolerance)
      },
      6, backend.name,
    ))

  it('skipLargeUpdates(sgd with momentum): the steps with ‖g‖² ≥ the threshold never happened', () =>
    assertLaw(
      fc.tuple(sequenceArb({ minSteps: 2, maxSteps: 6 }), fc.double({ min: 1, max: 100, noNaN: true })),
      async ([x, maxSq]) => {
        const gs = x.grads.map(leaves)
        fc.pre(gs.every((g) => Math.abs(g.reduce((a, l) => a + l.reduce((s, v) => s + v * v, 0), 0) - maxSq) > 1e-4 * maxSq))
        const skipped = ref.skipLargeUpdatesReference(gs, maxSq)
        const run = await runTransform(f.skipLargeUpdates(f.sgd({ learningRate: 0.1, momentum: 0.9 }), { maxSquaredNorm: maxSq }), x.params, x.grads, backend)
        const expected = ref.withSkipsReference(leaves(x.params), gs, skipped, (t, g) => sgdTraceReference(t, g, () => 0.1, 0.9, false))
        return allClose(run.params.map(leaves), expected, float32Tolerance)
      },
      6, backend.name,
    ))

  // Adam where the skip is decided on the host (its step count stays with a skipped step); where it
  // is decided on the device (gpu.js webgpu) host counters advance at every call (docs/nonfinite.md),
  // so there the inner optimizer is momentum SGD, whose state is all tensors
  const host = backend.readSync?.(backend.fill([], 0)) !== undefined
  it(`skipNotFinite(${host ? 'adam' : 'sgd with momentum'}): the steps with a NaN or ±∞ never happened, however many in a row`, () =>
    assertLaw(
      fc.tuple(sequenceArb({ minSteps: 2, maxSteps: 6, grads: { zeroWeight: 0 } }), fc.array(fc.constantFrom(NaN, Infinity, -Infinity, 0), { minLength: 6, maxLength: 6 })),
      async ([x, plants]) => {
        // step k gets plants[k] at its first entry (0: no plant)
        const grads = x.grads.map((g, k) => {
          const { leaves: ls, structure } = tree.flatten(g)
          const first = ls.findIndex((l) => l.data.length > 0)
          return plants[k] === 0 || first < 0 ? g : tree.unflatten(structure, ls.map((l, j) => (j === first ? new HostTensor(l.shape, [plants[k]!, ...Array.from(l.data).slice(1)]) : l)))
        })
        const gs = grads.map(leaves)
        const skipped = ref.skipNotFiniteReference(gs)
        const inner = host ? f.adam({ learningRate: 0.1 }) : f.sgd({ learningRate: 0.1, momentum: 0.9 })
        const run = await runTransform(f.skipNotFinite(inner), x.params, grads, backend)
        const innerReference = (t: Leaves, g: Leaves[]) => (host ? adamFamilyReference(t, g, () => 0.1, { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0 }) : sgdTraceReference(t, g, () => 0.1, 0.9, false))
        const expected = ref.withSkipsReference(leaves(x.params), gs, skipped, innerReference)
        return allClose(run.params.map(leaves), expected, float32Tolerance)
      },
      6, backend.name,
    ))
})

// ---- the noise of DP-SGD -------------------------------------------------------------------------

describe('the noise of differentiallyPrivateAggregate: N(0, σ²C²)/B from the state key', () => {
  // zero per-example gradients: the update is the noise σC·z/B alone
  const batch = 4
  const n = 20_000
  const c = 1.5
  const sigma = 0.8
  const zerosBatch = (b: Backend) => ({ a: b.fill([batch, n], 0), b: b.fill([batch, 2, 50], 0) })

  it.each(backends.map((b) => [b.name, b] as const))('mean, variance and independence on %s', async (_n, backend) => {
    const agg = f.differentiallyPrivateAggregate({ l2NormClip: c, noiseMultiplier: sigma, seed: 11 })
    const g = zerosBatch(backend)
    let s = agg.init({})
    const steps: Float32Array[] = []
    for (let k = 0; k < 2; k++) {
      const [u, s2] = agg.update(g, s)
      steps.push((await readTree(u as { a: Tensor })).a)
      dispose(u)
      s = s2
    }
    dispose(g)
    const sd = (sigma * c) / batch
    for (const z of steps) {
      const mean = z.reduce((a, x) => a + x, 0) / n
      const variance = z.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)
      // 5 standard errors: the mean's is sd/√n, the sample variance's sd²·√(2/(n − 1))
      expect(Math.abs(mean), `mean ${mean}`).toBeLessThan((5 * sd) / Math.sqrt(n))
      expect(Math.abs(variance - sd * sd), `variance ${variance} vs ${sd * sd}`).toBeLessThan(5 * sd * sd * Math.sqrt(2 / (n - 1)))
      // the fourth moment of a normal: E z⁴ = 3σ⁴ (a uniform or a two-point noise has another)
      const kurtosis = z.reduce((a, x) => a + (x - mean) ** 4, 0) / n / variance ** 2
      expect(Math.abs(kurtosis - 3), `kurtosis ${kurtosis}`).toBeLessThan(5 * Math.sqrt(24 / n))
    }
    // successive steps draw independent noise (the state's key moves on)
    const corr = steps[0]!.reduce((a, x, i) => a + x * steps[1]![i]!, 0) / (n * sd * sd)
    expect(Math.abs(corr), `correlation ${corr}`).toBeLessThan(5 / Math.sqrt(n))
  })

  it('is reproducible from the seed, differs between seeds and between leaves, and is the same on every backend', async () => {
    const draw = async (seed: number, b: Backend) => {
      const agg = f.differentiallyPrivateAggregate({ l2NormClip: c, noiseMultiplier: sigma, seed })
      const g = zerosBatch(b)
      const [u, s] = agg.update(g, agg.init({}))
      const out = (await readTree(u as { a: Tensor; b: Tensor })) as { a: Float32Array; b: Float32Array }
      dispose([g, u])
      return { ...out, key: s.key }
    }
    const first = await draw(3, cpu)
    for (const b of backends) {
      const again = await draw(3, b)
      expect(again.a).toEqual(first.a)
      expect(again.b).toEqual(first.b)
      expect(again.key).toEqual(first.key)
    }
    const other = await draw(4, cpu)
    expect(other.a.slice(0, 100)).not.toEqual(first.a.slice(0, 100))
    expect(first.b.slice(0, 100)).not.toEqual(first.a.slice(0, 100))
  })

  it('is added to the clipped sum: (B·u − Σ clip(g_b)) / σC is standard normal', async () => {
    const rng = f.normalValues(f.key(5), batch * 3000)
    const g = { w: fromArray(Float32Array.from(rng, (x) => 2 * x), [batch, 3000]) }
    const agg = f.differentiallyPrivateAggregate({ l2NormClip: c, noiseMultiplier: sigma, seed: 9 })
    const [u] = agg.update(g, agg.init({}))
    const clipped = f.perExampleGlobalNormClip(g, c).sum as { w: Tensor }
    const [uu, ss] = [(await readTree(u as { w: Tensor })).w, await f.read(clipped.w)]
    const z = Array.from(uu, (x, i) => (batch * x - ss[i]!) / (sigma * c))
    const mean = z.reduce((a, x) => a + x, 0) / z.length
    const variance = z.reduce((a, x) => a + (x - mean) ** 2, 0) / (z.length - 1)
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(z.length))
    expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / (z.length - 1)))
    dispose([g, u, clipped])
  })

  it('a resumed run (saveState → loadState) draws the same noise as the uninterrupted one', async () => {
    const opt = f.dpsgd({ learningRate: 0.1, l2NormClip: 1, noiseMultiplier: 1.1, seed: 42, momentum: 0.9 })
    const p = { w: fromArray([0.5, -1]) }
    const g = { w: fromArray([1, 2, -3, 0.5, 0, 1], [3, 2]) }
    const [, s1] = opt.update(g, opt.init(p), p)
    const restored = f.loadState(opt, JSON.parse(JSON.stringify(await f.saveState(opt, s1))))
    const [a] = opt.update(g, s1, p)
    const [b] = opt.update(g, restored, p)
    expect(await readTree(a)).toEqual(await readTree(b))
    dispose([p, g, s1, restored, a, b])
  })
})

// ---- the law catalogue ---------------------------------------------------------------------------

// catalogGradients is part of the main catalogue: test/laws.test.ts runs its laws (and
// test/nonfinite.test.ts and test/exception-safety.test.ts its policies); the skipping wrappers are
// not, so their laws run here
describe('laws of the skipping wrappers, hyperparameters drawn from their codecs', () => {
  it('the main catalogue holds the other entries', () => expect(catalog.filter((e) => catalogGradients.includes(e)).length).toBe(catalogGradients.length))

  it.each(catalogGradientsSkipping.map((e) => [e.name, e] as const))('%s', async (_n, entry) => {
    const draws = fc.sample(hyperparametersArb(entry.hyperparameters), { numRuns: 1, seed: propertySeed() })
    for (const hp of draws) {
      const reports = await verifyTransformLaws(() => entry.make(hp), { backends, numRuns: 2, except: { associativity: 'covered by the chain laws of test/laws.test.ts', ...(entry.parityException ? { parity: entry.parityException } : {}) } })
      expect(reports.filter((r) => !r.ok).map((r) => `${r.law} ${r.backend}: ${r.message}`), JSON.stringify(hp)).toEqual([])
    }
  }, 120_000)

  it('normalizeByUpdateNorm with ε = 0 is scale invariant: f(c·g) = f(g)', () =>
    assertLaw(fc.tuple(sequenceArb({ grads: { zeroWeight: 0 } }), fc.double({ min: 0.01, max: 100, noNaN: true })), async ([x, c]) => {
      const { scaleInvariant } = await import('../laws/predicates/index.js')
      return scaleInvariant(f.normalizeByUpdateNorm({ scaleFactor: -0.5, eps: 0 }), x, c, cpu, { rtol: 1e-5, atol: 1e-6 })
    }, 10, 'cpu'))

  it('the per-example adapter of the catalogue hands the transforms the batch c_b·g', async () => {
    const seen: Tensor[] = []
    const spy: f.AnyTransformation = { init: () => ({}), update: (u) => { seen.push(...(tree.leaves(u) as Tensor[])); return [u, {}] } }
    const { onPerExampleGradients } = await import('../laws/catalog-gradients.js')
    const g = { w: fromArray([1, -2], [2]) }
    const [u] = onPerExampleGradients(spy).update(g, {})
    expect(seen[0]!.shape).toEqual([3, 2])
    expect(Array.from(await f.read(seen[0]!))).toEqual(perExampleCoefficients.flatMap((c) => [c, -2 * c]))
    dispose([g, u])
  })
})

// ---- the non-finite policy (docs/nonfinite.md) ---------------------------------------------------

describe.each(backends)('non-finite values, on $name', (backend) => {
  it('per-example clipping: a NaN example passes its NaN through; an infinite or overflowing one makes the sum NaN', async () => {
    const run = async (bad: number) => {
      const g = { w: fromArray([1, 2, bad, 1, 0.5, 0.5], [3, 2], backend), b: fromArray([1, 1, 1], [3], backend) }
      const { sum, numClipped } = f.perExampleGlobalNormClip(g, 1)
      const out = (await readTree(sum as { w: Tensor; b: Tensor })) as { w: Float32Array; b: Float32Array }
      const count = (await f.read(numClipped))[0]
      dispose([g, sum, numClipped])
      return { ...out, count }
    }
    const nan = await run(NaN)
    expect(Number.isNaN(nan.w[0]!)).toBe(true)
    // examples 0 and 2 are clipped (norms √6 and √1.5), the NaN one is not
    expect(nan.b[0]).toBeCloseTo(1 / Math.sqrt(6) + 1 + 1 / Math.sqrt(1.5), 5)
    expect(nan.count).toBe(2)
    for (const bad of [Infinity, -Infinity, 1e30]) {
      const r = await run(bad)
      expect([...r.w, ...r.b].every(Number.isNaN), `${bad}: ${[...r.w, ...r.b].join(', ')}`).toBe(true)
    }
  })

  it('normalizeByUpdateNorm: a ±∞ or overflowing entry makes every leaf NaN; ε = 0 keeps an all-zero update 0', async () => {
    for (const bad of [Infinity, -Infinity, NaN, 1e30]) {
      const g = { w: fromArray([bad, 1], [2], backend), b: fromArray([2], [1], backend) }
      const [u] = f.normalizeByUpdateNorm().update(g, {})
      const out = (await readTree(u as { w: Tensor; b: Tensor })) as { w: Float32Array; b: Float32Array }
      expect([...out.w, ...out.b].every(Number.isNaN), `${bad}`).toBe(true)
      dispose([g, u])
    }
    const z = { w: fromArray([0, 0], [2], backend) }
    const [u] = f.normalizeByUpdateNorm({ eps: 0 }).update(z, {})
    expect(Array.from((await readTree(u as { w: Tensor })).w)).toEqual([0, 0])
    dispose([z, u])
  })

  it('skipLargeUpdates skips a NaN or ±∞ gradient (its ‖g‖² is NaN or ∞) and keeps the inner state bit for bit', async () => {
    // momentum SGD: all its state is tensors, kept on every backend (Adam's host count is kept only where the skip is decided on the host)
    const opt = f.skipLargeUpdates(f.sgd({ learningRate: 0.1, momentum: 0.9 }), { maxSquaredNorm: 1e6 })
    const p = { w: fromArray([1, 2], [2], backend) }
    const [, s1] = opt.update({ w: fromArray([0.5, -1], [2], backend) }, opt.init(p), p)
    for (const bad of [NaN, Infinity, -Infinity]) {
      const g = { w: fromArray([bad, 1], [2], backend) }
      const [u, s2] = opt.update(g, s1, p)
      expect(Array.from((await readTree(u as { w: Tensor })).w)).toEqual([0, 0])
      expect(await readTree((s2.inner as readonly unknown[])[0])).toEqual(await readTree((s1.inner as readonly unknown[])[0]))
      expect((await f.read(s2.shouldSkip))[0]).toBe(1)
      expect((await f.read(s2.totalSkipped))[0]).toBe(1)
      dispose([g, u], [s1, p])
      dispose(s2, s1)
    }
    dispose([p, s1])
  })
})

// ---- scaleGradient: finite differences ---------------------------------------------------------

describe.each(backends)('scaleGradient against finite differences, on $name', (backend) => {
  const input = (b: Backend) => fromArray(Float32Array.from(f.uniformValues(f.key(1), 2 * 4), (u) => 2 * u - 1), [2, 4], b)
  const build = (s: number | undefined) => f.sequential([f.dense(3), f.tanh(), ...(s === undefined ? [] : [f.scaleGradient(s)]), f.dense(2)])

  it.each([-1, 0.5, 2.5])('scale %s: the layers below get scale × the finite-difference gradient, the layers above it exactly', async (s) => {
    const scaled = build(s)
    const { params } = scaled.init(f.key(0), [4], backend)
    const x = input(backend)
    const lossOf = (p: Params, xs = x) => f.sumOfSquares(scaled.apply(p as f.SequentialParams, [{}, {}, {}, {}], xs, { training: true }).y)
    const out = (p: Params, xs = x) => scaled.apply(p as f.SequentialParams, [{}, {}, {}, {}], xs, { training: true })
    const backward = (p: Params, xs = x) => {
      const o = out(p, xs)
      return o.backward(f.scaleTensor(o.y, 2))
    }
    // the scaled model's dparams, the first dense layer's divided by s: that is the true gradient
    const unscaled = (p: Params) => {
      const d = backward(p).dparams
      return [tree.map((t: Tensor) => f.scaleTensor(t, 1 / s))(d[0]!), d[1]!, d[2]!, d[3]!] as Params
    }
    // every entry on the cpu; 3 per leaf elsewhere (each is two forward passes read back)
    const samples = backend === cpu ? Infinity : 3
    const r = await f.gradCheck(lossOf, unscaled, params, { h: 1e-2, samples })
    expect(r.maxRelativeError, JSON.stringify(r.worst)).toBeLessThan(2e-2)
    // ∂L/∂x, divided by s, against finite differences in the input
    const rx = await f.gradCheck((xs) => lossOf(params, xs as Tensor), (xs) => f.scaleTensor(backward(params, xs as Tensor).dx, 1 / s), x, { h: 1e-2, samples })
    expect(rx.maxRelativeError, JSON.stringify(rx.worst)).toBeLessThan(2e-2)
    dispose([params, x])
  })

  it('scale 0 stops the gradient (exact zeros below it, even for a NaN ∂L/∂y); scale 1 passes ∂L/∂y as it is', async () => {
    const layer = f.scaleGradient(0)
    const dy = fromArray([NaN, 1, -2, Infinity], [2, 2], backend)
    const x = fromArray([1, 2, 3, 4], [2, 2], backend)
    const o = layer.apply({}, {}, x, { training: true })
    expect(o.y).toBe(x)
    expect(Array.from(await f.read(o.backward(dy).dx))).toEqual([0, 0, 0, 0])
    const one = f.scaleGradient(1).apply({}, {}, x, { training: true })
    expect(one.backward(dy).dx).toBe(dy)
    const rev = f.scaleGradient(-1).apply({}, {}, x, { training: false })
    const back = Array.from(await f.read(rev.backward(dy).dx))
    expect(Number.isNaN(back[0]!)).toBe(true)
    expect(back.slice(1)).toEqual([-1, 2, -Infinity])
    dispose([dy, x])
  })
})

// ---- validation and shapes -----------------------------------------------------------------------

describe('options and shapes are refused with typed errors naming what is wrong', () => {
  const rejected: readonly (readonly [string, () => unknown, string, string])[] = [
    ['scaleGradient NaN', () => f.scaleGradient(NaN), 'scale', 'a finite number'],
    ['normalizeByUpdateNorm eps < 0', () => f.normalizeByUpdateNorm({ eps: -1 }), 'eps', 'a finite number ≥ 0'],
    ['normalizeByUpdateNorm scaleFactor ∞', () => f.normalizeByUpdateNorm({ scaleFactor: Infinity }), 'scaleFactor', 'a finite number'],
    ['normalizeByUpdateNorm misspelt option', () => f.normalizeByUpdateNorm({ scale_factor: 2 } as never), 'scale_factor', 'no such option'],
    ['skipLargeUpdates maxSquaredNorm 0', () => f.skipLargeUpdates(f.sgd({ learningRate: 0.1 }), { maxSquaredNorm: 0 }), 'maxSquaredNorm', 'a finite number > 0'],
    ['skipLargeUpdates maxSquaredNorm missing', () => f.skipLargeUpdates(f.sgd({ learningRate: 0.1 }), {} as never), 'maxSquaredNorm', 'a finite number > 0'],
    ['perExampleGlobalNormClip C < 0', () => f.perExampleGlobalNormClip({}, -1), 'l2NormClip', 'a number ≥ 0 (Infinity allowed)'],
    ['perExampleLayerNormClip uniform not a boolean', () => f.perExampleLayerNormClip({}, 1, { uniform: 1 as never }), 'uniform', 'boolean'],
    ['differentiallyPrivateAggregate seed missing', () => f.differentiallyPrivateAggregate({ l2NormClip: 1, noiseMultiplier: 1 } as never), 'seed', 'an integer in [0, 2^53)'],
    ['differentiallyPrivateAggregate noiseMultiplier < 0', () => f.differentiallyPrivateAggregate({ l2NormClip: 1, noiseMultiplier: -1, seed: 0 }), 'noiseMultiplier', 'a finite number ≥ 0'],
    ['dpsgd l2NormClip ∞', () => f.dpsgd({ learningRate: 0.1, l2NormClip: Infinity, noiseMultiplier: 1, seed: 0 }), 'l2NormClip', 'a finite number ≥ 0'],
    ['dpsgd momentum = 1', () => f.dpsgd({ learningRate: 0.1, l2NormClip: 1, noiseMultiplier: 1, seed: 0, momentum: 1 }), 'momentum', 'a number in [0, 1)'],
  ]
  it.each(rejected)('%s', (_n, build, field, expected) => {
    let error: unknown
    try {
      build()
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(f.HyperparameterError)
    expect((error as f.HyperparameterError).field).toBe(field)
    expect((error as f.HyperparameterError).expected).toContain(expected)
  })

  it('per-example gradients need one leading batch axis of at least one example, named by the leaf; nothing is leaked', () => {
    const before = f.liveTensors(cpu)
    const cases: [Params, string][] = [
      [{ w: fromArray([1, 2], [2]), s: fromArray([1], []) }, 's'],
      // leaves in tree order (b, then w): the batch of b is 3, so w's 2 is the mismatch
      [{ w: fromArray([1, 2, 3, 4], [2, 2]), b: fromArray([1, 2, 3], [3]) }, 'w'],
      [{ w: f.zeros([0, 2]) }, 'w'],
    ]
    for (const [g, path] of cases) {
      for (const call of [() => f.perExampleGlobalNormClip(g, 1), () => f.perExampleLayerNormClip(g, 1), () => f.dpsgd({ learningRate: 0.1, l2NormClip: 1, noiseMultiplier: 1, seed: 0 }).update(g, [{ key: f.key(0) }, {}, { count: 0 }] as never)]) {
        let error: unknown
        try {
          call()
        } catch (e) {
          error = e
        }
        expect(error).toBeInstanceOf(f.ShapeError)
        expect((error as f.ShapeError).path).toBe(path)
      }
      dispose(g)
    }
    expect(f.liveTensors(cpu)).toBe(before)
  })

  it('zero-size leaves: empty sums of their shape, the other leaves as without them', async () => {
    const w = fromArray([3, 4, 0.1, 0.2], [2, 2])
    const withEmpty = f.perExampleGlobalNormClip({ e: f.zeros([2, 0, 3]), w }, 1)
    const alone = f.perExampleGlobalNormClip({ w }, 1)
    expect((withEmpty.sum as { e: Tensor }).e.shape).toEqual([0, 3])
    expect(await readTree((withEmpty.sum as { w: Tensor }).w)).toEqual(await readTree((alone.sum as { w: Tensor }).w))
    const onlyEmpty = f.perExampleLayerNormClip({ e: f.zeros([2, 0]) }, 1, { uniform: false })
    expect((onlyEmpty.sum as { e: Tensor }).e.shape).toEqual([0])
    // normalizeByUpdateNorm, through update and compileStep: the empty leaf adds nothing to the norm
    const n = f.normalizeByUpdateNorm({ scaleFactor: -0.5 })
    const v = fromArray([1, 2])
    const [u] = n.update({ e: f.zeros([0, 3]), v }, {})
    const [uAlone] = n.update({ v }, {})
    const [p2] = compileStep(n)({ e: f.zeros([0, 3]), v }, { e: f.zeros([0, 3]), v }, {})
    expect((u as { e: Tensor }).e.shape).toEqual([0, 3])
    expect(await readTree((u as { v: Tensor }).v)).toEqual(await readTree((uAlone as { v: Tensor }).v))
    expect(await readTree((p2 as { v: Tensor }).v)).toEqual(await readTree(applyUpdates(v, (uAlone as { v: Tensor }).v)))
    dispose([w, withEmpty, alone, onlyEmpty, v, u, uAlone, p2])
  })

  it('a tree without leaves: the clips return it with a count of 0; the transforms map {} to {}', async () => {
    const r = f.perExampleGlobalNormClip({}, 1)
    expect(r.sum).toEqual({})
    expect((await f.read(r.numClipped))[0]).toBe(0)
    for (const t of [f.dpsgd({ learningRate: 0.1, l2NormClip: 1, noiseMultiplier: 1, seed: 0 }), f.normalizeByUpdateNorm(), f.skipLargeUpdates(f.adam({ learningRate: 0.1 }), { maxSquaredNorm: 1 })] as f.AnyTransformation[]) {
      const [u, s] = t.update({}, t.init({}), {})
      expect(u).toEqual({})
      dispose(s)
    }
    dispose(r.numClipped)
  })
})

// ---- Optax 0.2.8's numbers -------------------------------------------------------------------------

interface LeafJson { readonly name: string; readonly shape: readonly number[]; readonly init?: string; readonly grads?: string }
interface ProblemJson { readonly leaves: readonly LeafJson[]; readonly grads?: readonly (readonly string[])[]; readonly quadratic?: { readonly h: string; readonly c: string } }
interface Golden {
  readonly versions: Readonly<Record<string, string>>
  readonly normalizeByUpdateNorm: readonly { id: string; problem: string; options: f.NormalizeByUpdateNormOptions; params: string[][] }[]
  readonly perExampleClip: readonly { id: string; function: string; l2NormClip: number | 'Infinity'; uniform?: boolean; leaves: LeafJson[]; sum: string[]; numClipped: number | number[] }[]
  readonly dpsgd: readonly { id: string; learningRate: number; options: Omit<f.DpsgdOptions, 'learningRate'>; leaves: LeafJson[]; grads: string[][]; params: string[][] }[]
  readonly skip: readonly { id: string; wrapper: 'skipLargeUpdates' | 'skipNotFinite'; inner: { optimizer: 'adam' | 'sgd'; options: Record<string, number> }; options: { maxSquaredNorm?: number }; leaves: LeafJson[]; grads: string[][]; params: string[][]; shouldSkip: number[] }[]
}

const fixtures = new URL('./fixtures/goldens/', import.meta.url)
const golden = JSON.parse(readFileSync(new URL('gradients-optax.json', fixtures), 'utf8')) as Golden
const problems = (JSON.parse(readFileSync(new URL('problems.json', fixtures), 'utf8')) as { problems: Record<string, ProblemJson> }).problems

const unhex = (text: string): Float32Array => {
  const words = text === '' ? [] : text.split(' ')
  const view = new DataView(new ArrayBuffer(4 * words.length))
  words.forEach((w, i) => view.setUint32(4 * i, parseInt(w, 16)))
  return Float32Array.from({ length: words.length }, (_, i) => view.getFloat32(4 * i))
}
const goldenTolerance = { rtol: 1e-6, atol: 1e-7 }
const treeOf = (ls: readonly LeafJson[], values: readonly Float32Array[], shapes = ls.map((l) => l.shape)): Params => Object.fromEntries(ls.map((l, i) => [l.name, fromArray(values[i]!, shapes[i], cpu)]))
const valuesOf = (ls: readonly LeafJson[], p: Params) => ls.map((l) => Float32Array.from(cpu.readSync!((p as Record<string, Tensor>)[l.name]!)!))

/** The worst |a − e| / max(|e|, 1e-3) seen over the goldens (relative, except near 0), reported at the end. */
let worstRelative = 0
const compare = (id: string, step: number, actual: readonly Float32Array[], expected: readonly string[]) => {
  actual.forEach((a, j) => {
    const e = unhex(expected[j]!)
    a.forEach((x, i) => (worstRelative = Math.max(worstRelative, Math.abs(x - e[i]!) / Math.max(Math.abs(e[i]!), 1e-3))))
    const r = allClose(Array.from(a), Array.from(e), goldenTolerance)
    expect(r.ok, `${id} step ${step + 1} leaf ${j}: ${r.ok ? '' : r.message}`).toBe(true)
  })
}

/** Runs `opt` from `init` over `gradsAt` through update (or compileStep) and checks each step's params. */
const trajectory = (id: string, opt: f.AnyTransformation, ls: readonly LeafJson[], init: Float32Array[], gradsAt: (values: Float32Array[], k: number) => Params, expected: readonly string[][], compiled: boolean) => {
  const step = compiled ? compileStep(opt) : undefined
  let p = treeOf(ls, init)
  let s = opt.init(p)
  for (let k = 0; k < expected.length; k++) {
    const g = gradsAt(valuesOf(ls, p), k)
    const [p2, s2] = step
      ? step(p, g, s)
      : scope(() => {
          const [u, next] = opt.update(g, s, p)
          return [applyUpdates(p, u), next] as const
        })
    dispose([g, p, s], [p2, s2])
    ;[p, s] = [p2, s2]
    compare(id, k, valuesOf(ls, p), expected[k]!)
  }
  return [p, s] as const
}

describe(`Optax ${golden.versions.optax}'s numbers (update and compileStep, cpu)`, () => {
  it.each(golden.normalizeByUpdateNorm.map((t) => [t.id, t] as const))('%s', (_n, t) => {
    const problem = problems[t.problem]!
    const stored = problem.grads?.map((st) => st.map(unhex))
    const q = problem.quadratic && { h: unhex(problem.quadratic.h), c: unhex(problem.quadratic.c) }
    const gradsAt = (values: Float32Array[], k: number) =>
      treeOf(problem.leaves, stored ? stored[k]! : [values[0]!.map((x, i) => Math.fround(q!.h[i]! * Math.fround(x - q!.c[i]!)))])
    for (const compiled of [false, true]) {
      const [p, s] = trajectory(t.id, f.normalizeByUpdateNorm(t.options), problem.leaves, problem.leaves.map((l) => unhex(l.init!)), gradsAt, t.params, compiled)
      dispose([p, s])
    }
  })

  it.each(golden.perExampleClip.map((t) => [t.id, t] as const))('%s', async (_n, t) => {
    const g = treeOf(t.leaves, t.leaves.map((l) => unhex(l.grads!)))
    const c = t.l2NormClip === 'Infinity' ? Infinity : t.l2NormClip
    const r = t.function === 'perExampleGlobalNormClip' ? f.perExampleGlobalNormClip(g, c) : f.perExampleLayerNormClip(g, c, { uniform: t.uniform! })
    compare(t.id, 0, valuesOf(t.leaves, r.sum), t.sum)
    // the fixture lists the leaves in its own order: read the counts by name
    const counts = t.function === 'perExampleGlobalNormClip' ? [(await f.read(r.numClipped as Tensor))[0]!] : valuesOf(t.leaves, r.numClipped as Params).map((l) => l[0]!)
    expect(counts).toEqual(typeof t.numClipped === 'number' ? [t.numClipped] : t.numClipped)
    dispose([g, r])
  })

  // update only: compileStep takes gradients shaped like the params, and these are per example
  it.each(golden.dpsgd.map((t) => [t.id, t] as const))('%s', (_n, t) => {
    for (const compiled of [false]) {
      const gradsAt = (_v: Float32Array[], k: number) => treeOf(t.leaves, t.grads[k]!.map(unhex), t.leaves.map((l) => [5, ...l.shape]))
      const [p, s] = trajectory(t.id, f.dpsgd({ ...t.options, learningRate: t.learningRate }), t.leaves, t.leaves.map((l) => unhex(l.init!)), gradsAt, t.params, compiled)
      dispose([p, s])
    }
  })

  it.each(golden.skip.map((t) => [t.id, t] as const))('%s', async (_n, t) => {
    const inner = () => (t.inner.optimizer === 'adam' ? f.adam(t.inner.options as never) : f.sgd(t.inner.options as never))
    for (const compiled of [false, true]) {
      const opt: f.AnyTransformation = t.wrapper === 'skipLargeUpdates' ? f.skipLargeUpdates(inner(), { maxSquaredNorm: t.options.maxSquaredNorm! }) : f.skipNotFinite(inner())
      const gradsAt = (_v: Float32Array[], k: number) => treeOf(t.leaves, t.grads[k]!.map(unhex))
      const [p, s] = trajectory(t.id, opt, t.leaves, t.leaves.map((l) => unhex(l.init!)), gradsAt, t.params, compiled)
      const last = t.wrapper === 'skipLargeUpdates' ? (s as f.SkipLargeUpdatesState<unknown>).totalSkipped : (s as f.ApplyIfFiniteState<unknown>).totalNotfinite
      expect((await f.read(last))[0]).toBe(t.shouldSkip.reduce((a, x) => a + x, 0))
      dispose([p, s])
    }
  })

  it('the largest relative difference from Optax stays within the bound', () => {
    console.info(`[gradient-transforms] largest relative difference from Optax ${golden.versions.optax}: ${worstRelative.toExponential(2)}`)
    expect(worstRelative).toBeLessThan(1e-5)
  })
})
