/**
 * Catalogue entries (laws/catalog.ts's `CatalogEntry`) of Adafactor, SM3, Fromage and Polyak SGD
 * and their primitives (src/optimizers/factored.ts, src/transforms/factored.ts), with the io-ts
 * codecs of their numeric hyperparameters: the same `ranges` the factories validate with.
 */
import * as f from '../src/index.js'
import { type AnyTransformation, ranges } from '../src/index.js'
import type { CatalogEntry } from './catalog.js'

const h = <T,>(x: Readonly<Record<string, unknown>>) => x as unknown as T

/**
 * Polyak's step needs the loss f(θ) in `update`'s extras. The laws are statements about the
 * transformation (purity, identity, round trips, parity, the compiled step), not about an
 * objective: they drive it with f(θ) = 1 at every step unless the caller passes a value (the
 * objective is exercised in test/factored-optimizers.test.ts, against Optax on the quadratic).
 * A constant keeps the entry runnable on every backend, webgpu included (no read-back).
 */
const withLoss = (t: AnyTransformation): AnyTransformation => ({
  init: t.init,
  update: (u, s, p, extra) => t.update(u, s, p, { value: 1, ...extra }),
  ...(t.stateCodec ? { stateCodec: t.stateCodec } : {}),
  ...(t.identity ? { identity: t.identity } : {}),
})

const polyak = { maxLearningRate: ranges.positive, fMin: ranges.finite, eps: ranges.nonNegative, positivePart: ranges.boolean }
const polyakOptions = ({ positivePart, ...x }: Readonly<Record<string, unknown>>) => ({ ...x, ...(positivePart === undefined ? {} : { variant: positivePart ? 'sps+' : 'sps' }) })

const adafactor = {
  learningRate: ranges.nonNegative,
  minDimSizeToFactor: ranges.positiveInteger,
  decayRate: ranges.nonNegative,
  multiplyByParameterScale: ranges.boolean,
  clippingThreshold: ranges.positive,
  momentum: ranges.unitInterval,
  weightDecayRate: ranges.nonNegative,
  eps: ranges.positive,
  factored: ranges.boolean,
}

/** Every entry satisfies the whole law catalogue and the non-finite policy (docs/nonfinite.md). */
export const catalogFactored: readonly CatalogEntry[] = [
  { name: 'adafactor', hyperparameters: adafactor, make: (x) => f.adafactor(h(x)) },
  { name: 'sm3', hyperparameters: { learningRate: ranges.nonNegative, momentum: ranges.unitInterval, b2: ranges.unitIntervalClosed, eps: ranges.nonNegative }, make: (x) => f.sm3(h(x)) },
  { name: 'fromage', hyperparameters: { learningRate: ranges.nonNegative, minNorm: ranges.nonNegative }, make: (x) => f.fromage(h(x)) },
  { name: 'polyakSgd', hyperparameters: { ...polyak, scaling: ranges.nonNegative }, make: (x) => withLoss(f.polyakSgd(h(polyakOptions(x)))) },
  {
    name: 'scaleByFactoredRms',
    hyperparameters: { factored: ranges.boolean, decayRate: ranges.nonNegative, minDimSizeToFactor: ranges.positiveInteger, epsilon: ranges.positive },
    make: (x) => f.scaleByFactoredRms(h(x)),
  },
  { name: 'scaleByParamBlockRms', hyperparameters: { minScale: ranges.nonNegative }, make: (x) => f.scaleByParamBlockRms(h(x)) },
  { name: 'scaleBySm3', hyperparameters: { b1: ranges.unitInterval, b2: ranges.unitIntervalClosed, eps: ranges.nonNegative }, make: (x) => f.scaleBySm3(h(x)) },
  { name: 'scaleByPolyak', hyperparameters: polyak, make: (x) => withLoss(f.scaleByPolyak(h(polyakOptions(x)))) },
  { name: 'addScaledParams', hyperparameters: { scale: ranges.finite }, make: (x) => f.addScaledParams((x.scale as number | undefined) ?? -0.01) },
]
