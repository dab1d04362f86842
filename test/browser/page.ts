/**
 * The browser test's page: the real library, bundled for the browser, runs one Adam trajectory on
 * each backend asked for and a save / load round trip in the middle of it, one `applyIfFinite(adam)`
 * step with a NaN gradient, and (on gpu backends) more new kernels than the kernel cache holds, and
 * hands the numbers back to Node, which checks them (test/browser.test.ts).
 */
import { type Backend, type OptimizerState, type Tensor, UnsupportedError, adam, applyIfFinite, applyUpdates, cpu, createWasmBackend, dispose, fromArray, full, liveTensors, loadState, mul, read, readTree, saveState, scope, sub, tree } from '../../src/index.js'
import { createGpuBackend } from '../../src/gpu.js'
import { kernelCacheStats } from '../../src/tensor/gpu.js'
import type { BackendResult, BrowserTestApi, KernelCacheCheck, SkippedStep, Trajectory, TrajectoryRequest } from './protocol.js'

type Leaves = Record<string, Tensor>

const upload = (values: Readonly<Record<string, readonly number[]>>, request: TrajectoryRequest, backend: Backend): Leaves =>
  Object.fromEntries(Object.entries(values).map(([name, v]) => [name, fromArray(v, request.leaves[name]!.shape, backend)]))

const hostValues = async (params: Leaves): Promise<Record<string, number[]>> => {
  const host = (await readTree(params)) as Record<string, Float32Array>
  return Object.fromEntries(Object.entries(host).map(([name, v]) => [name, Array.from(v)]))
}

/** Every tensor of a tree, read back and flattened in leaf order. */
const tensorValues = async (x: unknown): Promise<number[]> =>
  tree.leaves((await readTree(x)) as tree.Tree<unknown>).flatMap((v) => (v instanceof Float32Array ? Array.from(v) : []))

// one finite applyIfFinite(adam) step, then one with a NaN gradient entry
const skippedStep = async (backend: Backend): Promise<SkippedStep> => {
  const opt = applyIfFinite(adam({ learningRate: 0.1 }))
  const probe = fromArray([1], [1], backend)
  const readSync = backend.readSync?.(probe) !== undefined
  const params = { w: fromArray([1, -2, 0.5], [3], backend) }
  const s0 = opt.init(params)
  const [u1, s1] = scope(() => opt.update({ w: fromArray([0.5, 1, -1], [3], backend) }, s0, params))
  const [u2, s2] = scope(() => opt.update({ w: fromArray([0.5, Number.NaN, -1], [3], backend) }, s1, params))
  const count = (s: typeof s0) => (s.inner[0] as { readonly count: number }).count
  const result: SkippedStep = {
    readSync,
    countBefore: count(s1),
    countAfter: count(s2),
    totalNotfinite: (await read(s2.totalNotfinite))[0]!,
    updates: await tensorValues(u2),
    innerBefore: await tensorValues(s1.inner),
    innerAfter: await tensorValues(s2.inner),
  }
  dispose([probe, params, s0, u1, s1, u2, s2])
  return result
}

// more new kernels than the cache holds while an output of an evicted kernel stays live
const kernelCacheCheck = async (backend: Backend): Promise<KernelCacheCheck> => {
  const stats = () => kernelCacheStats(backend)!
  const { capacity } = stats()
  const n = 3 * capacity + 1 // a size nothing else on the page uses
  const xs = Array.from({ length: n }, (_, i) => (i % 9) - 4)
  const kept = scope(() => {
    const x = fromArray(xs, [n], backend)
    return mul(x, x)
  })
  let maxCached = stats().cached
  for (let i = 1; i <= capacity + 10; i++) {
    dispose(full([n + i], i, backend))
    maxCached = Math.max(maxCached, stats().cached)
  }
  const waitingWhileLive = stats().waiting
  const readBack = Array.from(await read(kept))
  const sync = backend.readSync?.(kept)
  dispose(kept)
  for (let i = 0; i < 200 && stats().waiting > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  return {
    capacity,
    maxCached,
    waitingWhileLive,
    waitingAfter: stats().waiting,
    expected: xs.map((v) => v * v),
    read: readBack,
    readSync: sync ? Array.from(sync) : null,
  }
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
  const skipped = await skippedStep(backend)
  const kernelCache = kernelCacheStats(backend) === undefined ? undefined : await kernelCacheCheck(backend)
  return { trajectory: trajectory as Trajectory, resumed: resumed as Trajectory, saved, resaved, liveBefore, liveAfter: liveTensors(backend), skipped, kernelCache }
}

const run = async (request: TrajectoryRequest): Promise<BackendResult[]> => {
  const results: BackendResult[] = []
  for (const name of request.backends) {
    const started = performance.now()
    let backend: Backend
    try {
      backend = name === 'cpu' ? cpu : name === 'wasm' ? createWasmBackend() : await createGpuBackend({ mode: name as 'webgl2' | 'webgpu' | 'webasm' })
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
