/**
 * Dense layers: `dense` (y = xW + b) and `noisyDense` (Gaussian noise on the weights while
 * training).
 *
 * References: seed 001_6e8604431cc2cba1.txt and seed 004_fdd4da4bfe9ce189.txt (fully connected
 * layers, initialization); seed 000_33f4fbf331723dec.txt ("noise injection": noise on the weights);
 * Keras `Dense`.
 */
import { checkShape, maxElements, ranges, refinement, validate } from '../core/validate.js'
import { glorotUniform, type Initializer, zerosInit } from '../init/index.js'
import type { Regularizer } from '../regularizers/index.js'
import { add, elementwise, matmul, scope, sumTo } from '../tensor/ops.js'
import { type Key, foldIn, normalValues } from '../tensor/random.js'
import { type Backend, Tensor, defineElementwise } from '../tensor/tensor.js'
import { HyperparameterError } from '../errors.js'
import { type Layer, checkInput, lazyInputGradient } from './layer.js'

/** Params of a dense layer. */
export type DenseParams = {
  readonly kernel: Tensor
  readonly bias: Tensor
}

/** Options of `dense`. */
export interface DenseOptions {
  /** Default Glorot uniform (Keras' default). */
  readonly kernelInitializer?: Initializer
  /** Default zerosInit(). */
  readonly biasInitializer?: Initializer
  /** Default none. */
  readonly kernelRegularizer?: Regularizer
  /** Default none. */
  readonly biasRegularizer?: Regularizer
}

const initializerCodec = refinement('an initializer (key, shape, backend?) => Tensor', (u): u is Initializer => typeof u === 'function')
const regularizerCodec = refinement('a regularizer (w) => { value, grad }, or undefined', (u): u is Regularizer | undefined => u === undefined || typeof u === 'function')
const denseCodecs = { kernelInitializer: initializerCodec, biasInitializer: initializerCodec, kernelRegularizer: regularizerCodec, biasRegularizer: regularizerCodec }
const denseDefaults = () => ({ kernelInitializer: glorotUniform(), biasInitializer: zerosInit() })
type ValidDenseOptions = Required<Pick<DenseOptions, 'kernelInitializer' | 'biasInitializer'>> & Pick<DenseOptions, 'kernelRegularizer' | 'biasRegularizer'>

const biasAddOp = defineElementwise({ name: 'biasAdd', inputs: ['y', 'b'], outputs: ['y + b'] })

const unitsCodec = refinement(`an integer in [1, 2^28 = ${maxElements}]`, (u): u is number => Number.isInteger(u) && (u as number) >= 1 && (u as number) <= maxElements)

/** A user initializer's result, checked: a Tensor of the shape asked for. */
const initialized = (layer: string, field: string, initializer: Initializer, key: Key, shape: readonly number[], backend: Backend | undefined): Tensor => {
  const x: unknown = initializer(key, shape, backend)
  if (!(x instanceof Tensor) || x.shape.length !== shape.length || x.shape.some((d, i) => d !== shape[i])) {
    const got = x instanceof Tensor ? `a Tensor of shape [${x.shape.join(', ')}]` : x
    throw new HyperparameterError(layer, field, got, `an initializer returning a Tensor of shape [${shape.join(', ')}]`)
  }
  return x
}

const regularization = (kernelRegularizer?: Regularizer, biasRegularizer?: Regularizer) =>
  kernelRegularizer || biasRegularizer
    ? (params: DenseParams) =>
        scope(() => {
          const k = kernelRegularizer?.(params.kernel)
          const b = biasRegularizer?.(params.bias)
          const zero = (t: Tensor) => t.backend.fill(t.shape, 0)
          const loss = k && b ? add(k.value, b.value) : (k ?? b)!.value
          return { loss, grads: Object.freeze({ kernel: k?.grad ?? zero(params.kernel), bias: b?.grad ?? zero(params.bias) }) }
        })
    : undefined

/**
 * A fully connected layer: y = xW + b, W [in, units], b [units]. Backward: ∂W = xᵀ∂y,
 * ∂b = Σ_batch ∂y, ∂x = ∂y Wᵀ (on the first read of `dx`, `lazyInputGradient`). Regularizers on the
 * kernel and the bias are separate.
 *
 * Defaults: kernelInitializer = glorotUniform(), biasInitializer = zerosInit(), no regularizers.
 * `units` is an integer in [1, 2^28]; `init` refuses an input shape whose kernel [in, units] would
 * have more than 2^28 elements (`maxElements`) before anything is allocated, and an initializer
 * that does not return a Tensor of the shape it was asked for.
 * Reference: Keras `Dense`.
 *
 * @example
 * ```ts
 * const layer = dense(128, { kernelInitializer: heNormal(), kernelRegularizer: l2(1e-4) })
 * const { params } = layer.init(key(0), [784])
 * ```
 */
