/**
 * Catalogue entries (laws/catalog.ts's `CatalogEntry`) of the wrappers of
 * src/transforms/{conditional,monitoring,inject}.ts, each around a simple inner transformation,
 * with the io-ts codecs of their numeric hyperparameters (the same `ranges` the factories validate
 * with). The measures are per-leaf, so that they are defined on every tree, the empty one included.
 * `microbatch` wraps a function, not a transformation: test/wrappers-extra.test.ts checks it.
 */
import * as f from '../src/index.js'
import { type Params, type Tensor, ranges, tree } from '../src/index.js'
import type { CatalogEntry } from './catalog.js'

/** The L2 norm of every leaf, a tree of [] tensors shaped like the updates' tree. */
const leafNorms = (u: Params): Params => tree.map((x: Tensor, path) => f.l2Norm(x, path))(u)

const absOp = f.defineElementwise({ name: 'catalogAbs', inputs: ['x'], outputs: ['Math.abs(x)'] })
/** |u|, elementwise: a measurement shaped like the updates. */
const absolute = (u: Params): Params => tree.map((x: Tensor, path) => f.elementwise(absOp, [x], [], path)[0]!)(u)

/** Every `every`-th call (0, every, 2·every, …), offset by `phase` (mod every). */
const periodic = (every: number, phase: number) => (step: number) => (step + phase) % every === 0

const period = { every: ranges.positiveInteger, phase: ranges.nonNegativeInteger }

// the hyperparameters an entry is made with, defaults filled in (a suite may give only some of them)
const withDefaults = (x: Readonly<Record<string, unknown>>) =>
  ({ every: 2, phase: 0, decay: 0.9, debias: true, learningRate: 0.1, momentum: 0.9, ...x }) as { every: number; phase: number; decay: number; debias: boolean; learningRate: number; momentum: number }

export const catalogWrappersExtra: readonly CatalogEntry[] = [
  {
    name: 'conditionallyTransform (ema on a period)',
    hyperparameters: { ...period, decay: ranges.unitInterval, debias: ranges.boolean },
    make: (given) => {
      const x = withDefaults(given)
      return f.conditionallyTransform(f.ema({ decay: x.decay, debias: x.debias }), periodic(x.every, x.phase))
    },
  },
  {
    name: 'snapshot (per-leaf norms) in a chain',
    hyperparameters: { learningRate: ranges.nonNegative },
    make: (given) => f.chain(f.snapshot('norms', leafNorms), f.sgd({ learningRate: withDefaults(given).learningRate })),
  },
  {
    name: 'monitor (per-leaf norms and their EMA)',
    hyperparameters: { decay: ranges.unitInterval, debias: ranges.boolean },
    make: (given) => {
      const x = withDefaults(given)
      return f.monitor({ norms: leafNorms, normsEma: f.measureWithEma(leafNorms, { decay: x.decay, debias: x.debias }) })
    },
  },
  {
    name: 'measureWithEma (|u|)',
    hyperparameters: { decay: ranges.unitInterval, debias: ranges.boolean },
    make: (given) => {
      const x = withDefaults(given)
      return f.measureWithEma(absolute, { decay: x.decay, debias: x.debias })
    },
  },
  {
    name: 'injectStatefulHyperparams (sgd, learning rate by a stateful schedule)',
    // the stateful schedule's initial value, a number: catalogued as `initialLearningRate`, so that
    // the suites that pass schedules as `learningRate` leave the entry out
    hyperparameters: { initialLearningRate: ranges.nonNegative, momentum: ranges.unitInterval },
    make: (given) => {
      const x = withDefaults(given)
      const a0 = (given.initialLearningRate as number | undefined) ?? 0.1
      // a harmonic decay driven by its own state
      return f.injectStatefulHyperparams(f.sgd)({ learningRate: f.wrappedSchedule((k) => a0 / (1 + k)), momentum: x.momentum })
    },
  },
]

/**
 * `conditionallyMask` zeroes the updates of the steps its predicate refuses, whatever the gradient:
 * a NaN or ±∞ gradient on such a step is a 0 update by design (the step is frozen), which the
 * non-finite policy's "never a silent 0" check would reject. Kept out of the main catalogue (so out
 * of test/nonfinite.test.ts); test/wrappers-extra.test.ts runs its laws.
 */
export const catalogWrappersExtraMasking: readonly CatalogEntry[] = [
  {
    name: 'conditionallyMask (sgd with momentum on a period)',
    hyperparameters: { ...period, learningRate: ranges.nonNegative, momentum: ranges.unitInterval },
    make: (given) => {
      const x = withDefaults(given)
      return f.conditionallyMask(f.sgd({ learningRate: x.learningRate, momentum: x.momentum }), periodic(x.every, x.phase))
    },
  },
]
