/**
 * Activation layers: sigmoid, tanh, relu, leakyRelu, elu, softplus. Each is elementwise; the
 * backward pass multiplies ∂y by the derivative, computed from x (or y).
 *
 * References: seed 004_fdd4da4bfe9ce189.txt ("Once again: nonlinearities"); seed 003_3f666a11de5b95b1.txt
 * (ReLU against vanishing gradients); seed 002_22903fbb3df79e4c.txt (ELU).
 */
import { ranges, validate } from '../core/validate.js'
import { elementwise } from '../tensor/ops.js'
import { type ElementwiseOp, defineElementwise } from '../tensor/tensor.js'
import type { Layer } from './layer.js'

type Empty = Readonly<Record<string, never>>
const empty: Empty = Object.freeze({})

const activation = (name: string, forward: ElementwiseOp, backward: ElementwiseOp, scalars: readonly number[] = []): Layer<Empty, Empty> => {
  const layer: Layer<Empty, Empty> = {
    name,
    init: (_key, inputShape) => ({ params: empty, state: empty, outputShape: inputShape }),
    apply: (params, state, x) => {
      const [y] = elementwise(forward, [x], scalars, name)
      return { y: y!, state, backward: (dy) => ({ dx: elementwise(backward, [dy, x, y!], scalars, name)[0]!, dparams: params }) }
    },
  }
  return Object.freeze(layer)
}

const op = (name: string, inputs: string[], out: string, scalars: string[] = []) => defineElementwise({ name, inputs, scalars, outputs: [out] })

/**
 * σ(x) = 1/(1 + e^(−x)); σ' = σ(1 − σ).
 *
 * @example
 * ```ts
 * sequential([dense(10, { kernelInitializer: glorotUniform({ gain: 4 }) }), sigmoid()])
 * ```
 */
export const sigmoid = () =>
  activation('sigmoid', op('sigmoid', ['x'], '1 / (1 + Math.exp(-x))'), op('sigmoidGrad', ['dy', 'x', 'y'], 'dy * y * (1 - y)'))

/** tanh(x); tanh' = 1 − tanh². */
export const tanh = () =>
  activation(
    'tanh',
    // tanh via e^(−2|x|), which never overflows
    op('tanh', ['x'], '(x < 0 ? -1 : 1) * (1 - Math.exp(-2 * Math.abs(x))) / (1 + Math.exp(-2 * Math.abs(x)))'),
    op('tanhGrad', ['dy', 'x', 'y'], 'dy * (1 - y * y)'),
  )

/** max(0, x); derivative 1 for x > 0, else 0. */
export const relu = () => activation('relu', op('relu', ['x'], 'x > 0 ? x : 0'), op('reluGrad', ['dy', 'x', 'y'], 'x > 0 ? dy : 0'))

/**
 * x for x > 0, αx otherwise.
 *
 * Defaults: alpha = 0.01.
 */
export const leakyRelu = (options: { readonly alpha?: number } = {}) => {
  const { alpha } = validate('leakyRelu', { alpha: ranges.nonNegative }, options, { alpha: 0.01 })
  return activation('leakyRelu', op('leakyRelu', ['x'], 'x > 0 ? x : alpha * x', ['alpha']), op('leakyReluGrad', ['dy', 'x', 'y'], 'x > 0 ? dy : alpha * dy', ['alpha']), [alpha])
}

/**
 * x for x > 0, α(eˣ − 1) otherwise; derivative α eˣ there.
 *
 * Defaults: alpha = 1. Reference: Clevert et al. 2016.
 */
export const elu = (options: { readonly alpha?: number } = {}) => {
  const { alpha } = validate('elu', { alpha: ranges.nonNegative }, options, { alpha: 1 })
  return activation('elu', op('elu', ['x'], 'x > 0 ? x : alpha * (Math.exp(x) - 1)', ['alpha']), op('eluGrad', ['dy', 'x', 'y'], 'x > 0 ? dy : dy * alpha * Math.exp(x)', ['alpha']), [alpha])
}

/** log(1 + eˣ), computed as max(x, 0) + log(1 + e^(−|x|)); derivative σ(x). */
export const softplus = () =>
  activation('softplus', op('softplus', ['x'], 'Math.max(x, 0) + Math.log(1 + Math.exp(-Math.abs(x)))'), op('softplusGrad', ['dy', 'x', 'y'], 'dy / (1 + Math.exp(-x))'))
