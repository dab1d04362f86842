/**
 * Noise and other update surgery: `addNoise` (annealed Gaussian gradient noise), `centralize`,
 * `keepParamsNonnegative`, `zeroNans`, `scaleBySign`.
 *
 * References: seed 000_33f4fbf331723dec.txt ("noise injection"); Neelakantan et al. 2015 ("Adding
 * Gradient Noise Improves Learning for Very Deep Networks"); Yong et al. 2020 (gradient
 * centralization); Optax `add_noise`, `centralize`, `keep_params_nonnegative`, `zero_nans`.
 */
import { checkCount, frozen, mapLeaves, requireParams, statelessTransformation, transformation } from '../core/internal.js'
import type { EmptyState, GradientTransformation, Params } from '../core/types.js'
import { ranges, validate } from '../core/validate.js'
import { countCodec, keyCodec, paramsCodec } from '../core/state.js'
import * as t from 'io-ts'
import { elementwise, scope, sumTo } from '../tensor/ops.js'
import { type Key, key as makeKey, normalValues, split } from '../tensor/random.js'
import { defineElementwise } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'


/** State of `addNoise`: step count and the key of the next step's noise. */
export interface AddNoiseState {
  readonly count: number
  readonly key: Key
}

/** Options of `addNoise`. */
export interface AddNoiseOptions {
  /** η, the initial variance. Default 0.01. */
  readonly eta?: number
  /** γ, the annealing exponent. Default 0.55. */
  readonly gamma?: number
  /** Seed of the noise keys. Default 0. */
  readonly seed?: number
}

const addScaledOp = defineElementwise({ name: 'addNoise', inputs: ['g', 'z'], scalars: ['sd'], outputs: ['g + sd * z'] })

/**
 * Annealed Gaussian gradient noise: u_k = g + N(0, σ_k²) with σ_k² = η / (1 + k)^γ. The noise of
 * step k comes from a key split off the state's key, so runs are reproducible and identical on
 * every backend.
 *
 * Defaults: eta = 0.01, gamma = 0.55, seed = 0.
 * Reference: Neelakantan et al. 2015; seed 000_33f4fbf331723dec.txt ("Noise injection"); Optax
 * `add_noise`.
 *
 * @example
 * ```ts
 * const noisy = chain(addNoise({ eta: 0.01, seed: 42 }), sgd({ learningRate: 0.1 }))
 * ```
 */
export const addNoise = (options: AddNoiseOptions = {}): GradientTransformation<AddNoiseState> => {
  const { eta, gamma, seed } = validate(
    'addNoise',
    { eta: ranges.nonNegative, gamma: ranges.nonNegative, seed: ranges.seed },
    options,
    { eta: 0.01, gamma: 0.55, seed: 0 },
  )
  return transformation('addNoise', {
    init: () => frozen({ count: 0, key: makeKey(seed) }),
    update: (updates: Params, state: AddNoiseState) => {
      const count = checkCount('addNoise', state.count)
      const [next, sub] = split(state.key)
      const sd = Math.sqrt(eta / (1 + count) ** gamma)
      const leafKeys = split(sub!, Math.max(1, tree.leaves(updates).length))
      const [u] = mapLeaves([['updates', updates]], 1, ([g], path, j) => {
        const k = leafKeys[j]!
        return scope(() => {
          const z = g!.backend.fromData(Float32Array.from(normalValues(k, g!.size)), g!.shape)
          return elementwise(addScaledOp, [g!, z], [sd], path)
        })
      })
      return [u!, frozen({ count: count + 1, key: next! })] as const
    },
    stateCodec: t.strict({ count: countCodec, key: keyCodec }, '{ count, key }'),
  })
}

const subtractMeanOp = defineElementwise({ name: 'centralize', inputs: ['g', 's'], scalars: ['invN'], outputs: ['g - s * invN'] })

/**
 * Gradient centralization: for leaves of rank > 1, subtract the mean over all axes but the first:
 * u = g − mean_{axes 1…}(g). Vectors and scalars pass through unchanged.
 *
 * Reference: Yong et al. 2020; Optax `centralize`.
 *
 * @example
 * ```ts
 * const opt = chain(centralize(), sgd({ learningRate: 0.1, momentum: 0.9 }))
 * ```
 */
