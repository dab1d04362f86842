/**
 * Catalogue entries (laws/catalog.ts's `CatalogEntry`) of the learning-rate-free optimizers and
 * their primitives (src/optimizers/parameter-free.ts, src/transforms/parameter-free.ts), with the
 * io-ts codecs of their numeric hyperparameters: the same `ranges` the factories validate with.
 */
import * as f from '../src/index.js'
import { type AnyTransformation, ranges } from '../src/index.js'
import type { CatalogEntry } from './catalog.js'

const lr = { learningRate: ranges.nonNegative }
const betas = { b1: ranges.unitInterval, b2: ranges.unitInterval }
const h = <T,>(x: Readonly<Record<string, unknown>>) => x as unknown as T

/**
 * MoMo needs the loss value through `update`'s extras. The laws drive transformations with
 * arbitrary gradient sequences (not the gradients of one objective), so the entries pass a fixed
 * loss of 1 at every step (a caller's own `value` wins): the same number on every backend, and one
 * above the default lower bound 0, so the Polyak step is taken.
 */
const withLoss = (t: AnyTransformation): AnyTransformation => ({
  init: t.init,
  update: (u, s, p, extra) => t.update(u, s, p, { ...extra, value: extra?.value ?? 1 }),
  ...(t.stateCodec ? { stateCodec: t.stateCodec } : {}),
  ...(t.identity ? { identity: t.identity } : {}),
})

const prodigyHp = { ...betas, b3: ranges.unitInterval, eps: ranges.nonNegative, estimLr0: ranges.positive, estimLrCoef: ranges.nonNegative, weightDecay: ranges.nonNegative, safeguardWarmup: ranges.boolean }
const dadaptHp = { ...betas, eps: ranges.nonNegative, estimLr0: ranges.positive, weightDecay: ranges.nonNegative }
const momoHp = { lowerBound: ranges.finite, weightDecay: ranges.nonNegative, adaptLowerBound: ranges.boolean }
const mechanizeHp = { weightDecay: ranges.nonNegative, eps: ranges.positive, sInit: ranges.positive, numBetas: ranges.positiveInteger }

/** Every entry satisfies the whole law catalogue and the non-finite policy (docs/nonfinite.md). */
export const catalogParameterFree: readonly CatalogEntry[] = [
  { name: 'prodigy', hyperparameters: { ...lr, ...prodigyHp }, make: (x) => f.prodigy(h(x)) },
  { name: 'dadaptAdamw', hyperparameters: { ...lr, ...dadaptHp }, make: (x) => f.dadaptAdamw(h(x)) },
  { name: 'dog', hyperparameters: { ...lr, eps: ranges.nonNegative, weightDecay: ranges.nonNegative }, make: (x) => f.dog(h(x)) },
  { name: 'dowg', hyperparameters: { ...lr, initEstimSqDist: ranges.positive, eps: ranges.nonNegative, weightDecay: ranges.nonNegative }, make: (x) => f.dowg(h(x)) },
  { name: 'momo', hyperparameters: { ...lr, beta: ranges.unitInterval, ...momoHp }, make: (x) => withLoss(f.momo(h(x))) },
  { name: 'momoAdam', hyperparameters: { ...lr, ...betas, eps: ranges.nonNegative, ...momoHp }, make: (x) => withLoss(f.momoAdam(h(x))) },
  {
    name: 'mechanize(adam)',
    hyperparameters: { ...lr, ...mechanizeHp },
    make: ({ learningRate, ...x }) => f.mechanize(f.adam({ learningRate: learningRate as number }), h(x)),
  },
  { name: 'scaleByProdigy', hyperparameters: { ...lr, ...prodigyHp }, make: (x) => f.scaleByProdigy(h(x)) },
  { name: 'scaleByDadaptAdamw', hyperparameters: { ...lr, ...dadaptHp }, make: (x) => f.scaleByDadaptAdamw(h(x)) },
  { name: 'scaleByDog', hyperparameters: { eps: ranges.nonNegative }, make: (x) => f.scaleByDog(h(x)) },
  { name: 'scaleByDowg', hyperparameters: { initEstimSqDist: ranges.positive, eps: ranges.nonNegative }, make: (x) => f.scaleByDowg(h(x)) },
  { name: 'scaleByDistanceOverGradients', hyperparameters: { repsRel: ranges.positive, eps: ranges.nonNegative, globalScale: ranges.finite }, make: (x) => f.scaleByDistanceOverGradients(h(x)) },
  { name: 'scaleByMomo', hyperparameters: { ...lr, beta: ranges.unitInterval, ...momoHp }, make: (x) => withLoss(f.scaleByMomo(h(x))) },
  { name: 'scaleByMomoAdam', hyperparameters: { ...lr, ...betas, eps: ranges.nonNegative, ...momoHp }, make: (x) => withLoss(f.scaleByMomoAdam(h(x))) },
]

/**
 * COCOB: lawful like the entries above, but outside the overflow clause of the non-finite policy
 * that test/nonfinite.test.ts checks on every entry of the catalogue. After a finite gradient of
 * 1e30, the scale L of that coordinate is 1e30 for good (L is the largest |g| seen), and the bet of
 * every later unit gradient is ~1e-30 of it: the coordinate's update is then an exact float32 0, as
 * the algorithm says (measured: x stays at x₀ − 0.0101 from step 3 on, in Optax too). NaN and ±∞
 * gradients do give NaN (checked in test/parameter-free.test.ts).
 */
export const catalogParameterFreeBetting: readonly CatalogEntry[] = [
  { name: 'cocob', hyperparameters: { ...lr, alpha: ranges.nonNegative, eps: ranges.nonNegative, weightDecay: ranges.nonNegative }, make: (x) => f.cocob(h(x)) },
  { name: 'scaleByCocob', hyperparameters: { alpha: ranges.nonNegative, eps: ranges.nonNegative }, make: (x) => f.scaleByCocob(h(x)) },
]
