/**
 * A researcher checks a transformation of their own with fluxion's law suite: Signum (momentum, then
 * the sign: Bernstein et al. 2018) written from fluxion's primitives, and a hand-written variant
 * with a subtle bug (it forgets the momentum state between steps). The runner reports each law per
 * backend; the buggy one fails, with the seed and path that replay the counterexample.
 *
 *   npx tsx examples/custom-transform-laws.ts
 */
import { type GradientTransformation, type Params, chain, cpu, scaleBySign, trace } from 'fluxion'
import { createGpuBackend } from 'fluxion/gpu'
import { verifyTransformLaws } from 'fluxion/laws'
import { type HostTree, hostMap, sequenceArb } from 'fluxion/laws'

/** Signum: m ← g + βm, u = sign(m). */
const signum = (beta = 0.9) => chain(trace({ decay: beta }), scaleBySign())

/** The same, hand-written, with a bug: the state it returns is the old one. */
const buggySignum = (beta = 0.9): GradientTransformation<unknown> => {
  const inner = signum(beta)
  return {
    init: inner.init,
    update: (u: Params, s: unknown, p?: Params) => [inner.update(u, s as never, p)[0], s],
    stateCodec: inner.stateCodec,
  }
}

// A float64 reference written from the paper: m ← g + βm, u = sign(m)
const reference = (input: { readonly params: HostTree; readonly grads: readonly HostTree[] }): HostTree[] => {
  let m = hostMap(() => 0, input.params)
  return input.grads.map((g) => {
    m = hostMap((gi, mi) => Math.fround(gi) + 0.9 * mi, g, m)
    return hostMap(Math.sign, m)
  })
}

const webasm = await createGpuBackend({ mode: 'webasm' })
for (const [name, make] of [['signum', () => signum()], ['buggy signum', () => buggySignum()]] as const) {
  // sequences of two steps or more: a forgotten state only shows from the second step on
  const reports = await verifyTransformLaws(make, { backends: [cpu, webasm], numRuns: 25, reference, scaleInvariant: true, inputs: sequenceArb({ minSteps: 2 }) })
  console.log(`\n${name}:`)
  for (const r of reports) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.law.padEnd(16)} ${r.backend}${r.ok ? '' : `  seed ${r.seed} path ${r.path}: ${r.message}`}`)
}
await webasm.destroy()
