/**
 * One Adam step (update + apply) at 1e6 and 1e7 parameters, printed as ratios against two baselines
 * measured in the same run:
 *   - `handwritten`: an in-place Float32Array Adam loop (the fastest plain-JS path, no allocation);
 *   - `tfjs-cpu`: @tensorflow/tfjs-core with @tensorflow/tfjs-backend-cpu, `tf.train.adam`.
 * Run by hand: `npm run bench` (add `-- --gpu=webasm` to include the gpu.js WebAssembly backend,
 * `-- --sizes=1e6` to pick sizes). Timings are medians; these machines are noisy.
 */
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { type Backend, type Params, adam, applyUpdates, cpu, dispose, fromArray, read, scope } from '../src/index.js'
import { createGpuBackend } from '../src/gpu.js'

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]))
const sizes = (args.get('sizes') ?? '1e6,1e7').split(',').map(Number)
const gpuMode = args.get('gpu') as 'webasm' | 'webgpu' | undefined
const lr = 1e-3
const b1 = 0.9
const b2 = 0.999
const eps = 1e-8

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const time = async (reps: number, step: () => void | Promise<void>): Promise<number> => {
  await step() // warm-up (compiles loops / kernels)
  const ts: number[] = []
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now()
    await step()
    ts.push(performance.now() - t0)
  }
  return median(ts)
}

const handwritten = (n: number, grad: Float32Array) => {
  const theta = new Float32Array(n)
  const m = new Float32Array(n)
  const v = new Float32Array(n)
  let t = 0
  return () => {
    t++
    const bc1 = 1 - b1 ** t
    const bc2 = 1 - b2 ** t
    for (let i = 0; i < n; i++) {
      const g = grad[i]!
      const mi = (m[i] = b1 * m[i]! + (1 - b1) * g)
      const vi = (v[i] = b2 * v[i]! + (1 - b2) * g * g)
      theta[i] = theta[i]! - (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps)
    }
  }
}

const fluxionStep = (n: number, grad: Float32Array, backend: Backend) => {
  const opt = adam({ learningRate: lr, b1, b2, eps })
  let params: Params = { w: fromArray(new Float32Array(n), [n], backend) }
  let state = opt.init(params)
  const g = { w: fromArray(grad, [n], backend) }
  const step = async () => {
    const [p2, s2] = scope(() => {
      const [u, s] = opt.update(g, state, params)
      return [applyUpdates(params, u), s] as const
    })
    dispose([params, state], [p2, s2])
    params = p2
    state = s2
    if (backend !== cpu) await read((params as { w: never }).w) // wait for queued device work
  }
  return { step, done: () => dispose([params, state, g]) }
}

const tfjsStep = (n: number, grad: Float32Array) => {
  const w = tf.variable(tf.zeros([n]))
  const g = tf.tensor1d(grad)
  const opt = tf.train.adam(lr, b1, b2, eps)
  return {
    step: () => {
      opt.applyGradients([{ name: w.name, tensor: g }])
    },
    done: () => {
      opt.dispose()
      w.dispose()
      g.dispose()
    },
  }
}

await tf.setBackend('cpu')
const gpu = gpuMode ? await createGpuBackend({ mode: gpuMode }) : undefined
console.log(`Adam step (update + apply), median ms; node ${process.version}`)
for (const n of sizes) {
  const grad = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.01)
  const reps = n >= 1e7 ? 5 : 15
  const hand = await time(reps, handwritten(n, grad))
  const fx = fluxionStep(n, grad, cpu)
  const flux = await time(reps, fx.step)
  fx.done()
  const tj = tfjsStep(n, grad)
  const tfjs = await time(n >= 1e7 ? 3 : 7, tj.step)
  tj.done()
  const row = [`n=${n.toExponential(0)}`, `handwritten ${hand.toFixed(1)} ms`, `tfjs-cpu ${tfjs.toFixed(1)} ms`, `fluxion cpu ${flux.toFixed(1)} ms`]
  const ratios = [`fluxion/handwritten ${(flux / hand).toFixed(2)}x`, `fluxion/tfjs-cpu ${(flux / tfjs).toFixed(3)}x`]
  if (gpu) {
    const fg = fluxionStep(n, grad, gpu)
    const g = await time(n >= 1e7 ? 3 : 7, fg.step)
    fg.done()
    row.push(`fluxion ${gpu.name} ${g.toFixed(1)} ms`)
    ratios.push(`${gpu.name}/handwritten ${(g / hand).toFixed(2)}x`)
  }
  console.log(row.join(' | '))
  console.log('  ' + ratios.join(' | '))
}
await gpu?.destroy()
