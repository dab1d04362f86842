/**
 * Initializers (sample variance against each formula), data utilities (standardization fitted on
 * the training set, batching), early stopping against a direct transcription of seed 000's
 * meta-algorithm, and fit. The demo's smoke test is in examples.test.ts.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  HyperparameterError,
  type Initializer,
  constantInit,
  dense,
  earlyStopping,
  earlyStoppingMonitor,
  epochBatches,
  fit,
  fitCentering,
  fitStandardizer,
  glorotNormal,
  glorotUniform,
  heNormal,
  heUniform,
  hostMatrix,
  key,
  lecunNormal,
  lecunUniform,
  meanSquaredError,
  normalInit,
  oneHot,
  orthogonal,
  permutation,
  evaluate,
  read,
  sequential,
  sgd,
  takeRows,
  truncatedNormalInit,
  uniformInit,
  varianceScaling,
  zerosInit,
} from '../src/index.js'
import { propertyParameters } from '../laws/runners.js'
import { backends } from './backends.js'
import { caught } from './helpers.js'

const moments = (x: Float32Array) => {
  const m = x.reduce((a, b) => a + b, 0) / x.length
  return { mean: m, variance: x.reduce((a, b) => a + (b - m) ** 2, 0) / x.length }
}

describe.each(backends)('initializers on $name', (backend) => {
  const [fanIn, fanOut] = [300, 200]
  const n = fanIn * fanOut
  // [name, initializer, expected variance] — seed 000 (Glorot σ² = 2/(n_in + n_out), He σ² = 2/n_in),
  // seed 001 (Xavier U[±√(6/(d_{l−1} + d_l))], ×4 for a sigmoid), seed 002 (fans)
  const cases: [string, Initializer, number][] = [
    ['glorotNormal', glorotNormal(), 2 / (fanIn + fanOut)],
    ['glorotUniform', glorotUniform(), 6 / (fanIn + fanOut) / 3],
    ['glorotUniform ×4 (sigmoid)', glorotUniform({ gain: 4 }), (16 * 6) / (fanIn + fanOut) / 3],
    ['heNormal', heNormal(), 2 / fanIn],
    ['heUniform', heUniform(), 2 / fanIn],
    ['lecunNormal', lecunNormal(), 1 / fanIn],
    ['lecunUniform', lecunUniform(), 1 / fanIn],
    ['varianceScaling fanOut truncated', varianceScaling({ scale: 3, mode: 'fanOut' }), 3 / fanOut],
    ['varianceScaling fanAvg uniform', varianceScaling({ scale: 0.5, mode: 'fanAvg', distribution: 'uniform' }), 0.5 / ((fanIn + fanOut) / 2)],
    ['uniformInit', uniformInit({ minval: -1, maxval: 3 }), 16 / 12],
    ['normalInit', normalInit({ mean: 1, stddev: 0.3 }), 0.09],
    ['truncatedNormalInit', truncatedNormalInit({ stddev: 1 }), 0.8796256610342398 ** 2],
    ['orthogonal', orthogonal(), 1 / fanIn],
  ]
  it.each(cases)('%s: sample variance matches its formula', async (_n, init, variance) => {
    const w = await read(init(key(7), [fanIn, fanOut], backend))
    const { variance: v } = moments(w)
    // the sample variance of n draws has relative standard error ≈ √(2/n) (normal) — allow 6 of them
    expect(Math.abs(v / variance - 1)).toBeLessThan(6 * Math.sqrt(2 / n) + 1e-3)
  })

  it('initializers are keyed, reproducible and identical on every backend', async () => {
    for (const init of [glorotNormal(), heUniform(), truncatedNormalInit(), orthogonal()]) {
      const a = await read(init(key(3), [20, 10], backend))
      expect(Array.from(a)).toEqual(Array.from(await read(init(key(3), [20, 10]))))
      expect(Array.from(a)).not.toEqual(Array.from(await read(init(key(4), [20, 10]))))
    }
    expect(Array.from(await read(zerosInit()(key(0), [3], backend)))).toEqual([0, 0, 0])
    expect(Array.from(await read(constantInit(0.5)(key(0), [2], backend)))).toEqual([0.5, 0.5])
    const q = await read(orthogonal()(key(1), [6, 4], backend))
    for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) {
      const dot = Array.from({ length: 6 }, (_, r) => q[r * 4 + a]! * q[r * 4 + b]!).reduce((x, y) => x + y, 0)
      expect(Math.abs(dot - (a === b ? 1 : 0))).toBeLessThan(1e-5)
    }
    expect(caught(() => uniformInit({ minval: 1, maxval: 0 }))).toBeInstanceOf(HyperparameterError)
  })
})

describe('data', () => {
  it('standardization fitted on training data gives mean 0 and variance 1 on it, and the same map elsewhere', () =>
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 999 }), (rows, cols, seed) => {
        const data = Array.from({ length: rows * cols }, (_, i) => Math.fround(Math.sin(seed + i * 1.7) * (1 + (i % cols)) + (i % cols) * 10))
        const m = hostMatrix(data, rows, cols)
        const s = fitStandardizer(m)
        const t = s.transform(m)
        for (let c = 0; c < cols; c++) {
          const col = Float32Array.from({ length: rows }, (_, r) => t.data[r * cols + c]!)
          const { mean, variance } = moments(col)
          expect(Math.abs(mean)).toBeLessThan(1e-5)
          if (s.std[c]! > 1e-3) expect(Math.abs(variance - 1)).toBeLessThan(1e-4)
        }
        const other = hostMatrix(data.map((v) => v + 1), rows, cols)
        const o = s.transform(other)
        o.data.forEach((v, i) => expect(v).toBeCloseTo((data[i]! + 1 - s.mean[i % cols]!) / (s.std[i % cols]! || 1), 3))
        const centered = fitCentering(m).transform(m)
        for (let c = 0; c < cols; c++) expect(Math.abs(moments(Float32Array.from({ length: rows }, (_, r) => centered.data[r * cols + c]!)).mean)).toBeLessThan(1e-4)
        return true
      }),
      propertyParameters(50),
    ))

  it('batches: full, stochastic and mini-batch cover every example once per epoch, reshuffled by epoch', () => {
    for (const size of [1, 7, 30]) {
      const e0 = epochBatches(key(1), 0, 30, size)
      const e1 = epochBatches(key(1), 1, 30, size)
      expect(e0.length).toBe(Math.ceil(30 / size))
      expect([...e0.flatMap((b) => [...b])].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i))
      if (size < 30) expect(e0.flatMap((b) => [...b])).not.toEqual(e1.flatMap((b) => [...b]))
      expect(epochBatches(key(1), 0, 30, size)).toEqual(e0)
    }
    expect(epochBatches(key(1), 0, 30, 7, { dropRemainder: true }).every((b) => b.length === 7)).toBe(true)
    expect(Array.from(takeRows(hostMatrix([1, 2, 3, 4, 5, 6], 3, 2), [2, 0]).data)).toEqual([5, 6, 1, 2])
    expect(caught(() => oneHot([0, 3], 3)).message).toMatch(/labels\[1\] = 3/)
    expect(caught(() => permutation(key(0), -1))).toBeInstanceOf(HyperparameterError)
  })
})

/** A direct, literal transcription of seed 000's meta-algorithm on a scripted validation curve. */
const transcription = (curve: readonly number[], n: number, P: number) => {
  let theta = 0 // θ is the step count here, so θ* identifies the parameters
  let thetaStar = theta
  let i = 0
  let iStar = 0
  let j = 0
  let v = Infinity
  while (j < P) {
    theta = theta + n // update θ running the training algorithm for n steps
    i = i + n
    j = j + 1
    const vPrime = curve[Math.min(i / n - 1, curve.length - 1)]!
    if (vPrime < v) {
      j = 0
      thetaStar = theta
      iStar = i
      v = vPrime
    }
  }
  return { thetaStar, iStar, stopped: i }
}

