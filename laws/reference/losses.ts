/**
 * Float64 references of the losses, with their gradients with respect to the predictions (logits,
 * scores). Each takes host tensors of one shape [batch, ...] and returns the mean loss and the
 * gradient. They are written from the textbook formulas; where the textbook form itself overflows
 * in float64 at |logits| of 1e3 and more (e^x), the algebraically equal log-sum-exp form is used,
 * as noted on each.
 */
import { HostTensor } from '../host.js'

/** A loss value (the mean) and ∂loss/∂predictions, in float64. */
export interface LossReference {
  readonly loss: number
  readonly grad: HostTensor
}

const elementwise = (p: HostTensor, y: HostTensor, loss: (p: number, y: number) => number, grad: (p: number, y: number) => number): LossReference => {
  const n = p.data.length
  let total = 0
  const g = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    total += loss(p.data[i]!, y.data[i]!)
    g[i] = grad(p.data[i]!, y.data[i]!) / n
  }
  return { loss: n === 0 ? 0 : total / n, grad: new HostTensor(p.shape, g) }
}

/**
 * Mean squared error: (1/N) Σ (p − y)², ∂ = 2(p − y)/N.
 *
 * Reference: Keras `MeanSquaredError`.
 *
 * @example
 * ```ts
 * reference.meanSquaredErrorReference(new HostTensor([2], [1, 2]), new HostTensor([2], [0, 2])).loss // 0.5
 * ```
 */
export const meanSquaredErrorReference = (p: HostTensor, y: HostTensor): LossReference =>
  elementwise(p, y, (a, b) => (a - b) * (a - b), (a, b) => 2 * (a - b))

/**
 * Mean absolute error: (1/N) Σ |p − y|, ∂ = sign(p − y)/N (0 at p = y).
 *
 * Reference: Keras `MeanAbsoluteError`.
 *
 * @example
 * ```ts
 * reference.meanAbsoluteErrorReference(new HostTensor([2], [1, 2]), new HostTensor([2], [0, 4])).loss // 1.5
 * ```
 */
export const meanAbsoluteErrorReference = (p: HostTensor, y: HostTensor): LossReference =>
  elementwise(p, y, (a, b) => Math.abs(a - b), (a, b) => Math.sign(a - b))

/**
 * Huber loss with r = p − y: ½r² for |r| ≤ δ, δ(|r| − ½δ) beyond; ∂ = r or δ·sign(r), over N.
 *
 * Reference: Huber 1964; Keras `Huber`.
 *
 * @example
 * ```ts
 * reference.huberReference(new HostTensor([2], [0.5, 3]), new HostTensor([2], [0, 0]), 1).loss // (0.125 + 2.5)/2
 * ```
 */
export const huberReference = (p: HostTensor, y: HostTensor, delta: number): LossReference =>
  elementwise(
    p,
    y,
    (a, b) => (Math.abs(a - b) <= delta ? 0.5 * (a - b) ** 2 : delta * (Math.abs(a - b) - 0.5 * delta)),
    (a, b) => (Math.abs(a - b) <= delta ? a - b : delta * Math.sign(a - b)),
  )

/**
 * Binary cross-entropy of logits x against targets y ∈ [0, 1]:
 * −[y log σ(x) + (1 − y) log(1 − σ(x))], written as log(1 + e^(−x)) + (1 − y)x, which equals it
 * and, for x < 0, as log(1 + eˣ) − yx (both are the textbook form with log σ(x) = −log(1 + e^(−x))
 * and log(1 − σ(x)) = −x − log(1 + e^(−x)) substituted; the branch only keeps e^(±x) from
 * overflowing in float64); ∂ = σ(x) − y, over N.
 *
 * Reference: Goodfellow, Bengio & Courville 2016, §6.2.2.3 (sigmoid units, the softplus form);
 * Keras `BinaryCrossentropy(from_logits=True)`.
 *
 * @example
 * ```ts
 * reference.binaryCrossEntropyFromLogitsReference(new HostTensor([1], [0]), new HostTensor([1], [1])).loss // ln 2
 * ```
 */
export const binaryCrossEntropyFromLogitsReference = (x: HostTensor, y: HostTensor): LossReference =>
  elementwise(
    x,
    y,
    (a, b) => (a >= 0 ? Math.log1p(Math.exp(-a)) + (1 - b) * a : Math.log1p(Math.exp(a)) - b * a),
    (a, b) => (a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a))) - b,
  )

