/**
 * The transformation core: `identity`, `setToZero`, `stateless`, `chain`, `applyUpdates`.
 *
 * Reference: Optax `base.py` and `combine.py` (Babuschkin et al., 2020, "The DeepMind JAX Ecosystem").
 */
import { checkOperands, defineElementwise, Tensor } from '../tensor/tensor.js'
import { BackendError, HyperparameterError, StructureError } from '../errors.js'
import * as tree from '../tree/index.js'
import { elementwiseTree, frozen, paramsNeededBy, statelessTransformation, transformation } from './internal.js'
import { tupleCodec } from './state.js'
import type { EmptyState, GradientTransformation, Params, TransformIdentity, UpdateExtras } from './types.js'

/**
 * The transformation that passes updates through unchanged: u ↦ u. Its state is `{}`.
 *
 * @example
 * ```ts
 * const grads = { w: fromArray([0.5, -1]) }
 * const [u] = identity().update(grads, {})   // u === grads
 * ```
 */
export const identity = (): GradientTransformation<EmptyState> => statelessTransformation('identity', (updates) => updates, { fusion: { kind: 'identity' } })

/**
 * The transformation that zeroes every update: u ↦ 0 (also NaN and ±∞ entries), keeping shapes and
 * backends. Useful to freeze parameters in `multiTransform`.
 *
 * @example
 * ```ts
 * const [zeros] = setToZero().update({ w: fromArray([0.5, -1]) }, {}) // { w: [0, 0] }
 * ```
 */
export const setToZero = (): GradientTransformation<EmptyState> => statelessTransformation('setToZero', zerosLikeTree)

/**
 * A transformation without state from a pure function of the updates (and the params).
 *
 * @example
 * ```ts
 * const negate = stateless((u) => tree.map((x: Tensor) => scaleTensor(x, -1))(u))
 * ```
 */
export const stateless = (f: (updates: Params, params?: Params) => Params): GradientTransformation<EmptyState> => statelessTransformation('stateless', f)

/**
 * A transformation with any state: the element type of heterogeneous lists of transformations.
 * (`any` is needed because GradientTransformation<S> is invariant in S.)
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTransformation = GradientTransformation<any>

/** The state of a transformation. */
export type StateOf<T> = T extends GradientTransformation<infer S> ? S : never

/** The tuple of states of a chain, inferred from its transformations. */
export type ChainState<Ts extends readonly AnyTransformation[]> = { readonly [K in keyof Ts]: StateOf<Ts[K]> }

/**
 * A chain's identity when one of its transformations has one: `chain(adam, ?)` for
 * `chain(adam(...), reduceOnPlateau())`, with each member's hyperparameters by position, so a saved
 * state of `chain(adam, …)` is refused by `chain(nadam, …)`.
 */
const chainIdentity = (transforms: readonly AnyTransformation[]): { identity?: TransformIdentity } =>
  transforms.some((t) => t.identity)
    ? {
        identity: frozen({
          name: `chain(${transforms.map((t) => t.identity?.name ?? '?').join(', ')})`,
          hyperparameters: frozen(Object.fromEntries(transforms.map((t, i) => [String(i), t.identity?.hyperparameters ?? null]))),
        }),
      }
    : {}

/**
 * Composes transformations left to right: the updates flow through each in turn, and the state is
 * the tuple of their states. `chain()` is the identity; `chain(a, chain(b, c))` equals
 * `chain(chain(a, b), c)` on updates.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const grads = params                    // ∇ of ½‖w‖²
 * const opt = chain(trace({ decay: 0.9 }), scaleByLearningRate(0.01))
 * const state = opt.init(params)          // readonly [TraceState, ScaleByLearningRateState]
 * const [updates, next] = opt.update(grads, state, params)
 * ```
 */
export const chain = <Ts extends readonly AnyTransformation[]>(...transforms: Ts): GradientTransformation<ChainState<Ts>> => {
  transforms.forEach((t, i) => {
    const ok = typeof t === 'object' && t !== null && typeof t.init === 'function' && typeof t.update === 'function'
    if (!ok) throw new HyperparameterError('chain', `transforms[${i}]`, t, 'a GradientTransformation { init, update }')
  })
  return chainOf(transforms)
}

const chainOf = <Ts extends readonly AnyTransformation[]>(transforms: Ts): GradientTransformation<ChainState<Ts>> =>
  transformation<ChainState<Ts>>('chain', {
    init: (params: Params) => frozen(transforms.map((t) => t.init(params))) as unknown as ChainState<Ts>,
    update: (updates: Params, state: ChainState<Ts>, params?: Params, extra?: UpdateExtras) => {
      let u = updates
      const next = transforms.map((t, i) => {
        const [u2, s2] = t.update(u, (state as readonly unknown[])[i], params, extra)
        u = u2
        return s2
      })
      return [u, frozen(next) as unknown as ChainState<Ts>] as const
    },
    ...(transforms.every((t) => t.stateCodec) ? { stateCodec: tupleCodec(transforms.map((t) => t.stateCodec!)) } : {}),
    ...chainIdentity(transforms),
  }, {
    // refused before the first member computes anything
    needsParams: transforms.map(paramsNeededBy).find((n) => n !== undefined),
    checkState: (state) => {
      if (!Array.isArray(state) || state.length !== transforms.length) {
        throw new StructureError('', `chain of ${transforms.length} transformations got a state of ${Array.isArray(state) ? `length ${state.length}` : typeof state}`)
      }
    },
    fusion: { kind: 'chain', members: transforms },
  })

/** @internal The op of `applyUpdates` (also the last step of a compiled step's fused kernel). */
export const applyOp = defineElementwise({ name: 'applyUpdates', inputs: ['p', 'u'], outputs: ['p + u'] })

/**
 * New parameters θ + u (the updates already carry the sign and learning rate). Throws a
 * StructureError / ShapeError / BackendError naming the path where params and updates disagree.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const next = applyUpdates(params, { w: fromArray([-0.1, 0.2]) }) // { w: [0.9, -1.8] }
 * ```
 */
export const applyUpdates = <P extends Params>(params: P, updates: Params): P =>
  elementwiseTree(applyOp, [
    ['params', params],
    ['updates', updates],
  ])[0]! as P

/** Zeros shaped like `params` (on the same backends), e.g. for a moment buffer. */
export const zerosLikeTree = (params: Params): Params =>
  tree.map((p: Tensor, path) => {
    if (!(p instanceof Tensor)) throw new BackendError(path, `leaf is not a Tensor: ${String(p)}`)
    checkOperands([p], path)
    return p.backend.fill(p.shape, 0)
  })(params)
