/**
 * sgd, momentum, Nesterov and adam against float64 references written from the pseudocode of seed
 * 000_33f4fbf331723dec.txt (laws/reference/seed000.ts), on every backend, and across backends.
 */
import fc from 'fast-check'
import { describe, it } from 'vitest'
import { type AnyTransformation, type Schedule, adam, sgd, tree } from '../src/index.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
import { type SequenceInput, sequenceArb } from '../laws/arbitraries.js'
import { HostTensor, type HostTree } from '../laws/host.js'
import { backendParity } from '../laws/predicates/transform.js'
import { adamReference, momentumReference, nesterovReference, sgdReference } from '../laws/reference/seed000.js'
import { runOnObjective, runTransform } from '../laws/run.js'
import { assertLaw } from '../laws/runners.js'
import { backends, gpus } from './backends.js'

/** The lectures' θ: all leaves concatenated in leaf order. */
const vector = (t: HostTree): Float64Array => {
  const parts = tree.leaves(t).map((h) => h.data)
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) out.set(p, (o += p.length) - p.length)
  return out
}

const fromVector = (template: HostTree, v: ArrayLike<number>): HostTree => {
  let o = 0
  return tree.map((h: HostTensor) => new HostTensor(h.shape, Array.from({ length: h.data.length }, () => v[o++]!)))(template)
}

const lastParams = async (opt: AnyTransformation, x: SequenceInput, backend: (typeof backends)[number]) => {
  const run = await runTransform(opt, x.params, x.grads, backend)
  return vector(run.params[run.params.length - 1]!)
}

const closeTo = (actual: Float64Array, expected: Float64Array) => {
  const c = allClose(actual, expected, float32Tolerance)
  return c.ok ? c : { ...c, message: `θ${c.message}` }
}

const lr = fc.double({ min: 1e-4, max: 0.5, noNaN: true })
const beta = fc.double({ min: 0, max: 0.99, noNaN: true })
const lrSchedule = fc.tuple(lr, fc.integer({ min: 1, max: 8 })).map(([a0, tau]): Schedule => {
  // the lectures' linear decay with α_τ = 0.01 α_0
  const f = (k: number) => (k <= tau ? a0 - (k / tau) * (a0 - 0.01 * a0) : 0.01 * a0)
  return f
})

describe.each(backends)('optimizers match the seed-000 references on $name', (backend) => {
  it('sgd: θ ← θ − α_k g (constant α and the lectures\' linear decay)', () =>
    assertLaw(fc.tuple(sequenceArb(), fc.oneof(lr.map((a) => (): number => a), lrSchedule)), async ([x, alpha]) => {
      const actual = await lastParams(sgd({ learningRate: alpha }), x, backend)
      return closeTo(actual, sgdReference(vector(x.params), x.grads.map(vector), alpha))
    }, 25, backend.name))

  it('momentum: v ← βv − αg, θ ← θ + v', () =>
    assertLaw(fc.tuple(sequenceArb(), lr, beta), async ([x, alpha, b]) => {
      const actual = await lastParams(sgd({ learningRate: alpha, momentum: b }), x, backend)
      return closeTo(actual, momentumReference(vector(x.params), x.grads.map(vector), () => alpha, b).theta)
    }, 25, backend.name))

  it('Nesterov: the interim-update form θ̃ = θ + βv carries the same look-ahead point, on the same gradients', () =>
    assertLaw(fc.tuple(sequenceArb(), lr, beta), async ([x, alpha, b]) => {
      const actual = await lastParams(sgd({ learningRate: alpha, momentum: b, nesterov: true }), x, backend)
      const grads = x.grads.map(vector)
      const ref = nesterovReference(vector(x.params), (_t, k) => grads[k]!, grads.length, () => alpha, b)
      return closeTo(actual, ref.thetaTilde)
    }, 25, backend.name))

  it('Nesterov on random quadratics: gradients taken at θ̃ = θ + βv, as in the seed pseudocode', () =>
    assertLaw(
      fc.tuple(
        fc.array(fc.tuple(fc.double({ min: 0.1, max: 10, noNaN: true }), fc.double({ min: -5, max: 5, noNaN: true }), fc.double({ min: -5, max: 5, noNaN: true })), { minLength: 1, maxLength: 6 }),
        fc.double({ min: 1e-3, max: 0.05, noNaN: true }),
        beta,
        fc.integer({ min: 1, max: 12 }),
      ),
      async ([coeffs, alpha, b, steps]) => {
        // f(θ) = ½ Σ aᵢθᵢ² − bᵢθᵢ, ∇f = a ⊙ θ − b
        const a = coeffs.map((c) => Math.fround(c[0]))
        const c = coeffs.map((c) => Math.fround(c[1]))
        const theta0 = coeffs.map((c) => Math.fround(c[2]))
        const grad = (t: ArrayLike<number>) => Float64Array.from(a, (ai, i) => Math.fround(ai * t[i]! - c[i]!))
        const template: HostTree = { w: new HostTensor([theta0.length], theta0) }
        const traj = await runOnObjective(sgd({ learningRate: alpha, momentum: b, nesterov: true }), template, (p) => fromVector(template, grad(vector(p))), steps, backend)
        const ref = nesterovReference(theta0, (tt) => grad(tt), steps, () => alpha, b)
        return allClose(vector(traj[traj.length - 1]!), ref.thetaTilde, { rtol: 1e-3, atol: 1e-4 })
      },
      25, backend.name,
    ))

  it('adam: the seed\'s formula (δ inside the root) and Kingma & Ba\'s ε outside', () =>
    assertLaw(
      fc.tuple(sequenceArb(), lr, beta, fc.double({ min: 0.5, max: 0.9999, noNaN: true }), fc.boolean(), fc.double({ min: 1e-8, max: 1e-3, noNaN: true })),
      async ([x, alpha, b1, b2, seedForm, e]) => {
        const opt = seedForm ? adam({ learningRate: alpha, b1, b2, eps: 0, epsRoot: e }) : adam({ learningRate: alpha, b1, b2, eps: e })
        const actual = await lastParams(opt, x, backend)
        const ref = adamReference(vector(x.params), x.grads.map(vector), () => alpha, b1, b2, seedForm ? e : 0, seedForm ? 0 : e)
        return closeTo(actual, ref.theta)
      },
      25, backend.name,
    ))
})

const parityCases: [string, () => AnyTransformation][] = [
  ['sgd', () => sgd({ learningRate: 0.1 })],
  ['sgd with momentum', () => sgd({ learningRate: 0.1, momentum: 0.9 })],
  ['sgd with Nesterov momentum', () => sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true })],
  ['adam', () => adam({ learningRate: 0.01 })],
]

describe.each(gpus)('parity of cpu and $name', (gpu) => {
  it.each(parityCases)('%s gives the same updates and params', (_name, make) =>
    assertLaw(sequenceArb({ maxSteps: 8 }), (x) => backendParity(make(), x, backends[0]!, gpu, { rtol: 1e-4, atol: 1e-6 }), 20, gpu.name))
})
