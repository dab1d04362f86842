/**
 * Laws of the compiled step (`compileStep`): it computes what `update` + `applyUpdates` compute,
 * leaves non-donated inputs alone, disposes donated ones, and leaks nothing.
 */
import { type AnyTransformation, type Backend, type Params, Tensor, applyUpdates, compileStep, dispose, readTree, tree } from '../../src/index.js'
import type { Tree } from '../../src/index.js'
import { type Tolerance, allClose } from '../allclose.js'
import type { SequenceInput } from '../arbitraries.js'
import { type HostTree, toDevice, toHost } from '../host.js'
import { sameData } from './snapshot.js'
import type { LawResult } from './transform.js'

const fail = (message: string): LawResult => ({ ok: false, path: '', index: -1, actual: NaN, expected: NaN, message })

const tensorsOf = (x: unknown): Tensor[] => tree.leaves(x as Tree<unknown>).filter((t): t is Tensor => t instanceof Tensor)

/**
 * The tolerance the compiled step meets against `update` + `applyUpdates`: bit for bit on a
 * backend whose fused kernels round exactly where the unfused chain stores (`fusesExactly`: cpu,
 * which evaluates in float64 and rounds at the unfused stores, and wasm, where every value is a
 * float32), else `tol` (gpu.js devices may contract or reorder operations). The
 * same computation gives NaN in the same places, so NaN matches NaN (and nothing else).
 */
export const compiledTolerance: (backend: Backend, tol: Tolerance) => Tolerance = (backend, tol) => (backend.fusesExactly ? { rtol: 0, atol: 0, nanEqual: true } : { ...tol, nanEqual: true })

/**
 * The compiled step equals the unfused one: over the gradient sequence, `compileStep(t)` (with
 * `donate`) gives the params `update` + `applyUpdates` give, step for step, and the same final
 * state (compared as data: tensors within the tolerance, numbers exactly), so what a run saves and
 * resumes from is the same either way. After every call the
 * donated inputs are disposed handles (with `donate`) or live and unchanged (without); at the end,
 * once the results are disposed, the backend holds no more tensors than before.
 */
export const compiledStepMatches = async (t: AnyTransformation, input: SequenceInput, backend: Backend, donate: boolean, tol: Tolerance): Promise<LawResult> => {
  const expected = await unfusedRun(t, input, backend)
  const before = backend.liveCount()
  const step = compileStep(t, { donate })
  let params: Params = toDevice(input.params, backend)
  let state = t.init(params)
  const tolerance = compiledTolerance(backend, tol)
  let result: LawResult = { ok: true }
  try {
    for (let k = 0; k < input.grads.length && result.ok; k++) {
      const g = toDevice(input.grads[k]!, backend)
      const inputs = [...tensorsOf(params), ...tensorsOf(state)]
      const snapshot = donate ? undefined : await readTree([params, state] as unknown as Tree<unknown>)
      const [p2, s2] = step(params, g, state)
      dispose(g)
      const kept = new Set(tensorsOf([p2, s2]))
      if (donate) {
        const alive = inputs.find((x) => !kept.has(x) && backend.isLive(x))
        if (alive) result = fail(`step ${k}: donated ${alive} is still live`)
      } else {
        const dead = inputs.find((x) => !backend.isLive(x))
        if (dead) result = fail(`step ${k}: non-donated ${dead} was disposed`)
        else {
          const after = await readTree([params, state] as unknown as Tree<unknown>)
          result = sameData(after, snapshot, { rtol: 0, atol: 0, nanEqual: true }, `step ${k}: a non-donated input changed at`)
          dispose([params, state], [p2, s2])
        }
      }
      params = p2
      state = s2
      if (result.ok) {
        const c = allClose(await toHost(params), expected.params[k]!, tolerance)
        if (!c.ok) result = { ...c, message: `step ${k}: compiled params differ from update + applyUpdates: ${c.message}` }
      }
    }
    if (result.ok) result = sameData(await readTree(state as unknown as Tree<unknown>), expected.state, tolerance, 'compiled state vs update state at')
  } finally {
    dispose([params, state])
  }
  if (result.ok && backend.liveCount() !== before) result = fail(`the compiled step leaked ${backend.liveCount() - before} tensors`)
  return result
}

/** `update` + `applyUpdates` over the sequence: the params after each step and the final state, on the host. */
const unfusedRun = async (t: AnyTransformation, input: SequenceInput, backend: Backend): Promise<{ params: HostTree[]; state: unknown }> => {
  let params: Params = toDevice(input.params, backend)
  let state = t.init(params)
  const trajectory: HostTree[] = []
  try {
    for (const gh of input.grads) {
      const g = toDevice(gh, backend)
      const [u, next] = t.update(g, state, params)
      const p2 = applyUpdates(params, u)
      dispose([u, state, params, g], [next, p2])
      params = p2
      state = next
      trajectory.push(await toHost(params))
    }
    return { params: trajectory, state: await readTree(state as unknown as Tree<unknown>) }
  } finally {
    dispose([params, state])
  }
}
