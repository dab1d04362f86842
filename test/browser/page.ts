/**
 * The browser test's page: the real library, bundled for the browser, runs one Adam trajectory on
 * each backend asked for and a save / load round trip in the middle of it, and hands the numbers
 * back to Node, which checks them (test/browser.test.ts).
 */
import { type Backend, type OptimizerState, type Tensor, UnsupportedError, adam, applyUpdates, cpu, dispose, fromArray, liveTensors, loadState, mul, readTree, saveState, scope, sub } from '../../src/index.js'
import { createGpuBackend } from '../../src/gpu.js'
import type { BackendResult, BrowserTestApi, Trajectory, TrajectoryRequest } from './protocol.js'

type Leaves = Record<string, Tensor>

const upload = (values: Readonly<Record<string, readonly number[]>>, request: TrajectoryRequest, backend: Backend): Leaves =>
  Object.fromEntries(Object.entries(values).map(([name, v]) => [name, fromArray(v, request.leaves[name]!.shape, backend)]))

const hostValues = async (params: Leaves): Promise<Record<string, number[]>> => {
  const host = (await readTree(params)) as Record<string, Float32Array>
  return Object.fromEntries(Object.entries(host).map(([name, v]) => [name, Array.from(v)]))
}

const runOn = async (backend: Backend, request: TrajectoryRequest): Promise<Omit<Extract<BackendResult, { ran: true }>, 'backend' | 'ran' | 'ms'>> => {
  const liveBefore = liveTensors(backend)
  const entries = Object.entries(request.leaves)
  const curvature = upload(Object.fromEntries(entries.map(([n, l]) => [n, l.curvature])), request, backend)
  const centre = upload(Object.fromEntries(entries.map(([n, l]) => [n, l.centre])), request, backend)
  const initial = Object.fromEntries(entries.map(([n, l]) => [n, l.init]))
  const opt = adam({ learningRate: request.learningRate })

  // ∇f(θ) = a ⊙ (θ − c); params and state are replaced each step and the old ones released.
  const step = (params: Leaves, state: OptimizerState): [Leaves, OptimizerState] => {
    const [next, nextState] = scope(() => {
      const grads = Object.fromEntries(Object.entries(params).map(([n, p]) => [n, mul(curvature[n]!, sub(p, centre[n]!))]))
      const [updates, s] = opt.update(grads, state, params)
      return [applyUpdates(params, updates) as Leaves, s] as const
    })
    dispose([params, state], [next, nextState])
    return [next, nextState]
  }
  const advance = async (params: Leaves, state: OptimizerState, from: number, to: number, out: Record<string, number[]>[]) => {
    for (let k = from; k < to; k++) {
      ;[params, state] = step(params, state)
      out.push(await hostValues(params))
    }
    return [params, state] as const
  }

  const trajectory: Record<string, number[]>[] = []
  {
    const params = upload(initial, request, backend)
    const [p, s] = await advance(params, opt.init(params), 0, request.steps, trajectory)
    dispose([p, s])
  }

  const resumed: Record<string, number[]>[] = []
  let saved: string
  let resaved: string
  {
    const params = upload(initial, request, backend)
    const [p, s] = await advance(params, opt.init(params), 0, request.saveAt, [])
    // what a page would keep in localStorage: the state's JSON and the parameters' values
    saved = JSON.stringify(await saveState(opt, s))
    const savedParams = await hostValues(p)
    dispose([p, s])
    const loaded = loadState(opt, JSON.parse(saved), backend)
    resaved = JSON.stringify(await saveState(opt, loaded))
    const [p2, s2] = await advance(upload(savedParams, request, backend), loaded, request.saveAt, request.steps, resumed)
    dispose([p2, s2])
  }
  dispose([curvature, centre])
  return { trajectory: trajectory as Trajectory, resumed: resumed as Trajectory, saved, resaved, liveBefore, liveAfter: liveTensors(backend) }
}

const run = async (request: TrajectoryRequest): Promise<BackendResult[]> => {
  const results: BackendResult[] = []
  for (const name of request.backends) {
    const started = performance.now()
    let backend: Backend
    try {
      backend = name === 'cpu' ? cpu : await createGpuBackend({ mode: name as 'webgl2' | 'webgpu' | 'webasm' })
    } catch (e) {
      results.push({ backend: name, ran: false, unsupported: e instanceof UnsupportedError, why: e instanceof Error ? e.message : String(e) })
      continue
    }
    try {
      results.push({ backend: name, ran: true, ...(await runOn(backend, request)), ms: performance.now() - started })
    } catch (e) {
      results.push({ backend: name, ran: false, unsupported: false, why: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) })
    } finally {
      if (backend !== cpu) await backend.destroy()
    }
  }
  return results
}

const api: BrowserTestApi = { run }
;(globalThis as { fluxionBrowserTest?: BrowserTestApi }).fluxionBrowserTest = api
