/**
 * `fit`: wires a model, a loss, an optimizer, mini-batches, validation, early stopping and progress
 * reporting into a training loop; `evaluate` computes loss and accuracy in batches.
 */
import { applyUpdates } from '../core/base.js'
import type { GradientTransformation, Params } from '../core/types.js'
import { ownOptions, ranges, validate } from '../core/validate.js'
import { type HostMatrix, epochBatches, takeRows, toTensor } from '../data/index.js'
import { HyperparameterError } from '../errors.js'
import type { Layer } from '../layers/layer.js'
import type { Loss } from '../losses/index.js'
import { cpu } from '../tensor/cpu.js'
import { add, dispose, keep, read, scaleTensor, scope } from '../tensor/ops.js'
import { type Key, foldIn } from '../tensor/random.js'
import type { Backend, Tensor } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import { earlyStoppingMonitor } from './earlyStopping.js'

/** A labelled data set: inputs and targets (one-hot for classification), row by row. */
export interface LabelledData {
  readonly x: HostMatrix
  readonly y: HostMatrix
}

/** One epoch's report. */
export interface EpochReport {
  readonly epoch: number
  readonly trainLoss: number
  readonly validationLoss?: number
  readonly validationAccuracy?: number
  readonly improved?: boolean
}

/** Options of `fit`. */
export interface FitOptions<P extends Params, MS, S> {
  readonly model: Layer<P, MS>
  readonly loss: Loss
  readonly optimizer: GradientTransformation<S>
  readonly train: LabelledData
  readonly validation?: LabelledData
  readonly epochs: number
  readonly batchSize: number
  readonly key: Key
  readonly backend?: Backend
  /** Early stopping on the validation loss, evaluated every epoch (needs `validation`). */
  readonly earlyStopping?: { readonly patience: number; readonly minDelta?: number; readonly baseline?: number; readonly startStep?: number }
  /** Called after every batch (for progress bars) and every epoch. */
  readonly onBatch?: (epoch: number, batch: number, batches: number) => void
  readonly onEpoch?: (report: EpochReport) => void
  /** Initial params and state (default: `model.init(key, [features])`). */
  readonly initial?: { readonly params: P; readonly state: MS }
}

/** What `fit` returns. */
export interface FitResult<P, MS> {
  /** The params to use: the best ones when early stopping restored them, else the last. */
  readonly params: P
  readonly state: MS
  readonly history: readonly EpochReport[]
  /** The epoch of the returned params (1-based), and the epoch training stopped at. */
  readonly bestEpoch: number
  readonly stoppedEpoch: number
}

const addTrees = (a: Params, b: Params): Params => tree.zipWith(([x, y]: readonly [Tensor, Tensor], path) => add(x, y, path))(a, b)

/** Loss and accuracy (argmax of the outputs against argmax of the targets) over a data set, in batches. */
export const evaluate = async <P extends Params, MS>(
  model: Layer<P, MS>,
  params: P,
  state: MS,
  data: LabelledData,
  loss: Loss,
  options: { readonly batchSize?: number; readonly backend?: Backend } = {},
): Promise<{ readonly loss: number; readonly accuracy: number }> => {
  ownOptions('evaluate', options, ['batchSize', 'backend'])
  const { backend = cpu } = options
  const { batchSize } = validate('evaluate', { batchSize: ranges.positiveInteger }, { batchSize: options.batchSize ?? 1000 })
  // a mean over no rows is 0/0: refuse it rather than return NaN
  if (data.x.rows === 0) throw new HyperparameterError('evaluate', 'data', `${data.x.rows} rows`, 'at least one row')
  let total = 0
  let correct = 0
  for (let s = 0; s < data.x.rows; s += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, data.x.rows - s) }, (_, i) => s + i)
    const [l, out] = scope(() => {
      const x = toTensor(takeRows(data.x, idx), backend)
      const y = toTensor(takeRows(data.y, idx), backend)
      const o = model.apply(params, state, x, { training: false })
      return [loss(o.y, y).loss, o.y] as const
    })
    const [lv, ov] = await Promise.all([read(l), read(out)])
    dispose([l, out])
    total += lv[0]! * idx.length
    const c = data.y.cols
    for (let r = 0; r < idx.length; r++) {
      let best = 0
      for (let j = 1; j < c; j++) if (ov[r * c + j]! > ov[r * c + best]!) best = j
      if (data.y.data[(s + r) * c + best] === 1) correct++
    }
  }
  return { loss: total / data.x.rows, accuracy: correct / data.x.rows }
}

