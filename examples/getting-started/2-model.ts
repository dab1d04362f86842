import { type SequentialParams, adam, applyUpdates, dense, dispose, epochBatches, evaluate, gradCheck, hostMatrix, key, relu, scope, sequential, softmaxCrossEntropy, takeRows, toTensor, uniformValues } from 'fluxion'

// Points in the square [−1, 1)²; class 1 inside the circle x² + y² < 0.5, class 0 outside
// (targets one-hot). No straight line separates them: the model needs its hidden layer.
const circle = (seed: number, n: number) => {
  const x = hostMatrix(Array.from(uniformValues(key(seed), 2 * n), (u) => 2 * u - 1), n, 2)
  const inside = (i: number) => x.data[2 * i]! ** 2 + x.data[2 * i + 1]! ** 2 < 0.5
  return { x, y: hostMatrix(Array.from({ length: n }, (_, i) => (inside(i) ? [0, 1] : [1, 0])).flat(), n, 2) }
}
const train = circle(1, 800)
const test = circle(2, 400)

// A model is a layer: plain data with pure init and apply; apply returns y and a backward function.
const model = sequential([dense(16), relu(), dense(2)])
let { params, state } = model.init(key(0), [2])

// Check the gradients once: backward(∂L/∂y).dparams against central differences of the loss.
const x8 = toTensor(takeRows(train.x, [0, 1, 2, 3, 4, 5, 6, 7]))
const y8 = toTensor(takeRows(train.y, [0, 1, 2, 3, 4, 5, 6, 7]))
const lossAt = (p: SequentialParams) => model.apply(p, state, x8, { training: false })
const check = await gradCheck(
  (p) => softmaxCrossEntropy(lossAt(p as SequentialParams).y, y8).loss,
  (p) => {
    const out = lossAt(p as SequentialParams)
    return out.backward(softmaxCrossEntropy(out.y, y8).grad).dparams
  },
  params,
  { h: 1e-3 }, // a small step, so that no ReLU input crosses its kink at 0 between θ − h and θ + h
)
console.log(`gradient check: max relative error ${check.maxRelativeError.toExponential(1)} over ${check.checked} entries`)
dispose([x8, y8])

// The training loop `fit` runs for you, written out: forward, loss, backward, optimizer, update.
const opt = adam({ learningRate: 0.02 })
let optState = opt.init(params)
for (let epoch = 0; epoch < 30; epoch++) {
  for (const idx of epochBatches(key(3), epoch, train.x.rows, 32)) {
    const [nextParams, nextState, nextOptState] = scope(() => {
      const out = model.apply(params, state, toTensor(takeRows(train.x, idx)), { training: true })
      const { grad } = softmaxCrossEntropy(out.y, toTensor(takeRows(train.y, idx)))
      const { dparams } = out.backward(grad)
      const [updates, o] = opt.update(dparams, optState, params)
      return [applyUpdates(params, updates), out.state, o] as const
    })
    dispose([params, state, optState], [nextParams, nextState, nextOptState])
    params = nextParams
    state = nextState
    optState = nextOptState
  }
  if (epoch % 10 === 9) {
    const r = await evaluate(model, params, state, train, softmaxCrossEntropy)
    console.log(`epoch ${epoch + 1}: training loss ${r.loss.toFixed(3)}, accuracy ${(100 * r.accuracy).toFixed(1)}%`)
  }
}
const { accuracy } = await evaluate(model, params, state, test, softmaxCrossEntropy)
console.log(`test accuracy ${(100 * accuracy).toFixed(1)}%`)
