/**
 * Laws of the training loop, as predicates over an implementation of `fit` (fluxion's, or a
 * planted variant) and its options: the params it returns belong to the epoch it reports, its
 * early stopping is `earlyStopping`'s rule, and its callbacks and optimizer see what the docs say.
 */
import {
  type EpochReport,
  type FitOptions,
  type FitResult,
  type GradientTransformation,
  type Params,
  type UpdateExtras,
  cpu,
  dispose,
  earlyStopping,
  evaluate,
  readTree,
} from '../../src/index.js'
import { type Leaf, allClose } from '../allclose.js'
import type { TreeLike } from '../../src/index.js'
import { type LawResult, exact } from './transform.js'

/** An implementation of `fit`: fluxion's, or a variant under test. */
export type FitFunction = <P extends Params, MS, S>(options: FitOptions<P, MS, S>) => Promise<FitResult<P, MS>>

const fail = (message: string, actual = NaN, expected = NaN, path = ''): LawResult => ({ ok: false, path, index: -1, actual, expected, message })

const withoutEarlyStopping = <P extends Params, MS, S>(options: FitOptions<P, MS, S>): FitOptions<P, MS, S> => {
  const { earlyStopping: _stopping, onBatch: _batch, onEpoch: _epoch, ...rest } = options
  return rest
}

/**
 * Returned params: the params `fit` returns have, on the validation set, exactly the validation
 * loss its history reports for `bestEpoch` (the first epoch with the lowest loss when early
 * stopping with minDelta 0 improved at all), and they equal, bit for bit, the params of the same
 * run stopped after `bestEpoch` epochs without early stopping (training is keyed, so deterministic).
 */
export const fitReturnsReportedEpoch = async <P extends Params, MS, S>(fitImpl: FitFunction, options: FitOptions<P, MS, S>): Promise<LawResult> => {
  const validation = options.validation
  if (!validation) throw new TypeError('fitReturnsReportedEpoch: the options need a validation set')
  const r = await fitImpl(options)
  const owned: unknown[] = [r.params, r.state]
  try {
    const { history, bestEpoch, stoppedEpoch } = r
    if (history.length !== stoppedEpoch) return fail(`history has ${history.length} epochs, but training stopped at epoch ${stoppedEpoch}`, history.length, stoppedEpoch)
    if (!(Number.isInteger(bestEpoch) && bestEpoch >= 1 && bestEpoch <= stoppedEpoch)) return fail(`bestEpoch ${bestEpoch} is not an epoch in 1 … ${stoppedEpoch}`, bestEpoch, stoppedEpoch)
    const curve = history.map((h) => h.validationLoss!)
    const reported = curve[bestEpoch - 1]!
    const es = options.earlyStopping
    const lowest = Math.min(...curve)
    if (es && (es.minDelta ?? 0) === 0 && lowest < (es.baseline ?? Infinity) && bestEpoch !== curve.indexOf(lowest) + 1) {
      return fail(`bestEpoch is ${bestEpoch} (validation loss ${reported}), but epoch ${curve.indexOf(lowest) + 1} has the lowest, ${lowest}`, bestEpoch, curve.indexOf(lowest) + 1)
    }
    const v = await evaluate(options.model, r.params, r.state, validation, options.loss, { backend: options.backend ?? cpu })
    if (!allClose(v.loss, reported, exact).ok) return fail(`the params returned have validation loss ${v.loss}, but epoch ${bestEpoch}'s report says ${reported}`, v.loss, reported)
    const rerun = await fitImpl({ ...withoutEarlyStopping(options), epochs: bestEpoch })
    owned.push(rerun.params, rerun.state)
    const c = allClose((await readTree({ params: r.params, state: r.state })) as TreeLike<Leaf>, (await readTree({ params: rerun.params, state: rerun.state })) as TreeLike<Leaf>, exact)
    return c.ok ? c : { ...c, message: `the params returned are not those of a run stopped after epoch ${bestEpoch}: ${c.message}` }
  } finally {
    dispose(owned)
  }
}

/**
 * Early stopping inside `fit` is `earlyStopping`'s rule: on the validation curve `fit` reports,
 * `earlyStopping` alone (evaluateEvery 1, the same patience, minDelta, baseline and startStep,
 * maxSteps = epochs) stops at `stoppedEpoch` and has its best at `bestEpoch` (when it never
 * improves, `fit` keeps the last params and reports `stoppedEpoch`), and each report's `improved`
 * says whether that epoch became the best.
 */
