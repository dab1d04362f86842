/**
 * Layers and losses: gradCheck of every layer (parameters and input) and every loss on every
 * backend, and the lectures' laws of batch norm, folding, dropout and zero initialization.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type Layer,
  type Loss,
  type Params,
  type Tensor,
  batchNorm,
  binaryCrossEntropyFromLogits,
  defineElementwise,
  dense,
  dispose,
  dropout,
  elementwise,
  elu,
  foldBatchNorm,
  fromArray,
  gaussianNoise,
  gradCheck,
  hinge,
  huber,
  key,
  l1l2,
  leakyRelu,
  meanAbsoluteError,
  meanSquaredError,
  multiclassHinge,
  noisyDense,
  oneHot,
  read,
  readTree,
  relu,
  scope,
  sequential,
  sgd,
  sigmoid,
  softmaxCrossEntropy,
  softplus,
  sum,
  tanh,
  zerosInit,
  applyUpdates,
} from '../src/index.js'
import { allClose } from '../laws/allclose.js'
import { propertyParameters } from '../laws/runners.js'
import { backends } from './backends.js'

const mulOp = defineElementwise({ name: 'projection', inputs: ['y', 'r'], outputs: ['y * r'] })

/** Values in ±[0.1, 2] (away from activation kinks at 0). */
const awayFromZero = (seed: number, n: number) => Array.from({ length: n }, (_, i) => {
  const v = Math.sin(seed * 7.1 + i * 1.37) * 2
  return Math.fround(Math.abs(v) < 0.1 ? 0.1 * Math.sign(v || 1) : v)
})

// Each case: a layer, the input shape, training mode.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const layerCases: [string, Layer<any, any>, number, boolean][] = [
  ['dense', dense(3), 4, false],
  ['dense with regularizers', dense(3, { kernelRegularizer: l1l2({ l1: 0.01, l2: 0.1 }), biasRegularizer: l1l2({ l2: 0.1 }) }), 4, false],
  ['noisyDense (training)', noisyDense(3, { stddev: 0.1 }), 4, true],
  ['sigmoid', sigmoid(), 4, false],
  ['tanh', tanh(), 4, false],
  ['relu', relu(), 4, false],
  ['leakyRelu', leakyRelu({ alpha: 0.1 }), 4, false],
  ['elu', elu(), 4, false],
  ['softplus', softplus(), 4, false],
  ['dropout (training)', dropout(0.3), 4, true],
  ['gaussianNoise (training)', gaussianNoise(0.5), 4, true],
  ['batchNorm (training)', batchNorm(), 4, true],
  ['batchNorm (evaluation)', batchNorm(), 4, false],
  ['sequential', sequential([dense(5), batchNorm(), tanh(), dropout(0.2), dense(2)]), 4, true],
  // ∂x through the backward passes deferred until dx is read
  ['sequential with input dropout', sequential([dropout(0.2), elu(), dense(5), batchNorm(), tanh(), dense(2)]), 4, true],
  ['nested sequentials', sequential([sequential([gaussianNoise(0.1), softplus()]), sequential([dense(5), sigmoid()]), dropout(0.2), dense(2)]), 4, true],
]

