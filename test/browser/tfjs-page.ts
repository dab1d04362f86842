/**
 * The browser test's fluxion/tfjs page: tfjs-backend-webgl holds the variables and computes the
 * gradients of a quadratic, `tfjsOptimizer(adam)` steps them through `minimize`, and fluxion alone
 * (cpu backend, its own gradients) runs the same Adam trajectory as the reference; halfway, the
 * optimizer's weights go through `getWeights` / `setWeights` into a new optimizer. Node compares the
 * numbers (test/browser.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-core/dist/register_all_gradients'
import '@tensorflow/tfjs-backend-webgl'
import { type Tensor, adam, applyUpdates, dispose, fromArray, liveTensors, mul, scope, sub } from '../../src/index.js'
import { tfjsOptimizer } from '../../src/tfjs.js'
import type { TfjsPageResult, TrajectoryRequest } from './protocol.js'

const run = async (request: TrajectoryRequest): Promise<TfjsPageResult> => {
  try {
    if (!(await tf.setBackend('webgl'))) return { ran: false, why: 'tf.setBackend("webgl") failed' }
    await tf.ready()
  } catch (e) {
    return { ran: false, why: e instanceof Error ? e.message : String(e) }
  }
  const names = Object.keys(request.leaves)
  const numTensorsBefore = tf.memory().numTensors
  const liveBefore = liveTensors()

  // through the adapter: variables and gradients on webgl
  const curvature = names.map((n) => tf.tensor(request.leaves[n]!.curvature, [...request.leaves[n]!.shape]))
  const centre = names.map((n) => tf.tensor(request.leaves[n]!.centre, [...request.leaves[n]!.shape]))
  const variables = names.map((n) => tf.tidy(() => tf.variable(tf.tensor(request.leaves[n]!.init, [...request.leaves[n]!.shape]), true, `quadratic/${n}`)))
  const loss = () => tf.tidy(() => tf.mul(0.5, tf.addN(variables.map((v, i) => tf.sum(tf.mul(curvature[i]!, tf.square(tf.sub(v, centre[i]!))))))) as tf.Scalar)
  const values = () => Object.fromEntries(names.map((n, i) => [n, Array.from(variables[i]!.dataSync())]))
  const trajectory: Record<string, number[]>[] = []
  let optimizer = tfjsOptimizer(adam({ learningRate: request.learningRate }))
  for (let k = 0; k < request.steps; k++) {
    if (k === request.saveAt) {
      // what model.save and tf.loadLayersModel do with an optimizer's weights
      const resumed = tfjsOptimizer(adam({ learningRate: request.learningRate }))
      await resumed.setWeights(await optimizer.getWeights())
      optimizer.dispose()
      optimizer = resumed
    }
    optimizer.minimize(loss)
    trajectory.push(values())
  }
  optimizer.dispose()
  tf.dispose([...curvature, ...centre, ...variables])

  // fluxion alone, on its cpu backend: ∇f = a ⊙ (θ − c)
  const a = Object.fromEntries(names.map((n) => [n, fromArray(request.leaves[n]!.curvature, request.leaves[n]!.shape)]))
  const c = Object.fromEntries(names.map((n) => [n, fromArray(request.leaves[n]!.centre, request.leaves[n]!.shape)]))
  const opt = adam({ learningRate: request.learningRate })
  let params: Record<string, Tensor> = Object.fromEntries(names.map((n) => [n, fromArray(request.leaves[n]!.init, request.leaves[n]!.shape)]))
  let state = opt.init(params)
  const reference: Record<string, number[]>[] = []
  for (let k = 0; k < request.steps; k++) {
    const [next, s] = scope(() => {
      const grads = Object.fromEntries(names.map((n) => [n, mul(a[n]!, sub(params[n]!, c[n]!))]))
      const [u, s] = opt.update(grads, state, params)
      return [applyUpdates(params, u) as Record<string, Tensor>, s] as const
    })
    dispose([params, state], [next, s])
    params = next
    state = s
    reference.push(Object.fromEntries(names.map((n) => [n, Array.from(params[n]!.backend.readSync!(params[n]!)!)])))
  }
  dispose([a, c, params, state])
  return {
    ran: true,
    backend: tf.getBackend(),
    float32: tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED'),
    trajectory,
    reference,
    numTensorsBefore,
    numTensorsAfter: tf.memory().numTensors,
    liveBefore,
    liveAfter: liveTensors(),
  }
}

;(globalThis as { fluxionTfjsTest?: { run: typeof run } }).fluxionTfjsTest = { run }
