/**
 * Laws of `fit` on every backend: the params (and state) it returns are those of the epoch it
 * reports, on validation curves that get worse after their best epoch; its early stopping is
 * `earlyStopping`'s rule on the same curve; its callbacks and optimizer see what the docs say; and
 * the planted variants (last instead of best params, patience off by one, 0-based batch numbers)
 * are rejected.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type AnyLayer,
  type FitOptions,
  type LabelledData,
  type Params,
  batchNorm,
  dense,
  dispose,
  dropout,
  fit,
  hostMatrix,
  key,
  meanSquaredError,
  reduceOnPlateau,
  chain,
  sequential,
  sgd,
  uniformValues,
  zerosInit,
} from '../src/index.js'
import * as laws from '../laws/predicates/index.js'
import { assertLaw } from '../laws/runners.js'
import { backends } from './backends.js'

/** y = w·x on x uniform in [−2, 2]² (keyed). */
const linearData = (seed: number, rows: number, w: readonly [number, number]): LabelledData => {
  const x = hostMatrix(Array.from(uniformValues(key(seed), 2 * rows), (u) => 4 * u - 2), rows, 2)
  return { x, y: hostMatrix(Array.from({ length: rows }, (_, r) => w[0] * x.data[2 * r]! + w[1] * x.data[2 * r + 1]!), rows, 1) }
}

const models: Record<string, () => AnyLayer> = {
  dense: () => sequential([dense(1, { kernelInitializer: zerosInit() })]),
  'batchNorm, dense': () => sequential([batchNorm({ momentum: 0.9 }), dense(1, { kernelInitializer: zerosInit() })]),
  'dense, dropout': () => sequential([dense(1, { kernelInitializer: zerosInit() }), dropout(0.2)]),
}

/**
 * Training towards w, validated against a fraction of w: starting from 0 the validation loss falls
 * until the weights pass that fraction, then rises — a curve that gets worse after its best epoch.
 */
const configArb = fc.record({
  seed: fc.nat({ max: 1000 }),
  model: fc.constantFrom(...Object.keys(models)),
  fraction: fc.double({ min: 0.4, max: 0.7, noNaN: true }),
  learningRate: fc.double({ min: 0.01, max: 0.03, noNaN: true }),
  epochs: fc.integer({ min: 8, max: 14 }),
  batchSize: fc.constantFrom(5, 8, 24),
  patience: fc.integer({ min: 1, max: 3 }),
  minDelta: fc.constantFrom(0, 0, 1e-3, 0.05),
  baseline: fc.constantFrom(undefined, undefined, 100, 1e-9),
  startStep: fc.constantFrom(undefined, 0, 2, 4),
})
type Config = typeof configArb extends fc.Arbitrary<infer C> ? C : never

const optionsOf = (c: Config, backend: FitOptions<Params, unknown, unknown>['backend']): FitOptions<Params, unknown, unknown> => ({
  model: models[c.model]!() as FitOptions<Params, unknown, unknown>['model'],
  loss: meanSquaredError,
  optimizer: sgd({ learningRate: c.learningRate }) as FitOptions<Params, unknown, unknown>['optimizer'],
  train: linearData(c.seed, 24, [3, -2]),
  validation: linearData(c.seed + 1, 16, [3 * c.fraction, -2 * c.fraction]),
  epochs: c.epochs,
  batchSize: c.batchSize,
  key: key(c.seed),
  backend,
  earlyStopping: { patience: c.patience, minDelta: c.minDelta, ...(c.baseline === undefined ? {} : { baseline: c.baseline }), ...(c.startStep === undefined ? {} : { startStep: c.startStep }) },
})

describe.each(backends)('fit on $name', (backend) => {
  const runs = backend.name === 'cpu' ? 15 : 3

  it('returns the params and state of the epoch it reports (bestEpoch), on curves that get worse after it', async () => {
    let [runsDone, restored] = [0, 0]
    const watching: laws.FitFunction = async (o) => {
      const r = await fit(o)
      if (o.earlyStopping) runsDone++
      if (o.earlyStopping && r.bestEpoch < r.stoppedEpoch) restored++
      return r
    }
    await assertLaw(configArb, (c) => laws.fitReturnsReportedEpoch(watching, optionsOf(c, backend)), runs, backend.name)
    // about half the runs restore an earlier epoch than the last (best and last differ there)
    if (runsDone >= 10) expect(restored).toBeGreaterThan(0)
  })

  it('stops where earlyStopping alone stops on the curve fit reports, with the same best epoch and improvements', () =>
    assertLaw(configArb, (c) => laws.fitAgreesWithEarlyStopping(fit, optionsOf(c, backend)), runs, backend.name))

  it('calls onEpoch with the history, onBatch(epoch, 1 … batches, batches), and gives the optimizer { value } once per epoch', () =>
    assertLaw(
      fc.tuple(configArb, fc.boolean(), fc.boolean()),
      ([c, withValidation, withStopping]) => {
        const o = optionsOf(c, backend)
        const { validation, earlyStopping, ...rest } = o
        return laws.fitCallbacksAsDocumented(fit, { ...rest, ...(withValidation ? { validation, ...(withStopping ? { earlyStopping } : {}) } : {}) })
      },
      runs,
      backend.name,
    ))
})