describe('early stopping (seed 000_33f4fbf331723dec.txt)', () => {
  it('returns the same θ*, i* and stopping step as the transcription on random validation curves', () =>
    fc.assert(
      fc.asyncProperty(fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 6 }), async (curve, n, P) => {
        const expected = transcription(curve, n, P)
        const r = await earlyStopping({ evaluateEvery: n, patience: P }, { initial: 0, train: (t, steps) => t + steps, validationError: (t) => curve[Math.min(t / n - 1, curve.length - 1)]! })
        expect(r.best).toBe(expected.thetaStar)
        expect(r.bestStep).toBe(expected.iStar)
        expect(r.stoppedStep).toBe(expected.stopped)
        // the monitor form agrees
        const monitor = earlyStoppingMonitor({ patience: P })
        let stop = 0
        for (let k = 1; k <= curve.length + P + 1 && !stop; k++) if (monitor.observe(k * n, curve[Math.min(k - 1, curve.length - 1)]!).stop) stop = k * n
        expect(stop).toBe(expected.stopped)
        expect(monitor.bestStep()).toBe(expected.iStar)
        return true
      }),
      propertyParameters(200),
    ))

  it('Keras options: minDelta, baseline and startStep', async () => {
    const curve = [5, 4.95, 4.9, 4.85, 4.8, 4.75]
    const run = (o: object) => earlyStopping({ evaluateEvery: 1, patience: 2, ...o }, { initial: 0, train: (t) => t + 1, validationError: (t) => curve[Math.min(t - 1, curve.length - 1)]! })
    expect((await run({})).bestStep).toBe(6)
    expect((await run({ minDelta: 0.1 })).stoppedStep).toBe(3) // 4.95 and 4.9 are not 0.1 better than 5
    expect((await run({ baseline: 4.7 })).bestStep).toBe(0) // never better than the baseline
    expect((await run({ baseline: 4.7, startStep: 4 })).stoppedStep).toBe(5) // steps 1–3 do not count
    expect(caught(() => earlyStoppingMonitor({ patience: 0 }))).toBeInstanceOf(HyperparameterError)
  })
})

