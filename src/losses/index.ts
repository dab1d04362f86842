/**
 * Losses with their gradients. Each takes predictions (or logits) and targets of one shape
 * [batch, ...] and returns the mean loss (a tensor of shape []) and ∂loss/∂predictions.
 *
 * References: seed 004_fdd4da4bfe9ce189.txt ("Regularization": the multiclass SVM loss); the CS231n
 * notes, "Linear classification" (multiclass SVM and softmax losses); Huber 1964; Keras `losses`.
 */
import { ranges, validate } from '../core/validate.js'
import { HyperparameterError, ShapeError } from '../errors.js'
import { elementwise, maxTo, mul, scope, sum, sumTo } from '../tensor/ops.js'
import { type Tensor, checkOperands, defineElementwise } from '../tensor/tensor.js'

/** A loss value and its gradient with respect to the predictions. */
export interface LossResult {
  /** The mean loss, shape []. */
  readonly loss: Tensor
  /** ∂loss/∂predictions, the predictions' shape. */
  readonly grad: Tensor
}

/** A loss function. */
export type Loss = (predictions: Tensor, targets: Tensor) => LossResult

const meanOp = defineElementwise({ name: 'lossMean', inputs: ['s'], scalars: ['inv'], outputs: ['s * inv'] })

/**
 * Elementwise loss ℓ(p, y) and its derivative, averaged over all elements. Each ℓ is scaled by 1/N
 * before the sum, so the mean is finite whenever every ℓ is (a sum of N values of 1e38 is not).
 */
const elementwiseLoss = (name: string, lossExpr: string, gradExpr: string, scalars: readonly string[] = []) => {
  const op = defineElementwise({ name, inputs: ['p', 'y'], scalars: [...scalars, 'inv'], outputs: [`(${lossExpr}) * inv`, `(${gradExpr}) * inv`] })
  return (values: readonly number[]): Loss =>
    (p, y) => {
      checkOperands([p, y], name)
      return scope(() => {
        const inv = p.size === 0 ? 0 : 1 / p.size
        const [l, g] = elementwise(op, [p, y], [...values, inv], name)
        return { loss: sum(l!), grad: g! }
      })
    }
}

/**
 * Mean squared error: mean((p − y)²); ∂ = 2(p − y)/N.
 *
 * @example
 * ```ts
 * const { loss, grad } = meanSquaredError(fromArray([1, 2], [2, 1]), fromArray([0, 2], [2, 1]))
 * // loss = ((1 − 0)² + 0²)/2 = 0.5, grad = [[1], [0]]
 * ```
 */
export const meanSquaredError: Loss = elementwiseLoss('meanSquaredError', '(p - y) * (p - y)', '2 * (p - y)')([])

/** Mean absolute error: mean(|p − y|); ∂ = sign(p − y)/N. */
export const meanAbsoluteError: Loss = elementwiseLoss('meanAbsoluteError', 'Math.abs(p - y)', 'Math.sign(p - y)')([])

/**
 * Huber: ½r² for |r| ≤ δ, δ(|r| − ½δ) beyond, r = p − y; ∂ = r or δ·sign(r), averaged.
 *
 * Defaults: delta = 1. Reference: Huber 1964; Keras `Huber`.
 */
export const huber = (options: { readonly delta?: number } = {}): Loss => {
  const { delta } = validate('huber', { delta: ranges.positive }, options, { delta: 1 })
  return huberWith([delta])
}

// one kernel for every huber(...): δ is a scalar argument, so no call defines a new op
const huberWith = elementwiseLoss(
  'huber',
  'Math.abs(p - y) <= delta ? 0.5 * (p - y) * (p - y) : delta * (Math.abs(p - y) - 0.5 * delta)',
  'Math.abs(p - y) <= delta ? p - y : delta * Math.sign(p - y)',
  ['delta'],
)

/**
 * Binary cross-entropy from logits x and targets y ∈ [0, 1]:
 * max(x, 0) − xy + log(1 + e^(−|x|)) (stable), averaged; ∂ = (σ(x) − y)/N.
 */
export const binaryCrossEntropyFromLogits: Loss = elementwiseLoss(
  'binaryCrossEntropyFromLogits',
  'Math.max(p, 0) - p * y + Math.log(1 + Math.exp(-Math.abs(p)))',
  '1 / (1 + Math.exp(-p)) - y',
)([])

/**
 * Hinge loss for labels y ∈ {−1, +1}: mean(max(0, 1 − y·p)); ∂ = −y·[1 − yp > 0]/N.
 *
 * Reference: the two-class form of seed 004_fdd4da4bfe9ce189.txt's multiclass SVM loss; Keras `Hinge`.
 */
