/**
 * Catalogue entries (laws/catalog.ts's `CatalogEntry`) of Muon and schedule-free learning
 * (src/optimizers/muon.ts, schedule-free.ts; src/transforms/muon.ts, schedule-free.ts), with the
 * io-ts codecs of their numeric hyperparameters: the same `ranges` the factories validate with.
 */
import * as f from '../src/index.js'
import { type Params, type Tensor, ranges, tree } from '../src/index.js'
import type { CatalogEntry } from './catalog.js'

const h = <T,>(x: Readonly<Record<string, unknown>>) => x as unknown as T

const muonHyper = { beta: ranges.unitInterval, eps: ranges.nonNegative, nesterov: ranges.boolean, adaptive: ranges.boolean, nsSteps: ranges.positiveInteger }
const twoD = (p: Params) => tree.map((x: Tensor) => x.shape.length === 2)(p)

// Schedule-free learning rates are numbers, never schedules (as Optax's aliases): catalogued as
// `peakLearningRate`, so that the suites that pass schedules as `learningRate` leave them out
const sf = ({ peakLearningRate, ...x }: Readonly<Record<string, unknown>>) => ({ ...x, learningRate: peakLearningRate ?? 0.01 })
// β of schedule-free learning is in (0, 1]; drawn from (0, 1), the codec the arbitraries know
const sfHyper = { peakLearningRate: ranges.nonNegative, b1: ranges.openUnitInterval, weightLrPower: ranges.nonNegative }

/**
 * Every entry satisfies the whole law catalogue and the non-finite policy (docs/nonfinite.md),
 * backend parity included (no parity exception: measured on cpu, wasm, gpu:webasm and gpu:webgpu).
 * Schatten-4 preconditioning and consistent-RMS scaling inside `muon` are checked against the
 * float64 reference on every backend in test/muon-schedule-free.test.ts rather than here, where each
 * Newton–Schulz entry costs seconds of small kernels on gpu.js webgpu.
 * The law trees have leaves of rank 0 to 2: `scaleByMuon` and `scaleByShape`, which take matrices
 * only, are catalogued masked to the 2-D leaves (as `muon` uses them).
 */
export const catalogMuon: readonly CatalogEntry[] = [
  {
    name: 'muon',
    hyperparameters: { learningRate: ranges.nonNegative, ...muonHyper, weightDecay: ranges.nonNegative, adamB1: ranges.unitInterval, adamB2: ranges.unitInterval, adamEpsRoot: ranges.nonNegative, adamWeightDecay: ranges.nonNegative },
    make: (x) => f.muon(h(x)),
  },
  { name: 'scaleByMuon (2-D leaves)', hyperparameters: muonHyper, make: (x) => f.masked(f.scaleByMuon(h(x)), twoD) },
  { name: 'scaleByMuon (AOL, Dion coefficients; 2-D leaves)', hyperparameters: { beta: ranges.unitInterval, eps: ranges.nonNegative }, make: (x) => f.masked(f.scaleByMuon({ ...h<f.ScaleByMuonOptions>(x), preconditioning: 'aol', nsCoeffs: 'dion' }), twoD) },
  { name: 'scaleByShape (2-D leaves)', hyperparameters: { consistentRms: ranges.nonNegative }, make: (x) => f.masked(f.scaleByShape(h(x)), twoD) },
  { name: 'scheduleFreeAdamw', hyperparameters: { ...sfHyper, b2: ranges.unitInterval, eps: ranges.nonNegative, weightDecay: ranges.nonNegative, warmupSteps: ranges.positiveInteger }, make: (x) => f.scheduleFreeAdamw(h(sf(x))) },
  { name: 'scheduleFreeSgd', hyperparameters: { ...sfHyper, weightDecay: ranges.nonNegative }, make: (x) => f.scheduleFreeSgd(h(sf(x))) },
  {
    name: 'scheduleFree (around adam with b1 = 0)',
    hyperparameters: { learningRate: ranges.nonNegative, b1: ranges.openUnitInterval, weightLrPower: ranges.nonNegative },
    make: (x) => f.scheduleFree(f.adam({ learningRate: x.learningRate as number, b1: 0 }), h(x)),
  },
]