describe.each(backends)('gradCheck on $name', (backend) => {
  it.each(layerCases)('%s: backward equals finite differences for params and input', async (_n, layer, features, training) => {
    const batch = 3
    const { params, state, outputShape } = layer.init(key(1), [features], backend)
    const x = fromArray(awayFromZero(2, batch * features), [batch, features], backend)
    const r = fromArray(awayFromZero(3, batch * outputShape.reduce((a, b) => a * b, 1)), [batch, ...outputShape], backend)
    const all = { params, x } as Params
    const apply = (p: { params: Params; x: Tensor }) => layer.apply(p.params, state, p.x, { training, key: key(4) })
    // L = Σ r ⊙ y (+ the layer's regularization)
    const loss = (p: Params) =>
      scope(() => {
        const q = p as { params: Params; x: Tensor }
        const l = sum(elementwise(mulOp, [apply(q).y, r])[0]!)
        const reg = layer.regularization?.(q.params)
        return reg ? elementwise(defineElementwise({ name: 'addReg', inputs: ['a', 'b'], outputs: ['a + b'] }), [l, reg.loss])[0]! : l
      })
    const gradient = (p: Params) =>
      scope(() => {
        const q = p as { params: Params; x: Tensor }
        const out = apply(q).backward(r)
        const reg = layer.regularization?.(q.params)
        const dparams = reg ? applyUpdates(out.dparams, reg.grads) : out.dparams
        return { params: dparams, x: out.dx } as Params
      })
    const result = await gradCheck(loss, gradient, all)
    expect(result.checked).toBeGreaterThan(0)
    expect(result.maxRelativeError, JSON.stringify(result.worst)).toBeLessThan(2e-2)
    dispose([all, r, state])
  })

  const lossCases: [string, Loss, (b: number, c: number) => number[]][] = [
    ['meanSquaredError', meanSquaredError, (b, c) => awayFromZero(5, b * c)],
    ['meanAbsoluteError', meanAbsoluteError, (b, c) => awayFromZero(5, b * c).map((v) => v + 5)],
    ['huber', huber({ delta: 1 }), (b, c) => awayFromZero(5, b * c).map((v, i) => v + (i % 2 ? 3 : 0))],
    ['binaryCrossEntropyFromLogits', binaryCrossEntropyFromLogits, (b, c) => Array.from({ length: b * c }, (_, i) => (i % 3 === 0 ? 1 : 0))],
    ['hinge', hinge, (b, c) => Array.from({ length: b * c }, (_, i) => (i % 2 ? 1 : -1))],
    ['softmaxCrossEntropy', softmaxCrossEntropy, (b, c) => Array.from({ length: b * c }, (_, i) => (i % c === (Math.floor(i / c) * 2) % c ? 1 : 0))],
    ['multiclassHinge', multiclassHinge, (b, c) => Array.from({ length: b * c }, (_, i) => (i % c === Math.floor(i / c) % c ? 1 : 0))],
  ]
  it.each(lossCases)('%s: gradient equals finite differences', async (name, loss, targets) => {
    const [b, c] = [3, 4]
    // predictions spread out so no margin or |residual| lies within h of a kink
    const p = { p: fromArray(Array.from({ length: b * c }, (_, i) => Math.fround(((i * 7) % 12) / 4 - 1.37)), [b, c], backend) }
    const y = fromArray(targets(b, c), [b, c], backend)
    const result = await gradCheck((q) => loss((q as typeof p).p, y).loss, (q) => scope(() => ({ p: loss((q as typeof p).p, y).grad })), p, { h: 1e-2 })
    expect(result.maxRelativeError, `${name}: ${JSON.stringify(result.worst)}`).toBeLessThan(2e-2)
    dispose([p, y])
  })
})

