/**
 * Batch normalization and folding it into the preceding dense layer for inference.
 *
 * References: seed 000_33f4fbf331723dec.txt ("Batch Normalization"); seed 001_6e8604431cc2cba1.txt
 * (ŷ = γx̂ + β); seed 002_22903fbb3df79e4c.txt (folding: W' = W/√(σ² + ε), b' = β + (b − μ)/√(σ² + ε),
 * here corrected to include γ); Ioffe & Szegedy 2015, Algorithm 1; Keras `BatchNormalization`.
 */
import { checkShape, ranges, validate } from '../core/validate.js'
import { HyperparameterError, ShapeError } from '../errors.js'
import { cpu } from '../tensor/cpu.js'
import { elementwise, mul, scope, sumTo } from '../tensor/ops.js'
import { type Backend, type Tensor, defineElementwise } from '../tensor/tensor.js'
import type { DenseParams } from './dense.js'
import { type Layer, checkInput, lazyInputGradient } from './layer.js'

/** Learned scale and shift, one per feature. */
export type BatchNormParams = {
  readonly gamma: Tensor
  readonly beta: Tensor
}

/** Running statistics used at evaluation. */
export type BatchNormState = {
  readonly mean: Tensor
  readonly variance: Tensor
}

/** Options of `batchNorm`. */
export interface BatchNormOptions {
  /** Running averages: m ← momentum·m + (1 − momentum)·batch statistic. Default 0.99. */
  readonly momentum?: number
  /** ε in √(σ² + ε). Default 1e-3. */
  readonly eps?: number
}

const scaleOp = defineElementwise({ name: 'bnScale', inputs: ['s'], scalars: ['inv'], outputs: ['s * inv'] })
const centeredOp = defineElementwise({ name: 'bnCenter', inputs: ['x', 'mu'], outputs: ['x - mu'] })
const squareOp = defineElementwise({ name: 'bnSquare', inputs: ['d'], outputs: ['d * d'] })
const invStdOp = defineElementwise({ name: 'bnInvStd', inputs: ['v'], scalars: ['eps'], outputs: ['1 / Math.sqrt(v + eps)'] })
const normalizeOp = defineElementwise({
  name: 'bnNormalize',
  inputs: ['x', 'mu', 'inv', 'gamma', 'beta'],
  lets: [['xhat', '(x - mu) * inv']],
  outputs: ['xhat', 'gamma * xhat + beta'],
})
const runningOp = defineElementwise({ name: 'bnRunning', inputs: ['r', 'b'], scalars: ['m'], outputs: ['m * r + (1 - m) * b'] })
const bnBackwardOp = defineElementwise({
  name: 'bnBackward',
  inputs: ['dy', 'xhat', 'gamma', 'inv', 'sumDy', 'sumDyXhat'],
  scalars: ['invM'],
  outputs: ['gamma * inv * (dy - invM * sumDy - xhat * invM * sumDyXhat)'],
})
const evalBackwardOp = defineElementwise({ name: 'bnEvalBackward', inputs: ['dy', 'gamma', 'inv'], outputs: ['dy * gamma * inv'] })

/**
 * Batch normalization over the batch axis, per feature. Training: μ_B = mean(x), σ²_B = mean((x − μ_B)²)
 * (biased), x̂ = (x − μ_B)/√(σ²_B + ε), y = γx̂ + β, and the running statistics move towards μ_B and
 * σ²_B with `momentum`. Evaluation: x̂ uses the running statistics. Backward (training):
 * ∂x = γ/√(σ² + ε) · (∂y − mean(∂y) − x̂ · mean(∂y·x̂)) (on the first read of `dx`), ∂γ = Σ ∂y·x̂,
 * ∂β = Σ ∂y.
 *
 * Defaults: momentum = 0.99, eps = 1e-3 (Keras'). γ starts at 1, β at 0, the running mean at 0 and
 * the running variance at 1. Inputs are [batch, features].
 * Reference: Ioffe & Szegedy 2015, Algorithm 1; seed 000_33f4fbf331723dec.txt, "Batch Normalization".
 *
 * @example
 * ```ts
 * sequential([dense(256), batchNorm(), relu()])
 * ```
 */