export const dense = (units: number, options: DenseOptions = {}): Layer<DenseParams, Readonly<Record<string, never>>> => {
  validate('dense', { units: unitsCodec }, { units })
  return denseLayer(`dense(${units})`, units, validate('dense', denseCodecs, options, denseDefaults()))
}

const denseLayer = (name: string, units: number, o: ValidDenseOptions): Layer<DenseParams, Readonly<Record<string, never>>> => {
  const layer: Layer<DenseParams, Readonly<Record<string, never>>> = {
    name,
    init: (key, inputShape, backend) => {
      if (!Array.isArray(inputShape) || inputShape.length !== 1) throw new HyperparameterError(name, 'inputShape', inputShape, 'a shape [features] (flatten first)')
      checkShape(name, 'inputShape', inputShape)
      // both sizes before either initializer allocates
      const kernelShape = [inputShape[0]!, units]
      checkShape(name, 'kernel', kernelShape)
      const kernel = initialized(name, 'kernelInitializer', o.kernelInitializer, foldIn(key, 0), kernelShape, backend)
      const params = Object.freeze({ kernel, bias: initialized(name, 'biasInitializer', o.biasInitializer, foldIn(key, 1), [units], backend) })
      return { params, state: Object.freeze({}), outputShape: [units] }
    },
    apply: (params, state, x) => {
      checkInput(name, x, [params.kernel.shape[0]!])
      const y = scope(() => elementwise(biasAddOp, [matmul(x, params.kernel), params.bias], [], name)[0]!)
      return {
        y,
        state,
        // ∂x on the first read of dx: a model's input layer never pays for it
        backward: (dy) =>
          lazyInputGradient(Object.freeze({ kernel: matmul(x, dy, { transposeA: true }), bias: sumTo(dy, [units]) }), () => matmul(dy, params.kernel, { transposeB: true })),
      }
    },
    ...(regularization(o.kernelRegularizer, o.biasRegularizer) ? { regularization: regularization(o.kernelRegularizer, o.biasRegularizer)! } : {}),
  }
  return Object.freeze(layer)
}

const noisyWeightsOp = defineElementwise({ name: 'noisyWeights', inputs: ['w', 'z'], scalars: ['sd'], outputs: ['w + sd * z'] })

/**
 * A dense layer with Gaussian noise on its weights while training: W̃ = W + σz, z ~ N(0, I) drawn
 * from the apply key, y = xW̃ + b; gradients flow to W (∂W = xᵀ∂y) and ∂x = ∂y W̃ᵀ. At evaluation
 * it is `dense`.
 *
 * Reference: seed 000_33f4fbf331723dec.txt ("Noise injection ... to the weights"); Graves 2011.
 *
 * @example
 * ```ts
 * noisyDense(64, { stddev: 0.01 })
 * ```
 */
export const noisyDense = (units: number, options: DenseOptions & { readonly stddev?: number } = {}): Layer<DenseParams, Readonly<Record<string, never>>> => {
  validate('noisyDense', { units: unitsCodec }, { units })
  const { stddev, ...rest } = validate('noisyDense', { ...denseCodecs, stddev: ranges.nonNegative }, options, { ...denseDefaults(), stddev: 0.01 })
  const name = `noisyDense(${units})`
  const base = denseLayer(name, units, rest)
  const layer: Layer<DenseParams, Readonly<Record<string, never>>> = {
    ...base,
    name,
    apply: (params, state, x, opts) => {
      if (!opts.training || stddev === 0) return base.apply(params, state, x, opts)
      if (!opts.key) throw new HyperparameterError(name, 'key', opts.key, 'a key in the apply options while training')
      checkInput(name, x, [params.kernel.shape[0]!])
      const w = params.kernel
      const noisy = scope(() => {
        const z = w.backend.fromData(new Float32Array(normalValues(opts.key!, w.size)), w.shape)
        return elementwise(noisyWeightsOp, [w, z], [stddev])[0]!
      })
      const y = scope(() => elementwise(biasAddOp, [matmul(x, noisy), params.bias], [], name)[0]!)
      return {
        y,
        state,
        backward: (dy) =>
          lazyInputGradient(Object.freeze({ kernel: matmul(x, dy, { transposeA: true }), bias: sumTo(dy, [units]) }), () => matmul(dy, noisy, { transposeB: true })),
      }
    },
  }
  return Object.freeze(layer)
}
