/**
 * The equivalence laws between optimizers and transforms that the lectures and the conventions
 * imply, as properties on every backend.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type AnyTransformation,
  type Schedule,
  adadelta,
  adagrad,
  adam,
  adamax,
  adamw,
  amsgrad,
  chain,
  clip,
  clipByNorm,
  fromArray,
  identity,
  momentum,
  readTree,
  rmsprop,
  scaleByAdadelta,
  scaleByAdam,
  scaleByAdamax,
  scaleByAmsgrad,
  scaleByLearningRate,
  scaleByRms,
  scaleByRss,
  sgd,
  tree,
} from '../src/index.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
import { type SequenceInput, sequenceArb, templateArb, valuesLike } from '../laws/arbitraries.js'
import { HostTensor, type HostTree, toDevice } from '../laws/host.js'
import { backendParity } from '../laws/predicates/transform.js'
import { rmspropNesterovSeedReference, sgdKerasReference, sgdTraceReference } from '../laws/reference/optimizers.js'
import { runOnObjective, runTransform } from '../laws/run.js'
import { assertLaw } from '../laws/runners.js'
import { backends } from './backends.js'

const leaves = (t: HostTree) => tree.leaves(t).map((h) => Float64Array.from(h.data))
const lr = fc.double({ min: 1e-3, max: 0.3, noNaN: true })
const beta = fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 0.99, noNaN: true }))

/** Both transformations emit the same updates (within `tol`) on the same run. */
const sameRun = async (a: AnyTransformation, b: AnyTransformation, x: SequenceInput, backend: (typeof backends)[number], tol = float32Tolerance) => {
  const ra = await runTransform(a, x.params, x.grads, backend)
  const rb = await runTransform(b, x.params, x.grads, backend)
  return allClose(ra.updates, rb.updates, tol)
}

describe.each(backends)('equivalences on $name', (backend) => {
  it('velocity-form momentum equals trace + learning rate while α is constant', () =>
    assertLaw(fc.tuple(sequenceArb(), lr, beta), ([x, a, b]) => sameRun(momentum({ learningRate: a, momentum: b }), sgd({ learningRate: a, momentum: b }), x, backend), 15, backend.name))

  it('with a changing α they differ exactly as documented: v keeps α_k inside, trace rescales by the current α', () =>
    assertLaw(
      fc.tuple(sequenceArb({ maxSteps: 5 }), lr, beta),
      async ([x, a, b]) => {
        const alpha: Schedule = (k) => a / (1 + k)
        const velocity = await runTransform(momentum({ learningRate: alpha, momentum: b }), x.params, x.grads, backend)
        const traced = await runTransform(sgd({ learningRate: alpha, momentum: b }), x.params, x.grads, backend)
        const theta0 = leaves(x.params)
        const g = x.grads.map(leaves)
        const v = allClose(leaves(velocity.params.at(-1)!), sgdKerasReference(theta0, g, alpha, b, false))
        return v.ok ? allClose(leaves(traced.params.at(-1)!), sgdTraceReference(theta0, g, alpha, b, false)) : v
      },
      15, backend.name,
    ))

  it('scaleByRms with bias correction and eps outside equals scaleByAdam with b1 = 0', () =>
    assertLaw(
      fc.tuple(sequenceArb(), fc.double({ min: 0.5, max: 0.999, noNaN: true }), fc.double({ min: 1e-8, max: 1e-3, noNaN: true })),
      ([x, d, e]) => sameRun(scaleByRms({ decay: d, eps: e, epsInSqrt: false, biasCorrection: true }), scaleByAdam({ b1: 0, b2: d, eps: e }), x, backend),
      15, backend.name,
    ))

  it('each adaptive primitive chained with a learning rate is its optimizer in the Optax convention', () =>
    assertLaw(
      fc.tuple(
        sequenceArb({ minSteps: 3, maxSteps: 6, grads: { zeroWeight: 0 } }),
        lr,
        fc.double({ min: 0.05, max: 0.95, noNaN: true }),
        fc.double({ min: 0.5, max: 0.99, noNaN: true }),
        // ε as large as the gradients, so that where it goes shows
        fc.double({ min: 0.01, max: 0.5, noNaN: true }),
      ),
      async ([x, a, b1, b2, eps]) => {
        const pairs: [AnyTransformation, AnyTransformation][] = [
          [chain(scaleByAmsgrad({ b1, b2, eps }), scaleByLearningRate(a)), amsgrad({ learningRate: a, b1, b2, eps })],
          [chain(scaleByAdamax({ b1, b2, eps }), scaleByLearningRate(a)), adamax({ learningRate: a, b1, b2, eps })],
          [chain(scaleByAdadelta({ rho: b2, eps }), scaleByLearningRate(a)), adadelta({ learningRate: a, rho: b2, eps })],
          [chain(scaleByAdam({ b1, b2, eps }), scaleByLearningRate(a)), adam({ learningRate: a, b1, b2, eps })],
          [chain(scaleByRss({ initialAccumulatorValue: 0.1, eps }), scaleByLearningRate(a)), adagrad({ learningRate: a, eps })],
        ]
        for (const [p, o] of pairs) {
          const r = await sameRun(p, o, x, backend)
          if (!r.ok) return r
        }
        return { ok: true as const }
      },
      15, backend.name,
    ))

  it('adamw with zero weight decay equals adam', () =>
    assertLaw(fc.tuple(sequenceArb(), lr), ([x, a]) => sameRun(adamw({ learningRate: a, weightDecay: 0 }), adam({ learningRate: a }), x, backend), 15, backend.name))

  it('sgd with momentum 0 equals plain sgd (no buffer)', () =>
    assertLaw(fc.tuple(sequenceArb(), lr), ([x, a]) => sameRun(sgd({ learningRate: a, momentum: 0 }), chain(identity(), scaleByLearningRate(a)), x, backend), 15, backend.name))

  it('RMSProp with Nesterov momentum: the seed\'s interim-update form equals rmsprop({ nesterov }) on random quadratics', () =>
    assertLaw(
      fc.tuple(
        fc.array(fc.tuple(fc.double({ min: 0.1, max: 10, noNaN: true }), fc.double({ min: -5, max: 5, noNaN: true }), fc.double({ min: -5, max: 5, noNaN: true })), { minLength: 1, maxLength: 5 }),
        fc.double({ min: 1e-3, max: 0.05, noNaN: true }),
        fc.double({ min: 0.5, max: 0.99, noNaN: true }),
        fc.double({ min: 0.1, max: 0.9, noNaN: true }),
        fc.integer({ min: 1, max: 10 }),
      ),
      async ([coeffs, alpha, rho, b, steps]) => {
        const a = coeffs.map((c) => Math.fround(c[0]))
        const c = coeffs.map((c) => Math.fround(c[1]))
        const theta0 = coeffs.map((c) => Math.fround(c[2]))
        const grad = (t: ArrayLike<number>) => Float64Array.from(a, (ai, i) => Math.fround(ai * t[i]! - c[i]!))
        const template: HostTree = { w: new HostTensor([theta0.length], theta0) }
        const opt = rmsprop({ learningRate: alpha, decay: rho, eps: 1e-6, momentum: b, nesterov: true })
        const traj = await runOnObjective(opt, template, (p) => ({ w: new HostTensor([theta0.length], grad((p as { w: HostTensor }).w.data)) }), steps, backend)
        const expected = rmspropNesterovSeedReference(Float64Array.from(theta0), grad, steps, alpha, rho, b, 1e-6)
        return allClose((traj.at(-1) as { w: HostTensor }).w, expected, { rtol: 1e-3, atol: 1e-4 })
      },
      20, backend.name,
    ))
})