/**
 * Trains `model` with mini-batches reshuffled every epoch (keyed), applying `optimizer` to the
 * gradients of `loss` plus the model's regularization. With `validation`, evaluates loss and
 * accuracy every epoch; with `earlyStopping`, stops after `patience` epochs without improvement and
 * returns the best params (θ*, as in seed 000's meta-algorithm). The optimizer's `update` receives
 * `{ value }` once per epoch, with the first batch of each epoch from the second on: the previous
 * epoch's validation loss (its training loss without a validation set), so `reduceOnPlateau` in
 * the optimizer works per epoch, as Keras' `ReduceLROnPlateau` on `val_loss` does. Empty training
 * or validation data is refused (a mean over no rows is NaN).
 *
 * @example
 * ```ts
 * // two classes: is x₀ > x₁? (one-hot targets)
 * const data = (seed: number, n: number) => {
 *   const x = hostMatrix(uniformValues(key(seed), 2 * n), n, 2)
 *   const y = hostMatrix(Array.from({ length: n }, (_, i) => (x.data[2 * i]! > x.data[2 * i + 1]! ? [1, 0] : [0, 1])).flat(), n, 2)
 *   return { x, y }
 * }
 * const model = sequential([dense(16), relu(), dense(2)])
 * const result = await fit({ model, loss: softmaxCrossEntropy, optimizer: adamw({ learningRate: 1e-2 }),
 *   train: data(1, 400), validation: data(2, 100), epochs: 20, batchSize: 32, key: key(0), earlyStopping: { patience: 3 } })
 * ```
 */
const fitOptionNames = ['model', 'loss', 'optimizer', 'train', 'validation', 'epochs', 'batchSize', 'key', 'backend', 'earlyStopping', 'onBatch', 'onEpoch', 'initial']

const checkFitOptions = (options: unknown): void => {
  if (options === undefined) throw new HyperparameterError('fit', 'options', options, 'the options object { model, loss, optimizer, train, epochs, batchSize, key, ... }')
  const o = ownOptions('fit', options, fitOptionNames)
  const is = (field: string, ok: boolean, expected: string) => {
    if (!ok) throw new HyperparameterError('fit', field, o[field], expected)
  }
  const has = (x: unknown, ...fns: string[]) => typeof x === 'object' && x !== null && fns.every((f) => typeof (x as Record<string, unknown>)[f] === 'function')
  is('model', has(o.model, 'init', 'apply'), 'a layer { init, apply }')
  is('loss', typeof o.loss === 'function', 'a loss (prediction, target) => { loss, grad }')
  is('optimizer', has(o.optimizer, 'init', 'update'), 'a GradientTransformation { init, update }')
  for (const f of ['onBatch', 'onEpoch'] as const) is(f, o[f] === undefined || typeof o[f] === 'function', 'a function')
}

