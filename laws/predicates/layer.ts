/**
 * Laws of layers, as predicates over a layer, an input and a backend.
 */
import {
  type AnyLayer,
  type Backend,
  type Params,
  type Tensor,
  applyUpdates,
  defineElementwise,
  dispose,
  elementwise,
  fromArray,
  gradCheck,
  key,
  read,
  scope,
  sum,
} from '../../src/index.js'
import type { LawResult } from './transform.js'

const projectOp = defineElementwise({ name: 'lawProjection', inputs: ['y', 'r'], outputs: ['y * r'] })
const addOp = defineElementwise({ name: 'lawAdd', inputs: ['a', 'b'], outputs: ['a + b'] })


/**
 * Gradients: the layer's backward pass (for its params and its input, plus its regularization)
 * agrees with central finite differences of L = Σ r ⊙ y for a fixed random projection r, within
 * relative error `tol` (entries below 1e-2 in magnitude are compared absolutely: float32 finite
 * differences carry about 1e-4 of noise).
 */
export const gradientsMatch = async (layer: AnyLayer, inputShape: readonly number[], input: readonly number[], projection: readonly number[], training: boolean, backend: Backend, tol = 2e-2): Promise<LawResult> => {
  const batch = input.length / inputShape.reduce((a, b) => a * b, 1)
  const { params, state, outputShape } = layer.init(key(1), inputShape, backend)
  const x = fromArray(input, [batch, ...inputShape], backend)
  const r = fromArray(projection.slice(0, batch * outputShape.reduce((a, b) => a * b, 1)), [batch, ...outputShape], backend)
  const apply = (p: { params: Params; x: Tensor }) => layer.apply(p.params, state, p.x, { training, key: key(4) })
  const loss = (p: Params) =>
    scope(() => {
      const q = p as { params: Params; x: Tensor }
      const l = sum(elementwise(projectOp, [apply(q).y, r])[0]!)
      const reg = layer.regularization?.(q.params)
      return reg ? elementwise(addOp, [l, reg.loss])[0]! : l
    })
  const gradient = (p: Params) =>
    scope(() => {
      const q = p as { params: Params; x: Tensor }
      const out = apply(q).backward(r)
      const reg = layer.regularization?.(q.params)
      return { params: reg ? applyUpdates(out.dparams, reg.grads) : out.dparams, x: out.dx } as Params
    })
  const all = { params, x } as Params
  const result = await gradCheck(loss, gradient, all, { floor: 1e-2 })
  dispose([all, r, state])
  return result.maxRelativeError < tol
    ? { ok: true }
    : { ok: false, path: result.worst.path, index: result.worst.index, actual: result.worst.analytic, expected: result.worst.numeric, message: `gradient at ${result.worst.path}[${result.worst.index}]: backward ${result.worst.analytic} vs finite differences ${result.worst.numeric}` }
}

/** Evaluation identity: the layer returns its input unchanged when not training (dropout, noise). */
export const identityAtEvaluation = async (layer: AnyLayer, inputShape: readonly number[], input: readonly number[], backend: Backend): Promise<LawResult> => {
  const batch = input.length / inputShape.reduce((a, b) => a * b, 1)
  const { params, state } = layer.init(key(1), inputShape, backend)
  const x = fromArray(input, [batch, ...inputShape], backend)
  const y = await read(layer.apply(params, state, x, { training: false }).y)
  const expected = Float32Array.from(input)
  const i = y.findIndex((v, k) => v !== expected[k])
  dispose([x, params, state])
  return i < 0 ? { ok: true } : { ok: false, path: '', index: i, actual: y[i]!, expected: expected[i]!, message: `evaluation changed element ${i}` }
}

/**
 * Expectation: in training, the mean output over many units equals the mean input within `k`
 * standard errors (inverted dropout, zero-mean noise).
 */
export const keepsExpectation = async (layer: AnyLayer, value: number, n: number, standardError: number, backend: Backend, k = 5): Promise<LawResult> => {
  const { params, state } = layer.init(key(1), [n], backend)
  const x = fromArray(new Array(n).fill(value), [1, n], backend)
  const y = await read(layer.apply(params, state, x, { training: true, key: key(9) }).y)
  const mean = y.reduce((a, b) => a + b, 0) / n
  dispose([x, params, state])
  return Math.abs(mean - value) <= k * standardError ? { ok: true } : { ok: false, path: '', index: -1, actual: mean, expected: value, message: `mean ${mean} is more than ${k} standard errors from ${value}` }
}