const norm = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0))

describe.each(backends)('clipping laws on $name (seed 002_22903fbb3df79e4c.txt)', (backend) => {
  const gradsArb = templateArb.chain((t) => fc.tuple(valuesLike(t, { min: -100, max: 100 }), fc.double({ min: 1e-3, max: 50, noNaN: true })))

  it('clipByNorm: every leaf\'s norm ends ≤ v, the direction is preserved, and clipping twice equals once', () =>
    assertLaw(
      gradsArb,
      async ([g, v]) => {
        const t = clipByNorm(v)
        const gd = toDevice(g, backend)
        const [once] = t.update(gd, {})
        const [twice] = t.update(once, {})
        const [h1, h2] = await Promise.all([readTree(once), readTree(twice)])
        const ls = tree.leaves(h1 as never) as Float32Array[]
        const orig = leaves(g)
        for (let j = 0; j < ls.length; j++) {
          const n = norm(ls[j]!)
          if (n > v * (1 + 1e-5)) return { ok: false, path: '', index: j, actual: n, expected: v, message: `leaf ${j}: norm ${n} > ${v}` }
          // parallel and same orientation: clipped = c·g with c ∈ (0, 1]
          const c = norm(orig[j]!) === 0 ? 1 : n / norm(orig[j]!)
          const direction = allClose(ls[j]!, orig[j]!.map((x) => c * x), { rtol: 1e-4, atol: 1e-5 * (1 + v) })
          if (!direction.ok) return direction
        }
        return allClose(h2 as never, h1 as never, { rtol: 1e-5, atol: 1e-6 })
      },
      25, backend.name,
    ))

  it('clipping by value changes the direction where clipping by norm does not', () =>
    assertLaw(
      fc.tuple(fc.double({ min: 2, max: 100, noNaN: true }), fc.double({ min: 0.01, max: 0.9, noNaN: true }), fc.double({ min: 0.1, max: 0.9, noNaN: true })),
      async ([big, small, delta]) => {
        // g has one component above δ and one nonzero component below it
        const g = { w: fromArray([Math.fround(big), Math.fround(small * delta)], [2], backend) }
        const [byValue] = clip(delta).update(g, {})
        const [byNorm] = clipByNorm(delta).update(g, {})
        const [vv, nn] = [(await readTree(byValue as typeof g)).w, (await readTree(byNorm as typeof g)).w]
        // the direction is the ratio of the components: g₁/g₀ = small·δ/big
        const ratio = (a: ArrayLike<number>) => a[1]! / a[0]!
        const original = Math.fround(small * delta) / Math.fround(big)
        expect(ratio(vv) / original).toBeGreaterThan(2) // by value: (small·δ)/δ, at least big/δ > 2 times the original
        return allClose([ratio(nn)], [original], { rtol: 1e-5, atol: 0 })
      },
      25, backend.name,
    ))
})

describe('parity of the new transforms', () => {
  it('cpu and every gpu backend agree for rmsprop centered with Nesterov momentum', async () => {
    for (const b of backends.slice(1)) await assertLaw(sequenceArb(), (x) => backendParity(rmsprop({ learningRate: 0.01, centered: true, momentum: 0.9, nesterov: true }), x, backends[0]!, b, { rtol: 1e-4, atol: 1e-6 }), 10, b.name)
  })
})
