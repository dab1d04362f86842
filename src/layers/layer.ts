/**
 * Functional layers: plain data plus pure `init` and `apply`, as in Equinox / Haiku.
 * `apply` returns the output, the new state (batch-norm statistics) and a backward function, the
 * vector-Jacobian product: given ∂L/∂y it returns ∂L/∂x and ∂L/∂params. Inputs carry a leading batch
 * axis: x is [batch, ...inputShape].
 */
import { zerosLikeTree } from '../core/base.js'
import type { Params } from '../core/types.js'
import { HyperparameterError, ShapeError } from '../errors.js'
import { add } from '../tensor/ops.js'
import { type Key, foldIn } from '../tensor/random.js'
import type { Backend, Tensor } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'

/** Options of `apply`. */
export interface ApplyOptions {
  /** Training mode (dropout active, batch statistics); false for evaluation. */
  readonly training: boolean
  /** Randomness of dropout and noise layers; required when they train. */
  readonly key?: Key
}

/** What a layer's backward pass returns: ∂L/∂x and ∂L/∂params. */
export interface LayerGradients<P> {
  readonly dx: Tensor
  readonly dparams: P
}

/** What `apply` returns. */
export interface LayerOutput<P, S> {
  readonly y: Tensor
  readonly state: S
  /**
   * The vector-Jacobian product: ∂L/∂y ↦ (∂L/∂x, ∂L/∂params). `dx` may be a getter computed on
   * first read (`lazyInputGradient`; dense, batch-norm and sequential layers do this), so an input
   * gradient nobody reads costs nothing: training reads only `dparams`, a gradient check or an
   * adversarial attack reads `dx` and gets the same numbers as an eager computation.
   */
  readonly backward: (dy: Tensor) => LayerGradients<P>
}

/**
 * A backward result whose ∂L/∂x is computed by `inputGradient` on the first read of `dx` and then
 * reused (a second read returns the same tensor), the way a custom layer makes its input gradient
 * free when the caller only wants `dparams`. Read `dx` while the tensors it uses (the layer's input,
 * ∂L/∂y, the params) are live: inside the scope they were made in, or return the result from it
 * (a scope's result is walked, which reads `dx`). `inputGradient` must be a function
 * (HyperparameterError otherwise, at once rather than on the read).
 * Reference: `jax.vjp`, whose unused cotangents XLA's dead-code elimination drops; here the
 * caller's read decides.
 *
 * @example
 * ```ts
 * // y = x·w for a kernel w: ∂w = xᵀ∂y always, ∂x = ∂y·wᵀ only when read
 * const x = fromArray([1, 2, 3, 4], [2, 2])
 * const w = fromArray([0.5, -1, 2, 0], [2, 2])
 * const dy = fromArray([1, 0, 0, 1], [2, 2])
 * const grads = lazyInputGradient({ w: matmul(x, dy, { transposeA: true }) }, () => matmul(dy, w, { transposeB: true }))
 * grads.dx === grads.dx // true: computed once, on the first read
 * ```
 */
export const lazyInputGradient = <P>(dparams: P, inputGradient: () => Tensor): LayerGradients<P> => {
  if (typeof inputGradient !== 'function') throw new HyperparameterError('lazyInputGradient', 'inputGradient', inputGradient, 'a function () => Tensor')
  let dx: Tensor | undefined
  return Object.freeze({
    get dx() {
      return (dx ??= inputGradient())
    },
    dparams,
  })
}

/** A layer. */
export interface Layer<P extends Params = Params, S = unknown> {
  readonly name: string
  readonly init: (key: Key, inputShape: readonly number[], backend?: Backend) => { readonly params: P; readonly state: S; readonly outputShape: readonly number[] }
  readonly apply: (params: P, state: S, x: Tensor, options: ApplyOptions) => LayerOutput<P, S>
  /** The regularization penalty (shape []) and its gradient, if the layer has regularizers. */
  readonly regularization?: (params: P) => { readonly loss: Tensor; readonly grads: P } | undefined
}

/** Checks that x is [batch, ...inputShape]. */
export const checkInput = (layer: string, x: Tensor, inner: readonly number[]): void => {
  if (x.shape.length !== inner.length + 1 || inner.some((d, i) => d !== x.shape[i + 1])) {
    throw new ShapeError(layer, `expected input [batch, ${inner.join(', ')}], got [${x.shape.join(', ')}]`)
  }
}


const isLayer = (u: unknown): u is AnyLayer => {
  const l = u as Partial<Record<keyof AnyLayer, unknown>> | null
  return typeof l === 'object' && l !== null && typeof l.name === 'string' && typeof l.init === 'function' && typeof l.apply === 'function'
}

