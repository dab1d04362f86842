import { cpu } from 'fluxion'
import { type HostTree, HostTensor, type SequenceInput, float32Tolerance, hostMap, predicates, sequenceArb, verifyTransformLaws } from 'fluxion/laws'
import { rprop } from './rprop.js'

// A float64 transcription of iRprop⁻ from the paper, step by step (learning rate 0.1, η⁺ 1.2, η⁻ 0.5).
const reference = (input: SequenceInput): HostTree[] => {
  let prev = hostMap(() => 0, input.params)
  let step = hostMap(() => 0.1, input.params)
  return input.grads.map((g32) => {
    const g = hostMap(Math.fround, g32) // the device holds float32 gradients
    const prod = hostMap((gi, pi) => gi * pi, g, prev)
    step = hostMap((p, s) => (p > 0 ? Math.min(1.2 * s, 50) : p < 0 ? Math.max(0.5 * s, 1e-6) : s), prod, step)
    prev = hostMap((p, gi) => (p < 0 ? 0 : gi), prod, g)
    return hostMap((gi, s) => -Math.sign(gi) * s, prev, step)
  })
}

// Every law on random parameter trees and gradient sequences (fast-check): the identities of chain,
// purity, determinism, the state round trip, the reference, and scale invariance (Rprop only looks
// at signs, so f(c·g) = f(g) for c > 0). Sequences of two steps or more exercise the state.
const reports = await verifyTransformLaws(() => rprop({ learningRate: 0.1 }), {
  backends: [cpu],
  numRuns: 30,
  reference,
  scaleInvariant: true,
  inputs: sequenceArb({ minSteps: 2 }),
})
for (const r of reports) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.law.padEnd(16)} ${r.backend}${r.ok ? '' : `  seed ${r.seed} path ${r.path}: ${r.message}`}`)

// Each law is also a plain predicate that returns a LawResult: here on one hand-written input.
// Rprop is not homogeneous (f(2g) ≠ 2f(g)), and the result says where.
const input: SequenceInput = {
  params: { w: new HostTensor([3], [1, 2, 3]) },
  grads: [{ w: new HostTensor([3], [0.5, -1, 2]) }, { w: new HostTensor([3], [0.25, 1, -2]) }],
}
const invariant = await predicates.scaleInvariant(rprop({ learningRate: 0.1 }), input, 1000, cpu, float32Tolerance)
const homogeneous = await predicates.homogeneous(rprop({ learningRate: 0.1 }), input, 2, cpu, float32Tolerance)
console.log(`scaleInvariant(c = 1000): ${invariant.ok}`)
console.log(`homogeneous(c = 2): ${homogeneous.ok ? 'true' : `false, ${homogeneous.message}`}`)