describe.each(backends)('layer laws on $name', (backend) => {
  it('batch norm in training gives per-feature mean ≈ 0 and variance ≈ 1 (γ = 1, β = 0)', () =>
    fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 16 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 1000 }), async (batch, features, seed) => {
        const layer = batchNorm({ eps: 1e-5 })
        const { params, state } = layer.init(key(0), [features], backend)
        const raw = Array.from({ length: batch * features }, (_, i) => Math.fround(Math.sin(seed + i * 2.3) * 5 + (i % features)))
        const x = fromArray(raw, [batch, features], backend)
        const y = await read(layer.apply(params, state, x, { training: true }).y)
        for (let f = 0; f < features; f++) {
          const col = Array.from({ length: batch }, (_, r) => y[r * features + f]!)
          const xcol = Array.from({ length: batch }, (_, r) => raw[r * features + f]!)
          const m = col.reduce((a, b) => a + b, 0) / batch
          const v = col.reduce((a, b) => a + (b - m) ** 2, 0) / batch
          const xv = xcol.reduce((a, b) => a + (b - xcol.reduce((s, t) => s + t, 0) / batch) ** 2, 0) / batch
          expect(Math.abs(m)).toBeLessThan(1e-4)
          // variance σ²/(σ² + ε): ≈ 1 unless the column is (nearly) constant
          expect(Math.abs(v - xv / (xv + 1e-5))).toBeLessThan(1e-3)
        }
        dispose([params, state, x])
      }),
      propertyParameters(15),
    ))

  it('folded batch norm equals the unfolded dense + batch norm pair at evaluation (seed 002, with γ)', async () => {
    const pair = sequential([dense(5), batchNorm()])
    const { params, state } = pair.init(key(3), [4], backend)
    // train a few steps so the running statistics and γ, β are not trivial
    let p = params
    let s = state
    const opt = sgd({ learningRate: 0.1 })
    let o = opt.init(p)
    for (let i = 0; i < 5; i++) {
      const x = fromArray(awayFromZero(i, 24).map((v, j) => v * (1 + (j % 4))), [6, 4], backend)
      const [p2, s2, o2] = scope(() => {
        const out = pair.apply(p, s, x, { training: true })
        const [u, on] = opt.update(out.backward(out.y).dparams, o, p)
        return [applyUpdates(p, u), out.state, on] as const
      })
      dispose([p, s, o, x], [p2, s2, o2])
      p = p2
      s = s2
      o = o2
    }
    const x = fromArray(awayFromZero(9, 12), [3, 4], backend)
    const unfolded = await read(pair.apply(p, s, x, { training: false }).y)
    const denseP = p[0] as never
    const bnP = p[1] as never
    const bnS = s[1] as never
    const folded = foldBatchNorm(denseP, bnP, bnS)
    const single = await read(dense(5).apply(folded, {}, x, { training: false }).y)
    const c = allClose(single, unfolded, { rtol: 1e-4, atol: 1e-5 })
    expect(c.ok, c.ok ? '' : c.message).toBe(true)
  })

  it('dropout keeps the expectation in training and is the identity at evaluation', async () => {
    const n = 20000
    const x = fromArray(new Array(n).fill(2), [1, n], backend)
    const layer = dropout(0.3)
    const y = await read(layer.apply({}, {}, x, { training: true, key: key(5) }).y)
    const mean = y.reduce((a, b) => a + b, 0) / n
    // E[y] = x; std of the mean ≈ 2·√(0.3/0.7)/√n
    expect(Math.abs(mean - 2)).toBeLessThan(5 * 2 * Math.sqrt(0.3 / 0.7 / n))
    expect(y.filter((v) => v === 0).length / n).toBeGreaterThan(0.28)
    expect(layer.apply({}, {}, x, { training: false }).y).toBe(x)
    expect(gaussianNoise(1).apply({}, {}, x, { training: false }).y).toBe(x)
  })

  it('zero initialization leaves hidden units identical after training (the symmetry problem)', async () => {
    const model = sequential([dense(4, { kernelInitializer: zerosInit() }), tanh(), dense(2, { kernelInitializer: zerosInit() })])
    let { params } = model.init(key(0), [3], backend)
    const opt = sgd({ learningRate: 0.5 })
    let o = opt.init(params)
    for (let i = 0; i < 10; i++) {
      const x = fromArray(awayFromZero(i, 15), [5, 3], backend)
      const t = oneHot([0, 1, 1, 0, 1], 2, backend)
      const [p2, o2] = scope(() => {
        const out = model.apply(params, [{}, {}, {}], x, { training: true })
        const { grad } = softmaxCrossEntropy(out.y, t)
        const [u, on] = opt.update(out.backward(grad).dparams, o, params)
        return [applyUpdates(params, u), on] as const
      })
      dispose([params, o, x, t], [p2, o2])
      params = p2
      o = o2
    }
    const w = (await readTree(params[0] as never)) as { kernel: Float32Array }
    // every column (hidden unit) of the first kernel is the same
    for (let r = 0; r < 3; r++) for (let c = 1; c < 4; c++) expect(w.kernel[r * 4 + c]).toBe(w.kernel[r * 4])
  })
})
