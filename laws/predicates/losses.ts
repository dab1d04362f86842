/**
 * Numerical laws of losses, as predicates over a loss, host predictions and targets, and a backend:
 * agreement with a float64 reference (value and gradient), finiteness at extreme but legal inputs,
 * and metamorphic invariances.
 */
import { type Backend, type Loss, dispose, fromArray, read } from '../../src/index.js'
import { type Tolerance, allClose, float32Tolerance } from '../allclose.js'
import { HostTensor } from '../host.js'
import type { LossReference } from '../reference/losses.js'
import type { LawResult } from './transform.js'

/** Predictions (or logits, scores) and targets of one shape. */
export interface LossInput {
  readonly p: HostTensor
  readonly y: HostTensor
}

/** The loss and its gradient, computed on `backend` and read back. */
const evaluateLoss = async (loss: Loss, { p, y }: LossInput, backend: Backend): Promise<{ loss: number; grad: HostTensor }> => {
  const pt = fromArray(Float32Array.from(p.data), p.shape, backend)
  const yt = fromArray(Float32Array.from(y.data), y.shape, backend)
  const r = loss(pt, yt)
  const [l, g] = await Promise.all([read(r.loss), read(r.grad)])
  dispose([pt, yt, r])
  return { loss: l[0]!, grad: new HostTensor(p.shape, g) }
}

/**
 * Reference: the mean loss and its gradient equal the float64 reference's (computed on the same
 * float32-rounded inputs) within `tol`; a finite reference value is never matched by ±∞ or NaN.
 */
export const lossMatchesReference = async (
  loss: Loss,
  input: LossInput,
  reference: (p: HostTensor, y: HostTensor) => LossReference,
  backend: Backend,
  tol: Tolerance = float32Tolerance,
): Promise<LawResult> => {
  const actual = await evaluateLoss(loss, input, backend)
  const expected = reference(input.p.toFloat32(), input.y.toFloat32())
  const c = allClose({ loss: actual.loss, grad: actual.grad }, { loss: expected.loss, grad: expected.grad }, tol)
  return c.ok ? c : { ...c, message: `against the float64 reference: ${c.message}` }
}

/** Finite values: the mean loss and every entry of its gradient are finite numbers. */
export const lossFinite = async (loss: Loss, input: LossInput, backend: Backend): Promise<LawResult> => {
  const { loss: l, grad } = await evaluateLoss(loss, input, backend)
  if (!Number.isFinite(l)) return { ok: false, path: 'loss', index: -1, actual: l, expected: NaN, message: `the loss is ${l}` }
  const i = grad.data.findIndex((v) => !Number.isFinite(v))
  return i < 0 ? { ok: true } : { ok: false, path: 'grad', index: i, actual: grad.data[i]!, expected: NaN, message: `gradient entry ${i} is ${grad.data[i]}` }
}

/**
 * Invariance: two inputs related by a symmetry of the loss give the same loss, and the second's
 * gradient is `gradient` of the first's (the identity for a shift of softmax logits, negation for
 * (p, y) ↦ (y, p) of an even loss of p − y, a permutation for reordered rows), within `tol`.
 */
export const lossInvariant = async (
  loss: Loss,
  a: LossInput,
  b: LossInput,
  gradient: (g: HostTensor) => HostTensor,
  backend: Backend,
  tol: Tolerance = float32Tolerance,
): Promise<LawResult> => {
  const [ra, rb] = [await evaluateLoss(loss, a, backend), await evaluateLoss(loss, b, backend)]
  const c = allClose({ loss: rb.loss, grad: rb.grad }, { loss: ra.loss, grad: gradient(ra.grad) }, tol)
  return c.ok ? c : { ...c, message: `the related input: ${c.message}` }
}
