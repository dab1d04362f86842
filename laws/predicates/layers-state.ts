/**
 * Laws of layers against float64 references, state included: the outputs and the state a layer
 * returns over a sequence of steps (training or evaluation, the state threaded from step to step),
 * its backward pass, and the relation of evaluation to training.
 */
import { type AnyLayer, type Backend, type Key, type Params, dispose, fromArray, key, tree } from '../../src/index.js'
import { type Tolerance, allClose, float32Tolerance } from '../allclose.js'
import { HostTensor, type HostTree, toDevice, toHost } from '../host.js'
import type { LawResult } from './transform.js'

/** One call of `apply`: the input [batch, ...inputShape], the mode, and the key of a noise layer. */
export interface LayerStep {
  readonly x: HostTensor
  readonly training: boolean
  readonly key?: Key
}

/** What a reference gives for one step: the output and the state after it. */
export interface LayerStepResult {
  readonly y: HostTensor
  readonly state: HostTree
}

const mode = (s: LayerStep) => (s.training ? 'training' : 'evaluation')
const upload = (h: HostTensor, backend: Backend) => fromArray(Float32Array.from(h.data), h.shape, backend)
const applyOptions = (s: LayerStep) => ({ training: s.training, ...(s.key ? { key: s.key } : {}) })

/** The layer's own init, to check that the host params and state given have its structure. */
const structureProblem = (layer: AnyLayer, inputShape: readonly number[], params: HostTree, state: HostTree, backend: Backend): LawResult | undefined => {
  const init = layer.init(key(0), inputShape, backend)
  const d = tree.firstDifference(init.params, params) ?? tree.firstDifference(init.state, state)
  dispose([init.params, init.state])
  return d ? { ok: false, path: d.path, index: -1, actual: NaN, expected: NaN, message: `the params or state given do not have ${layer.name}'s structure at ${d.path}: ${d.detail}` } : undefined
}

/**
 * Reference, state included: over the steps, each output y and each state the layer returns
 * (batch norm's running statistics) equal the float64 reference's within `tol`; the layer gets
 * the state it returned at the step before, the reference the state it computed itself, so an
 * error in the state shows at the step after too (one and several steps, then evaluation).
 */
export const layerMatchesReference = async (
  layer: AnyLayer,
  inputShape: readonly number[],
  params: HostTree,
  state: HostTree,
  steps: readonly LayerStep[],
  reference: (params: HostTree, state: HostTree, step: LayerStep) => LayerStepResult,
  backend: Backend,
  tol: Tolerance = float32Tolerance,
): Promise<LawResult> => {
  const wrong = structureProblem(layer, inputShape, params, state, backend)
  if (wrong) return wrong
  const p = toDevice(params, backend)
  let s: unknown = toDevice(state, backend)
  const owned: unknown[] = [p, s]
  let expectedState = state
  try {
    for (let k = 0; k < steps.length; k++) {
      const step = steps[k]!
      const x = upload(step.x, backend)
      const out = layer.apply(p, s, x, applyOptions(step))
      owned.push(x, out.y, out.state)
      const expected = reference(params, expectedState, step)
      const y = allClose(await toHost(out.y), expected.y, tol)
      if (!y.ok) return { ...y, message: `step ${k + 1} (${mode(step)}), output y: ${y.message}` }
      const st = allClose(await toHost(out.state as Params), expected.state, tol)
      if (!st.ok) return { ...st, message: `step ${k + 1} (${mode(step)}), state: ${st.message}` }
      s = out.state
      expectedState = expected.state
    }
    return { ok: true }
  } finally {
    dispose(owned)
  }
}

/** What a backward reference gives: ∂L/∂x and ∂L/∂params for the upstream gradient ∂L/∂y. */
export interface LayerGradients {
  readonly dx: HostTensor
  readonly dparams: HostTree
}

/**
 * Backward reference: for an upstream gradient ∂y, the layer's vector-Jacobian product (∂x and
 * ∂params) equals the float64 reference's within `tol`, in the step's mode.
 */
export const layerBackwardMatchesReference = async (
  layer: AnyLayer,
  inputShape: readonly number[],
  params: HostTree,
  state: HostTree,
  step: LayerStep,
  dy: HostTensor,
  reference: (params: HostTree, state: HostTree, step: LayerStep, dy: HostTensor) => LayerGradients,
  backend: Backend,
  tol: Tolerance = float32Tolerance,
): Promise<LawResult> => {
  const wrong = structureProblem(layer, inputShape, params, state, backend)
  if (wrong) return wrong
  const p = toDevice(params, backend)
  const s = toDevice(state, backend)
  const x = upload(step.x, backend)
  const g = upload(dy, backend)
  const owned: unknown[] = [p, s, x, g]
  try {
    const out = layer.apply(p, s, x, applyOptions(step))
    owned.push(out.y, out.state)
    const back = out.backward(g)
    owned.push(back.dx, back.dparams)
    const actual = { dx: await toHost(back.dx), dparams: await toHost(back.dparams) }
    const c = allClose(actual, reference(params, state, step, dy), tol)
    return c.ok ? c : { ...c, message: `backward (${mode(step)}): ${c.message}` }
  } finally {
    dispose(owned)
  }
}

/**
 * Evaluation reproduces training: after one training step on x, evaluating the same x with the
 * state that step returned gives the training output (within `tol`). Holds where evaluation uses
 * what training recorded: batch norm with momentum 0 (the running statistics become the batch's),
 * and every layer without state or noise (dense, the activations).
 */
export const evaluationReproducesTraining = async (
  layer: AnyLayer,
  inputShape: readonly number[],
  params: HostTree,
  state: HostTree,
  x: HostTensor,
  backend: Backend,
  tol: Tolerance = float32Tolerance,
): Promise<LawResult> => {
  const wrong = structureProblem(layer, inputShape, params, state, backend)
  if (wrong) return wrong
  const p = toDevice(params, backend)
  const s = toDevice(state, backend)
  const input = upload(x, backend)
  const owned: unknown[] = [p, s, input]
  try {
    const train = layer.apply(p, s, input, { training: true })
    owned.push(train.y, train.state)
    const evaluation = layer.apply(p, train.state, input, { training: false })
    owned.push(evaluation.y, evaluation.state)
    const c = allClose(await toHost(evaluation.y), await toHost(train.y), tol)
    return c.ok ? c : { ...c, message: `evaluation with the state training returned differs from training: ${c.message}` }
  } finally {
    dispose(owned)
  }
}
