// Type-checked by test/consumer.test.ts against the packed tarball with skipLibCheck: false, under
// moduleResolution node16 and bundler: what a strict TypeScript consumer writes, without casts.
import { type Params, type Tensor, applyUpdates, chain, clipByGlobalNorm, cpu, fromArray, loadState, readTree, saveState, scaleByAdam, scaleByLearningRate, tree } from 'fluxion'
import { type GpuMode, createGpuBackend } from 'fluxion/gpu'
import { type Tolerance, allClose, float32Tolerance, sequenceArb } from 'fluxion/laws'

export const check = async (): Promise<boolean> => {
  const params: Params = { w: fromArray([1, 2, 3], [3]) }
  const opt = chain(clipByGlobalNorm(1), scaleByAdam({ b1: 0.9 }), scaleByLearningRate(0.01))
  const state = opt.init(params)
  const leaves: unknown[] = tree.leaves(state)
  const [updates, next] = opt.update(params, state, params)
  const moved = applyUpdates(params, updates)
  const host = await readTree(next)
  const mu: tree.Tree<Float32Array> = host[1].mu
  const count: number = host[1].count
  const tol: Tolerance = float32Tolerance
  const saved = await saveState(opt, next)
  const again = loadState(opt, JSON.parse(JSON.stringify(saved)), cpu)
  const w: Tensor[] = tree.leaves(moved).filter((x): x is Tensor => x instanceof Object)
  const mode: GpuMode = 'webasm'
  const make: typeof createGpuBackend = createGpuBackend
  return leaves.length === 4 && allClose(await readTree(again), host, tol).ok && w.length === 1 && count === 1 && mu !== undefined && mode === 'webasm' && typeof make === 'function' && sequenceArb() !== undefined
}