export const hinge: Loss = elementwiseLoss('hinge', 'Math.max(0, 1 - y * p)', '1 - y * p > 0 ? -y : 0')([])

const check2d = (name: string, logits: Tensor, labels: Tensor) => {
  checkOperands([logits, labels], name)
  if (logits.shape.length !== 2) throw new ShapeError(name, `expected logits [batch, classes], got [${logits.shape.join(', ')}]`)
}

const shiftOp = defineElementwise({ name: 'softmaxShift', inputs: ['x', 'm'], outputs: ['Math.exp(x - m)'] })
const ceOp = defineElementwise({
  name: 'softmaxCrossEntropy',
  inputs: ['x', 'y', 'm', 'z'],
  scalars: ['invB'],
  // per element: y·(log Σeᶻ − (x − m)), and 0 where y = 0 (0·log 0 = 0: in float32 x − m is −∞ once
  // the logits spread over more than 3.4e38); gradient (softmax − y)/B
  outputs: ['y === 0 ? 0 : y * (Math.log(z) - (x - m))', '(Math.exp(x - m) / z - y) * invB'],
})

/**
 * Softmax cross-entropy of logits [B, C] against one-hot (or probability) targets [B, C]:
 * mean over the batch of −Σ_c y_c log softmax(x)_c, computed with the row maximum subtracted;
 * ∂ = (softmax(x) − y)/B. For integer labels use `oneHot(labels, classes)`.
 *
 * Reference: CS231n, "Linear classification" ("Softmax classifier"); Keras `CategoricalCrossentropy(from_logits=True)`.
 *
 * @example
 * ```ts
 * const logits = zeros([3, 10])
 * const { loss, grad } = softmaxCrossEntropy(logits, oneHot([3, 1, 4], 10, logits.backend)) // loss = ln 10
 * ```
 */
export const softmaxCrossEntropy: Loss = (logits, labels) => {
  check2d('softmaxCrossEntropy', logits, labels)
  const [b] = logits.shape as [number, number]
  return scope(() => {
    const m = maxTo(logits, [b, 1])
    const z = sumTo(elementwise(shiftOp, [logits, m])[0]!, [b, 1])
    const [l, g] = elementwise(ceOp, [logits, labels, m, z], [1 / b], 'softmaxCrossEntropy')
    return { loss: elementwise(meanOp, [sum(l!)], [1 / b])[0]!, grad: g! }
  })
}

const marginOp = defineElementwise({
  name: 'multiclassHinge',
  inputs: ['s', 'y', 'sy'],
  lets: [['margin', 's - sy + 1']],
  // the loss of each wrong class, and the indicator that its margin is violated
  outputs: ['y > 0 ? 0 : Math.max(0, margin)', 'y > 0 ? 0 : (margin > 0 ? 1 : 0)'],
})
const hingeGradOp = defineElementwise({ name: 'multiclassHingeGrad', inputs: ['ind', 'y', 'count'], scalars: ['invB'], outputs: ['(ind - y * count) * invB'] })

/**
 * Multiclass hinge (SVM) loss with one-hot targets: L_i = Σ_{j≠yᵢ} max(0, s_j − s_{yᵢ} + 1),
 * averaged over the batch; ∂s_j = [margin_j > 0] for j ≠ yᵢ and −Σ_j [margin_j > 0] for yᵢ, over B.
 *
 * Reference: seed 004_fdd4da4bfe9ce189.txt ("Regularization": L = (1/N) Σᵢ Σ_{j≠yᵢ} max(0, f_j − f_{yᵢ} + 1) + λR(W));
 * CS231n, "Linear classification". Keras `CategoricalHinge` differs (only the largest wrong score).
 */
export const multiclassHinge: Loss = (scores, labels) => {
  check2d('multiclassHinge', scores, labels)
  const [b] = scores.shape as [number, number]
  return scope(() => {
    const sy = sumTo(mul(scores, labels), [b, 1])
    const [l, ind] = elementwise(marginOp, [scores, labels, sy], [], 'multiclassHinge')
    const count = sumTo(ind!, [b, 1])
    return { loss: elementwise(meanOp, [sum(l!)], [1 / b])[0]!, grad: elementwise(hingeGradOp, [ind!, labels, count], [1 / b], 'multiclassHinge')[0]! }
  })
}

/** Validates integer labels for `oneHot`. */
export const checkLabels = (labels: ArrayLike<number>, classes: number): void => {
  if (!Number.isInteger(classes) || classes < 1) throw new HyperparameterError('oneHot', 'classes', classes, 'an integer ≥ 1')
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!
    if (!Number.isInteger(l) || l < 0 || l >= classes) throw new HyperparameterError('oneHot', `labels[${i}]`, l, `an integer in [0, ${classes})`)
  }
}
