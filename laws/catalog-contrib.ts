/**
 * Catalogue entries (laws/catalog.ts's `CatalogEntry`) of Optax contrib's ADOPT, AdEMAMix,
 * simplified AdEMAMix, MADGRAD, Sophia and SAM and their primitives (src/optimizers/contrib.ts,
 * src/transforms/contrib.ts), with the io-ts codecs of their numeric hyperparameters.
 *
 * Sophia needs a Hessian-diagonal estimate in `update`'s extras and opaque-mode SAM a gradient
 * function: their entries run inside wrappers that supply them from the laws' inputs (Sophia-G's
 * Gauss–Newton estimate g ⊙ g of the incoming gradient; the gradient θ of f(θ) = ½‖θ‖²), so the laws
 * drive them like any other transformation.
 */
import * as f from '../src/index.js'
import { type AnyTransformation, type Params, type Tensor, defineElementwise, elementwise, ranges, tree } from '../src/index.js'
import type { CatalogEntry } from './catalog.js'

const lr = { learningRate: ranges.nonNegative }
const betas = { b1: ranges.unitInterval, b2: ranges.unitInterval }
const eps = { eps: ranges.nonNegative, epsRoot: ranges.nonNegative }
const h = <T,>(x: Readonly<Record<string, unknown>>) => x as unknown as T

const squareOp = defineElementwise({ name: 'catalogGaussNewton', inputs: ['g'], outputs: ['g * g'] })
const copyOp = defineElementwise({ name: 'catalogHalfSquaredNormGrad', inputs: ['x'], outputs: ['x'] })
const leafwise = (p: Params, op: typeof squareOp): Params => {
  const { leaves, structure } = tree.flatten(p)
  return tree.unflatten(structure, (leaves as Tensor[]).map((x) => elementwise(op, [x])[0]!))
}

/** A transformation that reads `hessianDiagonal` run with the Gauss–Newton estimate g ⊙ g of each update's gradient. */
const withGaussNewtonHessian = (t: AnyTransformation): AnyTransformation => ({
  init: t.init,
  update: (u, s, p, extra) => f.scope(() => t.update(u, s, p, { ...extra, hessianDiagonal: leafwise(u, squareOp) })),
  ...(t.stateCodec ? { stateCodec: t.stateCodec } : {}),
  ...(t.identity ? { identity: t.identity } : {}),
})

/** A transformation that reads `gradFn` run on f(θ) = ½‖θ‖², whose gradient is θ. */
const onHalfSquaredNorm = (t: AnyTransformation): AnyTransformation => ({
  init: t.init,
  update: (u, s, p, extra) => t.update(u, s, p, { ...extra, gradFn: (q: Params) => leafwise(q, copyOp) }),
  ...(t.stateCodec ? { stateCodec: t.stateCodec } : {}),
  ...(t.identity ? { identity: t.identity } : {}),
})

const adversary = (rho: unknown) => f.chain(f.normalizeByGlobalNorm(), f.sgd({ learningRate: (rho as number | undefined) ?? 0.05 }))
const samOf = ({ learningRate, rho, ...x }: Readonly<Record<string, unknown>>, opaqueMode: boolean) =>
  f.sam(f.sgd({ learningRate: (learningRate as number | undefined) ?? 0.1 }), adversary(rho), { ...h<f.SamOptions>(x), opaqueMode })

const adopt = { ...betas, eps: ranges.positive, nesterov: ranges.boolean, useClipping: ranges.boolean }
const ademamix = { ...betas, b3: ranges.unitInterval, alpha: ranges.nonNegative, ...eps }
const simplified = { ...betas, alpha: ranges.nonNegative, ...eps }
const sophia = { ...betas, eps: ranges.positive, gamma: ranges.nonNegative, clipThreshold: ranges.nonNegative, updateInterval: ranges.positiveInteger }
const samHyper = { ...lr, rho: ranges.nonNegative, syncPeriod: ranges.positiveInteger, resetState: ranges.boolean }

/** Every entry satisfies the whole law catalogue and the non-finite policy (docs/nonfinite.md). */
export const catalogContrib: readonly CatalogEntry[] = [
  { name: 'adopt', hyperparameters: { ...lr, ...adopt }, make: (x) => f.adopt(h(x)) },
  { name: 'ademamix', hyperparameters: { ...lr, ...ademamix, weightDecay: ranges.nonNegative }, make: (x) => f.ademamix(h(x)) },
  { name: 'simplifiedAdemamix', hyperparameters: { ...lr, ...simplified, weightDecay: ranges.nonNegative }, make: (x) => f.simplifiedAdemamix(h(x)) },
  { name: 'madgrad', hyperparameters: { ...lr, momentum: ranges.unitInterval, weightDecay: ranges.nonNegative, eps: ranges.nonNegative }, make: (x) => f.madgrad(h(x)) },
  { name: 'sophia (Gauss–Newton Hessian estimate)', hyperparameters: { ...lr, ...sophia, weightDecay: ranges.nonNegative }, make: (x) => withGaussNewtonHessian(f.sophia(h(x))) },
  { name: 'sam (paper adversary, transparent)', hyperparameters: samHyper, make: (x) => samOf(x, false) },
  // opaque mode runs syncPeriod − 1 adversarial steps inside every update: the drawn period (1 to 20)
  // is folded into 1 to 3, which covers no, one and several inner steps at a CI-sized cost
  { name: 'sam (paper adversary, opaque, gradFn)', hyperparameters: samHyper, make: (x) => onHalfSquaredNorm(samOf({ ...x, syncPeriod: 1 + ((((x.syncPeriod as number | undefined) ?? 2) - 1) % 3) }, true)) },
  { name: 'scaleByAdopt', hyperparameters: adopt, make: (x) => f.scaleByAdopt(h(x)) },
  { name: 'scaleByAdemamix', hyperparameters: ademamix, make: (x) => f.scaleByAdemamix(h(x)) },
  { name: 'scaleBySimplifiedAdemamix', hyperparameters: simplified, make: (x) => f.scaleBySimplifiedAdemamix(h(x)) },
  { name: 'scaleByMadgrad', hyperparameters: { ...lr, momentum: ranges.unitInterval, eps: ranges.nonNegative }, make: (x) => f.scaleByMadgrad(h(x)) },
  { name: 'scaleBySophia (Gauss–Newton Hessian estimate)', hyperparameters: sophia, make: (x) => withGaussNewtonHessian(f.scaleBySophia(h(x))) },
  { name: 'normalizeByGlobalNorm', hyperparameters: {}, make: () => f.normalizeByGlobalNorm() },
]
