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

/** Options of `apply`. */
export interface ApplyOptions {
  /** Training mode (dropout active, batch statistics); false for evaluation. */
  readonly training: boolean
  /** Randomness of dropout and noise layers; required when they train. */
  readonly key?: Key
}

/** What `apply` returns. */
export interface LayerOutput<P, S> {
  readonly y: Tensor
  readonly state: S
  /**
   * The vector-Jacobian product: ∂L/∂y ↦ (∂L/∂x, ∂L/∂params). `dx` may be a getter computed on
   * first access (dense layers do this), so a model's input gradient costs nothing unless read.
   */
  readonly backward: (dy: Tensor) => { readonly dx: Tensor; readonly dparams: P }
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
 * @example
 * ```ts
 * const model = sequential([dense(128), batchNorm(), relu(), dropout(0.2), dense(10)])
 * const { params, state } = model.init(key(0), [784])
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
      const backs: ((dy: Tensor) => { dx: Tensor; dparams: Params })[] = []
      const nextState = frozenLayers.map((l, i) => {
        const out = l.apply(params[i], state[i], y, { ...options, ...(options.key ? { key: foldIn(options.key, i) } : {}) })
        y = out.y
        backs.push(out.backward)
        return out.state
      })
      return {
        y,
        state: Object.freeze(nextState),
        backward: (dy: Tensor) => {
          const dparams: Params[] = new Array(frozenLayers.length)
          let g = dy
          for (let i = frozenLayers.length - 1; i >= 1; i--) {
            const r = backs[i]!(g)
            dparams[i] = r.dparams
            g = r.dx
          }
          if (frozenLayers.length === 0) return { dx: dy, dparams: Object.freeze(dparams) }
          const first = backs[0]!(g)
          dparams[0] = first.dparams
          // ∂x of the whole model only when asked for (a layer may compute it lazily)
          return {
            get dx() {
              return first.dx
            },
            dparams: Object.freeze(dparams),
          }
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