/** A layer of any parameter and state types, as `sequential` takes them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyLayer = Layer<any, any>

/** Params and state of a `sequential` model: one entry per layer. */
export type SequentialParams = readonly Params[]

/**
 * Layers in sequence. Params and state are arrays (one entry per layer); the key of layer i is
 * `foldIn(key, i)`; the backward pass runs the layers' vector-Jacobian products in reverse.
 * `layers` must be an array of layers (objects with a string `name` and functions `init` and
 * `apply`); anything else is a HyperparameterError naming its index (`layers.2`).
 *
 * The backward pass computes what `dparams` needs, and the model's ∂L/∂x only when `dx` is read
 * (`lazyInputGradient`): with t the first layer whose params have a leaf (a tensor), the layers
 * before t (dropout or noise on the input, activations) have nothing to differentiate, so their
 * backward passes and layer t's ∂x run only on that read; their `dparams` entries are their own
 * (empty) params. Training (`fit`) never reads `dx`; a gradient check, an outer `sequential` that
 * needs it or an attack on the input reads it and gets the numbers of the eager chain, bit for bit.
 *
 * @example
 * ```ts
 * const model = sequential([dropout(0.1), dense(128), batchNorm(), relu(), dropout(0.2), dense(10)])
 * const { params, state } = model.init(key(0), [784])
 * const x = fromArray(uniformValues(key(1), 2 * 784), [2, 784])
 * const out = model.apply(params, state, x, { training: true, key: key(2) })
 * const grads = out.backward(fromArray(uniformValues(key(3), 2 * 10), [2, 10]))
 * grads.dparams // computed: no ∂x of dense(128), no backward pass of the input dropout
 * grads.dx // [2, 784], computed now
 * ```
 */
export const sequential = (layers: readonly AnyLayer[]): Layer<SequentialParams, readonly unknown[]> => {
  if (!Array.isArray(layers)) throw new HyperparameterError('sequential', 'layers', layers, 'an array of layers')
  layers.forEach((l: unknown, i) => {
    if (!isLayer(l)) throw new HyperparameterError('sequential', `layers.${i}`, l, 'a layer { name, init, apply }')
  })
  const frozenLayers = Object.freeze([...layers])
  return Object.freeze({
    name: `sequential(${frozenLayers.map((l) => l.name).join(', ')})`,
    init: (key: Key, inputShape: readonly number[], backend?: Backend) => {
      let shape = inputShape
      const params: Params[] = []
      const state: unknown[] = []
      frozenLayers.forEach((l, i) => {
        const r = l.init(foldIn(key, i), shape, backend)
        params.push(r.params)
        state.push(r.state)
        shape = r.outputShape
      })
      return { params: Object.freeze(params), state: Object.freeze(state), outputShape: shape }
    },
    apply: (params: SequentialParams, state: readonly unknown[], x: Tensor, options: ApplyOptions) => {
      let y = x
      const backs: LayerOutput<Params, unknown>['backward'][] = []
      const nextState = frozenLayers.map((l, i) => {
        const out = l.apply(params[i], state[i], y, { ...options, ...(options.key ? { key: foldIn(options.key, i) } : {}) })
        y = out.y
        backs.push(out.backward)
        return out.state
      })
      // the layers before the first one with params only feed the model's ∂x: run on a read of dx
      const firstTrainable = frozenLayers.findIndex((_, i) => tree.leaves(params[i]!).length > 0)
      const deferred = firstTrainable === -1 ? frozenLayers.length : firstTrainable
      return {
        y,
        state: Object.freeze(nextState),
        backward: (dy: Tensor) => {
          const dparams: Params[] = new Array(frozenLayers.length)
          let g = dy
          let first: LayerGradients<Params> | undefined
          for (let i = frozenLayers.length - 1; i >= deferred; i--) {
            const r = backs[i]!(g)
            dparams[i] = r.dparams
            if (i > deferred) g = r.dx
            else first = r
          }
          for (let i = 0; i < deferred; i++) dparams[i] = params[i]!
          return lazyInputGradient(Object.freeze(dparams), () => {
            let dx = first ? first.dx : dy
            for (let i = deferred - 1; i >= 0; i--) dx = backs[i]!(dx).dx
            return dx
          })
        },
      }
    },
    regularization: (params: SequentialParams) => {
      let loss: Tensor | undefined
      const grads = frozenLayers.map((l, i) => {
        const r = l.regularization?.(params[i])
        if (!r) return zerosLikeTree(params[i]!)
        loss = loss === undefined ? r.loss : add(loss, r.loss)
        return r.grads
      })
      return loss === undefined ? undefined : { loss, grads: Object.freeze(grads) }
    },
  })
}