export const fitAgreesWithEarlyStopping = async <P extends Params, MS, S>(fitImpl: FitFunction, options: FitOptions<P, MS, S>): Promise<LawResult> => {
  const es = options.earlyStopping
  if (!es || !options.validation) throw new TypeError('fitAgreesWithEarlyStopping: the options need earlyStopping and a validation set')
  const r = await fitImpl(options)
  dispose([r.params, r.state])
  const curve = r.history.map((h) => h.validationLoss!)
  const rule = { minDelta: es.minDelta ?? 0, baseline: es.baseline ?? Infinity, startStep: es.startStep ?? 0 }
  let beyond = false
  const alone = (patience: number, maxSteps: number) =>
    earlyStopping({ evaluateEvery: 1, patience, maxSteps, ...rule }, {
      initial: 0,
      train: (t: number) => t + 1,
      validationError: (t: number) => {
        if (t > curve.length) beyond = true
        return curve[t - 1] ?? Infinity
      },
    })
  const whole = await alone(es.patience, options.epochs)
  if (beyond) return fail(`fit stopped at epoch ${r.stoppedEpoch}, but earlyStopping on the same curve goes on`, r.stoppedEpoch, whole.stoppedStep)
  if (whole.stoppedStep !== r.stoppedEpoch) return fail(`fit stopped at epoch ${r.stoppedEpoch}, earlyStopping at ${whole.stoppedStep}`, r.stoppedEpoch, whole.stoppedStep)
  const best = whole.bestStep === 0 ? r.stoppedEpoch : whole.bestStep
  if (r.bestEpoch !== best) return fail(`fit's bestEpoch is ${r.bestEpoch}, earlyStopping's best step ${whole.bestStep}`, r.bestEpoch, best)
  for (let k = 1; k <= curve.length; k++) {
    // an improvement at k: earlyStopping run to step k (never giving up) has its best at k
    const improved = (await alone(Number.MAX_SAFE_INTEGER, k)).bestStep === k
    if (r.history[k - 1]!.improved !== improved) return fail(`epoch ${k} reports improved = ${r.history[k - 1]!.improved}, earlyStopping says ${improved}`, Number(r.history[k - 1]!.improved), Number(improved))
  }
  return { ok: true }
}

/**
 * Callbacks and the optimizer see what the docs say: `onEpoch` gets each epoch's report once, in
 * order, the same reports `history` keeps (with validation loss and accuracy when there is a
 * validation set, `improved` with early stopping); `onBatch(epoch, batch, batches)` runs after each
 * batch with batch = 1 … ⌈rows/batchSize⌉; the optimizer is updated once per batch and receives
 * `{ value }` with the first batch of each epoch from the second on: the previous epoch's validation
 * loss, or its training loss without a validation set; every other update gets no extras.
 */
export const fitCallbacksAsDocumented = async <P extends Params, MS, S>(fitImpl: FitFunction, options: FitOptions<P, MS, S>): Promise<LawResult> => {
  const batches: string[] = []
  const reports: EpochReport[] = []
  const extras: (UpdateExtras | undefined)[] = []
  const inner = options.optimizer
  const optimizer: GradientTransformation<S> = {
    ...inner,
    update: (u, s, p, extra) => {
      extras.push(extra === undefined ? undefined : { ...extra })
      return inner.update(u, s, p, extra)
    },
  }
  const r = await fitImpl({
    ...options,
    optimizer,
    onBatch: (e, b, n) => {
      batches.push(`${e}:${b}/${n}`)
      options.onBatch?.(e, b, n)
    },
    onEpoch: (report) => {
      reports.push(report)
      options.onEpoch?.(report)
    },
  })
  dispose([r.params, r.state])
  if (JSON.stringify(reports) !== JSON.stringify(r.history)) return fail(`onEpoch saw ${JSON.stringify(reports)}, history is ${JSON.stringify(r.history)}`)
  for (const [i, report] of reports.entries()) {
    const keys = Object.keys(report).sort().join(',')
    const wanted = ['epoch', 'trainLoss', ...(options.validation ? ['validationAccuracy', 'validationLoss'] : []), ...(options.earlyStopping ? ['improved'] : [])].sort().join(',')
    if (report.epoch !== i + 1) return fail(`report ${i} is for epoch ${report.epoch}`, report.epoch, i + 1)
    if (keys !== wanted) return fail(`epoch ${i + 1}'s report has fields ${keys}, the docs say ${wanted}`)
  }
  const perEpoch = Math.ceil(options.train.x.rows / options.batchSize)
  const expected = r.history.flatMap((h) => Array.from({ length: perEpoch }, (_, b) => `${h.epoch}:${b + 1}/${perEpoch}`))
  if (batches.join(' ') !== expected.join(' ')) return fail(`onBatch saw ${batches.join(' ')}, expected ${expected.join(' ')}`)
  if (extras.length !== expected.length) return fail(`the optimizer was updated ${extras.length} times for ${expected.length} batches`, extras.length, expected.length)
  for (let k = 0; k < extras.length; k++) {
    const epoch = Math.floor(k / perEpoch) + 1
    const previous = r.history[epoch - 2]
    const want = k % perEpoch === 0 && previous ? { value: previous.validationLoss ?? previous.trainLoss } : undefined
    if (JSON.stringify(extras[k]) !== JSON.stringify(want)) return fail(`update ${k + 1} (epoch ${epoch}, batch ${(k % perEpoch) + 1}) got extras ${JSON.stringify(extras[k])}, the docs say ${JSON.stringify(want)}`)
  }
  return { ok: true }
}