export const fit = async <P extends Params, MS, S>(options: FitOptions<P, MS, S>): Promise<FitResult<P, MS>> => {
  checkFitOptions(options)
  const { epochs, batchSize } = validate('fit', { epochs: ranges.positiveInteger, batchSize: ranges.positiveInteger }, { epochs: options.epochs, batchSize: options.batchSize })
  const { model, loss, optimizer, train, validation, key, backend = cpu } = options
  if (options.earlyStopping && !validation) throw new HyperparameterError('fit', 'earlyStopping', options.earlyStopping, 'a validation set as well')
  if (train.x.rows === 0) throw new HyperparameterError('fit', 'train', `${train.x.rows} rows`, 'at least one row')
  if (validation && validation.x.rows === 0) throw new HyperparameterError('fit', 'validation', `${validation.x.rows} rows`, 'at least one row')
  const monitor = options.earlyStopping ? earlyStoppingMonitor(options.earlyStopping) : undefined
  const init = options.initial ?? model.init(foldIn(key, 0), [train.x.cols], backend)
  const userOwned = options.initial ? [init.params, init.state] : []
  let params = init.params
  let state = init.state
  let optState: S | undefined
  let lossSum: Tensor | undefined
  let best: { params: P; state: MS; epoch: number } | undefined
  try {
    optState = optimizer.init(params)
    const history: EpochReport[] = []
    let stoppedEpoch = epochs
    // the loss the optimizer watches (reduceOnPlateau): last epoch's validation loss, else its
    // training loss, passed as { value } with the first batch of the next epoch
    let watched: number | undefined
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const batches = epochBatches(foldIn(key, 1), epoch, train.x.rows, batchSize)
      lossSum = keep(backend.fill([], 0))
      for (let b = 0; b < batches.length; b++) {
        const idx = batches[b]!
        const [p2, s2, o2, l2] = scope(() => {
          const x = toTensor(takeRows(train.x, idx), backend)
          const y = toTensor(takeRows(train.y, idx), backend)
          const out = model.apply(params, state, x, { training: true, key: foldIn(foldIn(key, 2 + epoch), b) })
          const { loss: l, grad } = loss(out.y, y)
          let { dparams } = out.backward(grad)
          const reg = model.regularization?.(params)
          if (reg) dparams = addTrees(dparams, reg.grads) as P
          const [u, nextOpt] = optimizer.update(dparams, optState as S, params, b === 0 && watched !== undefined ? { value: watched } : undefined)
          const scaled = add(lossSum!, scaleTensor(l, idx.length))
          return [applyUpdates(params, u), out.state, nextOpt, scaled] as const
        })
        dispose([params, state, optState, lossSum], [p2, s2, o2, l2, best?.params, best?.state, ...userOwned].filter((x) => x !== undefined))
        params = p2
        state = s2
        optState = o2
        lossSum = l2
        options.onBatch?.(epoch, b + 1, batches.length)
      }
      const trainLoss = (await read(lossSum))[0]! / train.x.rows
      dispose(lossSum)
      let report: EpochReport = { epoch, trainLoss }
      watched = trainLoss
      if (validation) {
        const v = await evaluate(model, params, state, validation, loss, { backend })
        watched = v.loss
        report = { ...report, validationLoss: v.loss, validationAccuracy: v.accuracy }
        if (monitor) {
          const { improved, stop } = monitor.observe(epoch, v.loss)
          report = { ...report, improved }
          if (improved) {
            if (best) dispose([best.params, best.state], [params, state])
            best = { params, state, epoch }
          }
          history.push(report)
          options.onEpoch?.(report)
          if (stop) {
            stoppedEpoch = epoch
            break
          }
          continue
        }
      }
      history.push(report)
      options.onEpoch?.(report)
    }
    dispose(optState, params, state)
    if (best && best.params !== params) {
      dispose([params, state], [best.params, best.state])
      return { params: best.params, state: best.state, history, bestEpoch: best.epoch, stoppedEpoch }
    }
    return { params, state, history, bestEpoch: best?.epoch ?? stoppedEpoch, stoppedEpoch }
  } catch (e) {
    // a throwing loss, callback or optimizer: release what fit owns (never the caller's `initial`)
    dispose([params, state, optState, lossSum, best?.params, best?.state], userOwned)
    throw e
  }
}
