/**
 * The README's main job (until the layers land): minimise the ill-conditioned quadratic of seed
 * 003 and Rosenbrock's function with several optimizers and print their progress.
 *
 *   npm run demo                       # cpu backend
 *   npm run demo -- --backend=webasm   # gpu.js WebAssembly
 *   npm run demo -- --backend=webgpu   # gpu.js WebGPU (Dawn; needs a Vulkan driver in Node)
 */
import {
  type AnyTransformation,
  type Backend,
  type Params,
  adam,
  applyUpdates,
  cpu,
  dispose,
  scope,
  sgd,
} from '../src/index.js'
import { createGpuBackend } from '../src/gpu.js'
import { type Objective, illConditionedQuadratic, rosenbrock } from '../laws/problems.js'

const arg = process.argv.find((a) => a.startsWith('--backend='))?.split('=')[1] ?? 'cpu'
const backend: Backend = arg === 'cpu' ? cpu : await createGpuBackend({ mode: arg as 'webasm' | 'webgpu' })

/** The optimizers compared, given a base learning rate for plain SGD. */
const optimizersFor = (lr: number): [string, () => AnyTransformation][] => [
  ['sgd', () => sgd({ learningRate: lr })],
  ['momentum 0.9', () => sgd({ learningRate: lr / 5, momentum: 0.9 })],
  ['nesterov 0.9', () => sgd({ learningRate: lr / 5, momentum: 0.9, nesterov: true })],
  ['adam', () => adam({ learningRate: 0.02 })],
]

const run = async (objective: Objective, lr: number, steps: number, every: number) => {
  const optimizers = optimizersFor(lr)
  console.log(`\n${objective.name} on ${backend.name}: loss every ${every} steps (minimum ${objective.minimum})`)
  console.log(['step'.padStart(6), ...optimizers.map(([n]) => n.padStart(14))].join(' '))
  const runs = optimizers.map(([, make]) => {
    const opt = make()
    const params = objective.init(backend)
    return { opt, params, state: opt.init(params) as unknown }
  })
  const started = performance.now()
  for (let step = 0; step <= steps; step++) {
    if (step % every === 0) {
      const losses = await Promise.all(runs.map((r) => objective.loss(r.params)))
      console.log([String(step).padStart(6), ...losses.map((l) => l.toExponential(3).padStart(14))].join(' '))
    }
    if (step === steps) break
    for (const r of runs) {
      const [params, state] = scope(() => {
        const [u, s] = r.opt.update(objective.gradient(r.params), r.state, r.params)
        return [applyUpdates(r.params, u), s] as const
      })
      dispose([r.params, r.state], [params, state])
      Object.assign(r, { params, state })
    }
  }
  console.log(`(${((performance.now() - started) / 1000).toFixed(2)} s)`)
  for (const r of runs) dispose([r.params as Params, r.state])
}

await run(illConditionedQuadratic(2, 100), 0.004, 300, 30)
await run(rosenbrock(1), 0.001, 3000, 300)
if (backend !== cpu) await backend.destroy()