// ---- planted bugs --------------------------------------------------------------------------

/** A fit that reports the best epoch but hands back the last epoch's params. */
const lastParamsFit: laws.FitFunction = async (o) => {
  const r = await fit(o)
  if (r.bestEpoch === r.stoppedEpoch) return r
  dispose([r.params, r.state])
  const { earlyStopping: _, ...rest } = o
  const last = await fit({ ...rest, epochs: r.stoppedEpoch })
  return { ...r, params: last.params, state: last.state }
}

/** A fit whose patience counts one epoch too many. */
const patienceOffByOne: laws.FitFunction = (o) => fit(o.earlyStopping ? { ...o, earlyStopping: { ...o.earlyStopping, patience: o.earlyStopping.patience + 1 } } : o)

/** A fit that numbers batches from 0 in onBatch. */
const zeroBasedBatches: laws.FitFunction = (o) => fit({ ...o, ...(o.onBatch ? { onBatch: (e: number, b: number, n: number) => o.onBatch!(e, b - 1, n) } : {}) })

/** A fit that hands the optimizer this epoch's running value on every batch (reduceOnPlateau would see it per batch). */
const valueEveryBatch: laws.FitFunction = (o) => {
  const inner = o.optimizer
  let last: number | undefined
  return fit({ ...o, optimizer: { ...inner, update: (u, s, p, extra) => ((last = extra?.value ?? last), inner.update(u, s, p, last === undefined ? undefined : { value: last })) } })
}

describe('the training laws catch planted bugs', () => {
  const cpu = backends[0]!
  const config: Config = { seed: 1, model: 'dense', fraction: 0.5, learningRate: 0.02, epochs: 12, batchSize: 8, patience: 2, minDelta: 0, baseline: undefined, startStep: undefined }

  it('the configuration stops early on a curve that rises after its best epoch', async () => {
    const r = await fit(optionsOf(config, cpu))
    dispose([r.params, r.state])
    const curve = r.history.map((h) => h.validationLoss!)
    expect(r.bestEpoch).toBeLessThan(r.stoppedEpoch)
    expect(r.stoppedEpoch).toBeLessThan(config.epochs)
    expect(curve.slice(r.bestEpoch).every((v) => v > curve[r.bestEpoch - 1]!)).toBe(true)
  })

  it('fitReturnsReportedEpoch: a fit returning the last params instead of the best', async () => {
    expect((await laws.fitReturnsReportedEpoch(fit, optionsOf(config, cpu))).ok).toBe(true)
    const r = await laws.fitReturnsReportedEpoch(lastParamsFit, optionsOf(config, cpu))
    expect([r.ok, r.ok ? '' : r.message]).toEqual([false, expect.stringMatching(/^the params returned have validation loss/)])
  })

  it('fitAgreesWithEarlyStopping: a patience off by one', async () => {
    expect((await laws.fitAgreesWithEarlyStopping(fit, optionsOf(config, cpu))).ok).toBe(true)
    expect((await laws.fitAgreesWithEarlyStopping(patienceOffByOne, optionsOf(config, cpu))).ok).toBe(false)
  })

  it('fitCallbacksAsDocumented: 0-based batch numbers, and { value } on every batch', async () => {
    const o = { ...optionsOf(config, cpu), optimizer: chain(sgd({ learningRate: 0.02 }), reduceOnPlateau({ patience: 1 })) as FitOptions<Params, unknown, unknown>['optimizer'] }
    expect((await laws.fitCallbacksAsDocumented(fit, o)).ok).toBe(true)
    const zero = await laws.fitCallbacksAsDocumented(zeroBasedBatches, o)
    expect([zero.ok, zero.ok ? '' : zero.message]).toEqual([false, expect.stringMatching(/^onBatch saw 1:0\/3/)])
    const every = await laws.fitCallbacksAsDocumented(valueEveryBatch, o)
    expect([every.ok, every.ok ? '' : every.message]).toEqual([false, expect.stringMatching(/^update 5 \(epoch 2, batch 2\) got extras \{"value"/)])
  })
})