describe('fit', () => {
  it('fits a linear model, returns the best params, and reports every epoch', async () => {
    const rows = 64
    const x = Array.from({ length: rows * 2 }, (_, i) => Math.sin(i * 1.3))
    const y = Array.from({ length: rows }, (_, r) => 3 * x[2 * r]! - 2 * x[2 * r + 1]! + 0.5)
    const data = { x: hostMatrix(x, rows, 2), y: hostMatrix(y, rows, 1) }
    const reports: number[] = []
    const r = await fit({ model: sequential([dense(1)]), loss: meanSquaredError, optimizer: sgd({ learningRate: 0.1, momentum: 0.5 }), train: data, validation: data, epochs: 60, batchSize: 16, key: key(0), earlyStopping: { patience: 5 }, onEpoch: (e) => reports.push(e.epoch) })
    expect(reports.length).toBe(r.stoppedEpoch)
    const k = await read((r.params[0] as { kernel: never }).kernel)
    expect(Math.abs(k[0]! - 3)).toBeLessThan(0.05)
    expect(Math.abs(k[1]! + 2)).toBeLessThan(0.05)
    expect(r.history.at(-1)!.validationLoss!).toBeLessThan(1e-3)
    await expect(evaluate(sequential([dense(1)]), r.params as never, r.state, data, meanSquaredError, { batchSize: 0 })).rejects.toThrow(/batchSize = 0/)
    await expect(fit({ model: sequential([dense(1)]), loss: meanSquaredError, optimizer: sgd({ learningRate: 0.1 }), train: data, epochs: 1, batchSize: 16, key: key(0), earlyStopping: { patience: 1 } })).rejects.toBeInstanceOf(HyperparameterError)
  })
})