export const batchNorm = (options: BatchNormOptions = {}): Layer<BatchNormParams, BatchNormState> => {
  const { momentum, eps } = validate('batchNorm', { momentum: ranges.unitIntervalClosed, eps: ranges.positive }, options, { momentum: 0.99, eps: 1e-3 })
  const name = 'batchNorm'
  const layer: Layer<BatchNormParams, BatchNormState> = {
    name,
    init: (_key, inputShape, backend?: Backend) => {
      if (!Array.isArray(inputShape) || inputShape.length !== 1) throw new HyperparameterError(name, 'inputShape', inputShape, 'a shape [features]')
      checkShape(name, 'inputShape', inputShape)
      const f = inputShape[0]!
      const fill = (v: number) => (backend ?? cpu).fill([f], v)
      return { params: Object.freeze({ gamma: fill(1), beta: fill(0) }), state: Object.freeze({ mean: fill(0), variance: fill(1) }), outputShape: inputShape }
    },
    apply: (params, state, x, { training }) => {
      const f = params.gamma.shape[0]!
      checkInput(name, x, [f])
      const m = x.shape[0]!
      if (!training) {
        const inv = elementwise(invStdOp, [state.variance], [eps], name)[0]!
        const [xhat, y] = elementwise(normalizeOp, [x, state.mean, inv, params.gamma, params.beta], [], name)
        return {
          y: y!,
          state,
          backward: (dy) =>
            lazyInputGradient(
              Object.freeze({ gamma: scope(() => sumTo(mul(dy, xhat!, name), [f])), beta: sumTo(dy, [f]) }),
              () => elementwise(evalBackwardOp, [dy, params.gamma, inv], [], name)[0]!,
            ),
        }
      }
      if (m < 1) throw new ShapeError(name, 'a training batch needs at least one row')
      const mu = scope(() => elementwise(scaleOp, [sumTo(x, [f], name)], [1 / m], name)[0]!)
      const variance = scope(() => elementwise(scaleOp, [sumTo(elementwise(squareOp, [elementwise(centeredOp, [x, mu], [], name)[0]!], [], name)[0]!, [f], name)], [1 / m], name)[0]!)
      const inv = elementwise(invStdOp, [variance], [eps], name)[0]!
      const [xhat, y] = elementwise(normalizeOp, [x, mu, inv, params.gamma, params.beta], [], name)
      const next = Object.freeze({
        mean: elementwise(runningOp, [state.mean, mu], [momentum], name)[0]!,
        variance: elementwise(runningOp, [state.variance, variance], [momentum], name)[0]!,
      })
      return {
        y: y!,
        state: next,
        backward: (dy) => {
          const sumDy = sumTo(dy, [f], name)
          const sumDyXhat = scope(() => sumTo(mul(dy, xhat!, name), [f], name))
          return lazyInputGradient(Object.freeze({ gamma: sumDyXhat, beta: sumDy }), () =>
            elementwise(bnBackwardOp, [dy, xhat!, params.gamma, inv, sumDy, sumDyXhat], [1 / m], name)[0]!,
          )
        },
      }
    },
  }
  return Object.freeze(layer)
}

const foldOp = defineElementwise({
  name: 'foldBatchNorm',
  inputs: ['w', 'gamma', 'variance'],
  scalars: ['eps'],
  outputs: ['w * (gamma / Math.sqrt(variance + eps))'],
})
const foldBiasOp = defineElementwise({
  name: 'foldBatchNormBias',
  inputs: ['b', 'gamma', 'beta', 'mean', 'variance'],
  scalars: ['eps'],
  outputs: ['(b - mean) * (gamma / Math.sqrt(variance + eps)) + beta'],
})

/**
 * Folds an evaluation-mode batch norm into the dense layer before it: with s = γ/√(σ² + ε),
 * W' = W·s (per output column) and b' = (b − μ)·s + β, so dense(W', b') equals batchNorm ∘ dense(W, b)
 * at evaluation. Seed 002's formula omits γ (it is the case γ = 1).
 *
 * Reference: seed 002_22903fbb3df79e4c.txt ("mix the BatchNorm layer with its previous layer").
 *
 * @example
 * ```ts
 * const d = dense(4).init(key(0), [3])
 * const bn = batchNorm().init(key(1), [4])
 * const folded = foldBatchNorm(d.params, bn.params, bn.state) // one dense layer for inference
 * ```
 */
export const foldBatchNorm = (dense: DenseParams, bn: BatchNormParams, stats: BatchNormState, options: { readonly eps?: number } = {}): DenseParams => {
  const { eps } = validate('foldBatchNorm', { eps: ranges.positive }, options, { eps: 1e-3 })
  return Object.freeze({
    kernel: elementwise(foldOp, [dense.kernel, bn.gamma, stats.variance], [eps], 'kernel')[0]!,
    bias: elementwise(foldBiasOp, [dense.bias, bn.gamma, bn.beta, stats.mean, stats.variance], [eps], 'bias')[0]!,
  })
}
