// Run by test/consumer.test.ts inside a fresh project where only the packed tarball (and fast-check,
// for fluxion/laws) is installed: plain JavaScript, no TypeScript, no bundler, no test framework.
import { adam, applyUpdates, chain, clipByGlobalNorm, compileStep, cpu, dispose, fromArray, loadState, readTree, saveState, scope, tree, warmupCosineDecay } from 'fluxion'
import { allClose, reference } from 'fluxion/laws'
import { loadCheckpoint, saveCheckpoint } from 'fluxion/node'

// f(θ) = ½‖θ‖², ∇f = θ; 100 steps of a chain with a schedule, checkpointed and restored at step 50.
const learningRate = warmupCosineDecay({ peak: 0.1, warmupSteps: 10, decaySteps: 100 })
const opt = chain(clipByGlobalNorm(1), adam({ learningRate }))
const run = async (steps, restoreAt) => {
  let params = { w: fromArray([1, -2, 3, -4], [2, 2]), b: fromArray([0.5]) }
  let state = opt.init(params)
  for (let k = 0; k < steps; k++) {
    if (k === restoreAt) {
      const json = JSON.parse(JSON.stringify(await saveState(opt, state)))
      const loaded = loadState(opt, json, cpu)
      dispose(state)
      state = loaded
    }
    const [next, nextState] = scope(() => {
      const [updates, s] = opt.update(params, state, params)
      return [applyUpdates(params, updates), s]
    })
    dispose([params, state], [next, nextState])
    params = next
    state = nextState
  }
  const host = await readTree(params)
  dispose([params, state])
  return host
}
const straight = await run(100, -1)
const restored = await run(100, 50)
const same = allClose(restored, straight, { rtol: 0, atol: 0 })

// the same 100 steps through the compiled step, donating params and state: bit-exact on the cpu
const compiledRun = async () => {
  const step = compileStep(opt, { donate: true })
  let params = { w: fromArray([1, -2, 3, -4], [2, 2]), b: fromArray([0.5]) }
  let state = opt.init(params)
  for (let k = 0; k < 100; k++) [params, state] = step(params, params, state)
  const host = await readTree(params)
  dispose([params, state])
  return host
}
const compiledExact = allClose(await compiledRun(), straight, { rtol: 0, atol: 0 }).ok

// a checkpoint file written and read back through fluxion/node
const ckptParams = { w: fromArray([1, 2], [2]) }
const ckptState = opt.init(ckptParams)
await saveCheckpoint('checkpoints/run.json', { params: ckptParams, state: ckptState, step: 7, transform: opt })
const loaded = await loadCheckpoint('checkpoints/run.json', opt)
const checkpointOk = loaded?.step === 7 && allClose(await readTree(loaded.params), await readTree(ckptParams), { rtol: 0, atol: 0 }).ok
dispose([ckptParams, ckptState, loaded?.params, loaded?.state])
let gpuError = ''
try {
  const { createGpuBackend } = await import('fluxion/gpu')
  await createGpuBackend({ mode: 'webasm' })
} catch (e) {
  gpuError = `${e.name}: ${e.message}`
}
// fluxion/tfjs without its optional peer: Node's own error names the package to install
let tfjsError = ''
try {
  await import('fluxion/tfjs')
} catch (e) {
  tfjsError = `${e.code}: ${e.message}`
}
console.log(JSON.stringify({
  leaves: tree.leaves(straight).map((x) => Array.from(x)),
  roundTripExact: same.ok,
  compiledExact,
  checkpointOk,
  referenceExported: typeof reference,
  gpuError,
  tfjsError,
}))