/**
 * Hinge loss for labels y ∈ {−1, +1}: (1/N) Σ max(0, 1 − y·p); ∂ = −y where 1 − yp > 0, else 0, over N.
 *
 * Reference: seed 004_fdd4da4bfe9ce189.txt (the SVM loss, two classes); Keras `Hinge`.
 *
 * @example
 * ```ts
 * reference.hingeReference(new HostTensor([2], [0.5, 2]), new HostTensor([2], [1, 1])).loss // 0.25
 * ```
 */
export const hingeReference = (p: HostTensor, y: HostTensor): LossReference =>
  elementwise(p, y, (a, b) => Math.max(0, 1 - b * a), (a, b) => (1 - b * a > 0 ? -b : 0))

const rows = (x: HostTensor): [number, number] => [x.shape[0]!, x.shape[1]!]

/**
 * Softmax cross-entropy of logits [B, C] against probability targets [B, C]:
 * (1/B) Σ_b −Σ_c y_bc log softmax(x_b)_c, with log softmax(x)_c = x_c − M − log Σ_k e^(x_k − M) for the
 * row maximum M (the shift cancels; it keeps e^x finite in float64); a class with y_c = 0 adds
 * nothing (0·log 0 = 0). ∂ = (softmax(x) − y)/B.
 *
 * Reference: CS231n, "Linear classification" (the softmax classifier, "Practical issues: numeric
 * stability"); Keras `CategoricalCrossentropy(from_logits=True)`.
 *
 * @example
 * ```ts
 * reference.softmaxCrossEntropyReference(new HostTensor([1, 2], [0, 0]), new HostTensor([1, 2], [1, 0])).loss // ln 2
 * ```
 */
export const softmaxCrossEntropyReference = (x: HostTensor, y: HostTensor): LossReference => {
  const [b, c] = rows(x)
  const g = new Float64Array(b * c)
  let total = 0
  for (let r = 0; r < b; r++) {
    let max = -Infinity
    for (let k = 0; k < c; k++) max = Math.max(max, x.data[r * c + k]!)
    let z = 0
    for (let k = 0; k < c; k++) z += Math.exp(x.data[r * c + k]! - max)
    for (let k = 0; k < c; k++) {
      const logSoftmax = x.data[r * c + k]! - max - Math.log(z)
      const t = y.data[r * c + k]!
      if (t !== 0) total -= t * logSoftmax
      g[r * c + k] = (Math.exp(logSoftmax) - t) / b
    }
  }
  return { loss: b === 0 ? 0 : total / b, grad: new HostTensor(x.shape, g) }
}

/**
 * Multiclass SVM loss with one-hot targets: L = (1/B) Σᵢ Σ_{j≠yᵢ} max(0, s_j − s_{yᵢ} + 1);
 * ∂s_j = [s_j − s_{yᵢ} + 1 > 0] for j ≠ yᵢ and ∂s_{yᵢ} = −Σ_{j≠yᵢ} [s_j − s_{yᵢ} + 1 > 0], over B.
 *
 * Reference: seed 004_fdd4da4bfe9ce189.txt ("Regularization": L = (1/N) Σᵢ Σ_{j≠yᵢ} max(0, f_j − f_{yᵢ} + 1));
 * CS231n, "Linear classification" (multiclass SVM).
 *
 * @example
 * ```ts
 * reference.multiclassHingeReference(new HostTensor([1, 3], [3, 1, 2.5]), new HostTensor([1, 3], [1, 0, 0])).loss // 0.5
 * ```
 */
export const multiclassHingeReference = (s: HostTensor, y: HostTensor): LossReference => {
  const [b, c] = rows(s)
  const g = new Float64Array(b * c)
  let total = 0
  for (let r = 0; r < b; r++) {
    let label = 0
    for (let k = 0; k < c; k++) if (y.data[r * c + k]! > 0) label = k
    const sy = s.data[r * c + label]!
    for (let k = 0; k < c; k++) {
      if (k === label) continue
      const margin = s.data[r * c + k]! - sy + 1
      if (margin > 0) {
        total += margin
        g[r * c + k]! += 1 / b
        g[r * c + label]! -= 1 / b
      }
    }
  }
  return { loss: b === 0 ? 0 : total / b, grad: new HostTensor(s.shape, g) }
}
