/**
 * Catalogue entries (laws/catalog.ts's `CatalogEntry`) of PyTorch's averaged SGD and Keras'
 * FTRL-Proximal and their primitives (src/optimizers/asgd-ftrl.ts, src/transforms/asgd-ftrl.ts),
 * with the io-ts codecs of their numeric hyperparameters: the same `ranges` the factories validate
 * with.
 */
import * as f from '../src/index.js'
import { ranges } from '../src/index.js'
import type { CatalogEntry } from './catalog.js'

const h = <T,>(x: Readonly<Record<string, unknown>>) => x as unknown as T

const asgd = { learningRate: ranges.nonNegative, lambd: ranges.nonNegative, alpha: ranges.nonNegative, t0: ranges.nonNegative }

// FTRL's learning rate must be > 0, and its learning-rate power p ≤ 0 is catalogued as −p in
// [0, 1] (`negatedLearningRatePower`), the range of the per-coordinate rates α/n^(−p) in use
// (Keras' −½ and the fixed rate 0 included); a larger −p only raises n to a higher power
const ftrl = {
  learningRate: ranges.positive,
  negatedLearningRatePower: ranges.unitIntervalClosed,
  initialAccumulatorValue: ranges.nonNegative,
  l1RegularizationStrength: ranges.nonNegative,
  l2RegularizationStrength: ranges.nonNegative,
  l2ShrinkageRegularizationStrength: ranges.nonNegative,
  beta: ranges.nonNegative,
  weightDecay: ranges.nonNegative,
}
const ftrlOptions = ({ negatedLearningRatePower, ...x }: Readonly<Record<string, unknown>>) =>
  h<f.FtrlOptions>({ ...x, ...(negatedLearningRatePower === undefined ? {} : { learningRatePower: -(negatedLearningRatePower as number) }) })

/** Every entry satisfies the whole law catalogue and the non-finite policy (docs/nonfinite.md). */
export const catalogAsgdFtrl: readonly CatalogEntry[] = [
  { name: 'asgd', hyperparameters: { ...asgd, weightDecay: ranges.nonNegative, maximize: ranges.boolean }, make: (x) => f.asgd(h(x)) },
  { name: 'ftrl', hyperparameters: ftrl, make: (x) => f.ftrl(ftrlOptions(x)) },
  { name: 'scaleByAsgd', hyperparameters: asgd, make: (x) => f.scaleByAsgd(h(x)) },
  { name: 'scaleByFtrl', hyperparameters: ftrl, make: (x) => f.scaleByFtrl(ftrlOptions(x)) },
]