export const centralize = (): GradientTransformation<EmptyState> =>
  statelessTransformation(
    'centralize',
    (updates) =>
      mapLeaves([['updates', updates]], 1, ([g], path) => {
        if (g!.shape.length <= 1) return [g!]
        const rowShape = [g!.shape[0]!, ...g!.shape.slice(1).map(() => 1)]
        const inner = g!.size / g!.shape[0]!
        return scope(() => elementwise(subtractMeanOp, [g!, sumTo(g!, rowShape, path)], [inner === 0 ? 0 : 1 / inner], path))
      })[0]!,
  )

const nonnegativeOp = defineElementwise({ name: 'keepParamsNonnegative', inputs: ['u', 'p'], outputs: ['p + u < 0 ? -p : u'] })

/**
 * Keeps the params non-negative: where θ + u < 0, u = −θ (so θ + u = 0). Needs the params.
 *
 * Reference: Optax `keep_params_nonnegative`.
 *
 * @example
 * ```ts
 * const opt = chain(sgd({ learningRate: 0.1 }), keepParamsNonnegative())
 * ```
 */
export const keepParamsNonnegative = (): GradientTransformation<EmptyState> =>
  statelessTransformation(
    'keepParamsNonnegative',
    (updates, params) =>
      mapLeaves([['updates', updates], ['params', requireParams('keepParamsNonnegative', params)]], 1, ([u, p], path) =>
        elementwise(nonnegativeOp, [u!, p!], [], path),
      )[0]!,
    { needsParams: true },
  )

/** State of `zeroNans`: per leaf, 1 if the last update had a NaN there, else 0 (shape []). */
export interface ZeroNansState {
  readonly foundNan: Params
}

// `x > 0 || x <= 0` is false only for NaN, and survives WGSL compilers that fold `x !== x` away.
const zeroNanOp = defineElementwise({ name: 'zeroNans', inputs: ['g'], outputs: ['(g > 0 || g <= 0) ? g : 0'] })
const nanFlagOp = defineElementwise({ name: 'nanFlag', inputs: ['g'], outputs: ['(g > 0 || g <= 0) ? 0 : 1'] })
const anyOp = defineElementwise({ name: 'anyPositive', inputs: ['s'], outputs: ['s > 0 ? 1 : 0'] })

/**
 * Replaces NaN entries of the updates by 0 (±∞ are kept) and records, per leaf, whether any were
 * found.
 *
 * Reference: Optax `zero_nans`.
 *
 * @example
 * ```ts
 * const opt = chain(zeroNans(), adam({ learningRate: 1e-3 }))
 * ```
 */
export const zeroNans = (): GradientTransformation<ZeroNansState> =>
  transformation('zeroNans', {
    init: (params: Params) =>
      frozen({ foundNan: mapLeaves([['params', params]], 1, ([p]) => [p!.backend.fill([], 0)])[0]! }),
    update: (updates: Params) => {
      const [u, found] = mapLeaves([['updates', updates]], 2, ([g], path) => [
        elementwise(zeroNanOp, [g!], [], path)[0]!,
        scope(() => elementwise(anyOp, [sumTo(elementwise(nanFlagOp, [g!], [], path)[0]!, [], path)], [], path)[0]!),
      ])
      return [u!, frozen({ foundNan: found! })] as const
    },
    stateCodec: t.strict({ foundNan: paramsCodec }, '{ foundNan }'),
  })

const signOp = defineElementwise({ name: 'scaleBySign', inputs: ['g'], outputs: ['Math.sign(g)'] })

/**
 * The sign of each update: u = sign(g) ∈ {−1, 0, 1} (signSGD). A bound by definition: ±∞ gives
 * ±1, and NaN stays NaN (docs/nonfinite.md).
 *
 * Reference: Bernstein et al. 2018; Optax `scale_by_sign`.
 *
 * @example
 * ```ts
 * const signSgd = chain(scaleBySign(), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleBySign = (): GradientTransformation<EmptyState> =>
  statelessTransformation('scaleBySign', (updates) => mapLeaves([['updates', updates]], 1, ([g], path) => elementwise(signOp, [g!], [], path))[0]!)
