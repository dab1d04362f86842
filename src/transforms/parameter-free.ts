/**
 * The primitives of the learning-rate-free optimizers of Optax contrib: Prodigy's and D-Adaptation's
 * distance estimates, Distance over Gradients (global DoG, DoWG and Optax's layer-wise
 * `scale_by_distance_over_gradients`), COCOB's coin betting, MoMo's Polyak-type step from the loss
 * value, and Mechanic's learned scale around any base optimizer.
 *
 * Every scalar the algorithms keep (a distance estimate, a sum of squared norms, an inner product)
 * is a tensor of shape [] on the params' backend, so nothing is read back during an update.
 *
 * References: the paper cited on each function; Optax 0.2.8 `optax/contrib/_prodigy.py`,
 * `_dadapt_adamw.py`, `_dog.py`, `_cocob.py`, `_momo.py`, `_mechanic.py` and
 * `optax/_src/transform.py` (`scale_by_distance_over_gradients`).
 */
import * as t from 'io-ts'
import { type AnyTransformation, zerosLikeTree } from '../core/base.js'
import { checkCount, frozen, leafRows, mapLeaves, requireParams, transformation } from '../core/internal.js'
import { countCodec, floatCodec, nonNegativeParamsCodec, paramsCodec } from '../core/state.js'
import type { GradientTransformation, Params, ScalarOrSchedule, UpdateExtras } from '../core/types.js'
import { evaluate, nonNegativeOrSchedule, ranges, refinement, validate } from '../core/validate.js'
import { BackendError, HyperparameterError, StructureError } from '../errors.js'
import { add, clone, elementwise, scope, sum } from '../tensor/ops.js'
import { cpu } from '../tensor/cpu.js'
import { type Backend, Tensor, defineElementwise } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import { nanUnlessFinite, zeroWhereNoGradient } from './accumulator.js'
import { biasCorrection } from './raw.js'

const f32 = Math.fround

// 1 − βᵗ in float32, as Optax computes `1 - b**count` on an int32 count
const bc = (b: number) => biasCorrection(b, 'float32')

// ---- shared pieces -----------------------------------------------------------------------------

const productOp = defineElementwise({ name: 'parameterFreeProduct', inputs: ['a', 'b'], outputs: ['a * b'] })
const diffSquareOp = defineElementwise({ name: 'parameterFreeDiffSquare', inputs: ['a', 'b'], lets: [['d', 'a - b']], outputs: ['d * d'] })
const absOp = defineElementwise({ name: 'parameterFreeAbs', inputs: ['a'], outputs: ['Math.abs(a)'] })
const scaleByTensorOp = defineElementwise({ name: 'parameterFreeScaleBy', inputs: ['g', 'lr'], outputs: ['lr * g'] })

/** Σ of one value per leaf (each a tensor of shape []), in leaf order; 0 on `backend` for a tree without leaves. */
const total = (parts: readonly Tensor[], backend: Backend): Tensor => (parts.length === 0 ? backend.fill([], 0) : parts.slice(1).reduce((acc, p) => add(acc, p), parts[0]!))

/** Σ over leaves of the sum of `op` over each row's leaves, a tensor of shape []. */
const treeSum = (op: ReturnType<typeof defineElementwise>, named: readonly (readonly [string, Params])[]): Tensor =>
  scope(() => {
    const { rows, paths } = leafRows(named)
    return total(rows.map((row, j) => sum(elementwise(op, row, [], paths[j])[0]!)), backendOf(named[0]![1]))
  })

/** ⟨a, b⟩ over the whole tree. */
const dot = (a: readonly [string, Params], b: readonly [string, Params]): Tensor => treeSum(productOp, [a, b])
/** ‖a − b‖² over the whole tree. */
const distanceSquared = (a: readonly [string, Params], b: readonly [string, Params]): Tensor => treeSum(diffSquareOp, [a, b])
/** ‖a‖² over the whole tree. */
const normSquared = (a: readonly [string, Params]): Tensor => treeSum(productOp, [a, a])
/** Σ|aᵢ| over the whole tree. */
const l1Norm = (a: readonly [string, Params]): Tensor => treeSum(absOp, [a])

/**
 * The backend of a tree's first leaf, where the transform keeps its scalars; `cpu` for a tree
 * without leaves (an empty tree maps to the empty tree, as in Optax, and its scalars stay put).
 */
const backendOf = (params: Params): Backend => {
  const first = tree.leaves(params)[0]
  return first instanceof Tensor ? first.backend : cpu
}

/** A copy of every leaf (state must own its tensors). */
const copyTree = (x: Params, name = 'params'): Params => mapLeaves([[name, x]], 1, ([v], path) => [clone(v!, path)])[0]!

/** `g ↦ lr·g` for a tensor lr of shape [] (the global step size of DoG and DoWG). */
const scaleTreeBy = (updates: Params, lr: Tensor): Params =>
  mapLeaves([['updates', updates]], 1, ([g], path) => elementwise(scaleByTensorOp, [g!, lr], [], path))[0]!

/** A state field that must be a tensor of shape `shape` on the updates' backend, checked before any work. */
const stateTensor = (transform: string, field: string, v: unknown, backend: Backend, shape: readonly number[] = []): Tensor => {
  if (!(v instanceof Tensor) || v.shape.length !== shape.length || v.shape.some((d, i) => d !== shape[i])) {
    throw new StructureError(`state.${field}`, `${transform}: state.${field} must be a tensor of shape [${shape.join(', ')}], got ${v instanceof Tensor ? `[${v.shape.join(', ')}]` : String(v)}`)
  }
  if (v.backend !== backend) throw new BackendError(`state.${field}`, `${transform}: state.${field} is on ${v.backend.name}, the updates on ${backend.name}`)
  return v
}

/** A tree of shape-[] tensors, one per leaf of `updates` (LDoG's per-leaf scalars), checked before any work. */
const perLeafScalars = (transform: string, field: string, updates: Params, values: Params): Tensor[] => {
  tree.assertSameStructure(updates, values, `updates vs state.${field}`)
  const backend = backendOf(updates)
  const paths = tree.paths(values)
  return tree.leaves(values).map((v, j) => {
    try {
      return stateTensor(transform, field, v, backend)
    } catch (e) {
      if (e instanceof StructureError) throw new StructureError(`state.${field}${paths[j] ? `.${paths[j]}` : ''}`, e.message)
      throw e
    }
  })
}

/** An option without a default: its codec, or undefined. */
const optional = <C extends t.Mixed>(c: C, absent: string) => t.union([c, t.undefined], `${c.name}, or undefined (${absent})`)

const scalarCodec = paramsCodec
const nonNegativeScalarCodec = nonNegativeParamsCodec

// a ≥ b ? a : b, NaN-propagating like jnp.maximum (Math.max is, on every backend's expression compiler)
const maxOf = (a: string, b: string) => `Math.max(${a}, ${b})`

// ---- Prodigy -----------------------------------------------------------------------------------

/**
 * State of `scaleByProdigy` (Optax's `ProdigyState`): the moments of d·g, the weighted sum s of the
 * d-scaled gradients, the initial params x₀, the distance estimate d and the weighted numerator
 * (tensors of shape []), and the step count.
 */
export interface ScaleByProdigyState {
  readonly count: number
  readonly expAvg: Params
  readonly expAvgSq: Params
  readonly gradSum: Params
  readonly params0: Params
  readonly estimLr: Tensor
  readonly numeratorWeighted: Tensor
}

/** Options of `scaleByProdigy` (and `prodigy`). */
export interface ScaleByProdigyOptions {
  /** The schedule multiplier γ_k (1.0 is the base value), a number ≥ 0 or a schedule. Default 1. */
  readonly learningRate?: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** β₃ in [0, 1), decay of the d-estimate's sums. Default √β₂. */
  readonly b3?: number
  /** ε ≥ 0, added to √v scaled by d. Default 1e-8. */
  readonly eps?: number
  /** d₀ > 0, the initial (under-)estimate of the distance to the solution. Default 1e-6. */
  readonly estimLr0?: number
  /** c ≥ 0, multiplies every new estimate of d. Default 1. */
  readonly estimLrCoef?: number
  /** λ ≥ 0, AdamW-style decoupled weight decay, scaled by d·γ. Default 0. */
  readonly weightDecay?: number
  /** Leave γ out of the sum s (safer during a warm-up). Default false. */
  readonly safeguardWarmup?: boolean
}

const prodigyNumeratorOp = defineElementwise({ name: 'scaleByProdigyNumerator', inputs: ['g', 'p0', 'p'], outputs: ['g * (p0 - p)'] })
const prodigyDlrOp = defineElementwise({ name: 'scaleByProdigyDlr', inputs: ['d'], scalars: ['sched', 'bc'], outputs: ['d * sched * bc'] })
const prodigyMomentsOp = defineElementwise({
  name: 'scaleByProdigyMoments',
  inputs: ['g', 'ea', 'eas', 's', 'd', 'dlr'],
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'b3', 'd0', 'safeguard'],
  lets: [['dg', 'd * g']],
  outputs: ['b1 * ea + omb1 * dg', 'b2 * eas + omb2 * (dg * dg)', 'b3 * s + ((safeguard > 0 ? d : dlr) * dg) / d0'],
})
const prodigyEstimateOp = defineElementwise({
  name: 'scaleByProdigyEstimate',
  inputs: ['nw', 'd', 'dlr', 'num', 'den'],
  scalars: ['b3', 'd0', 'coef'],
  lets: [['nw1', 'b3 * nw + (d / d0) * dlr * num']],
  // no gradient seen yet (Σ|s| = 0, so the numerator is 0 too): d stays, rather than max(d, 0/0)
  outputs: ['nw1', `den <= 0 ? d : ${maxOf('d', '(coef * nw1) / den')}`],
})
const prodigyUpdateOp = defineElementwise({
  name: 'scaleByProdigyUpdate',
  inputs: ['ea', 'eas', 'p', 'dlr', 'd'],
  scalars: ['eps', 'wd'],
  lets: [['den', 'Math.sqrt(eas) + d * eps']],
  outputs: [`wd * dlr * p + ${zeroWhereNoGradient('den', nanUnlessFinite('eas', '(dlr * ea) / den'))}`],
})

const prodigyCodec = t.strict(
  {
    count: countCodec,
    expAvg: paramsCodec,
    expAvgSq: nonNegativeParamsCodec,
    gradSum: paramsCodec,
    params0: paramsCodec,
    estimLr: nonNegativeScalarCodec,
    numeratorWeighted: scalarCodec,
  },
  '{ count, expAvg, expAvgSq, gradSum, params0, estimLr, numeratorWeighted }',
)

const learningRateOption = { learningRate: nonNegativeOrSchedule }

/**
 * Prodigy's step: Adam on d-scaled gradients, with d, the estimate of the distance ‖x₀ − x*‖,
 * grown from a weighted ratio of inner products (Mishchenko & Defazio 2023, Algorithm 4 in
 * Optax's form). With t = k + 1, γ = γ_k, b = √(1 − β₂ᵗ)/(1 − β₁ᵗ) and dₗᵣ = d·γ·b:
 *
 *   m ← β₁m + (1 − β₁)d g,  v ← β₂v + (1 − β₂)(d g)²,
 *   s ← β₃s + dₗᵣ d g / d₀  (safeguardWarmup: d² g / d₀),
 *   r ← β₃r + (d/d₀) dₗᵣ ⟨g, x₀ − x⟩,  d ← max(d, c·r / Σ|s|),
 *   u = dₗᵣ m / (√v + d ε) + λ dₗᵣ x     (the ε term uses the new d, as Optax).
 *
 * `u` is a descent direction already scaled: `prodigy` negates it (`scale(-1)`). Where Σ|s| = 0 (no
 * gradient seen yet) d stays as it is, where Optax's max(d, 0/0) turns every later step NaN.
 *
 * Defaults: learningRate = 1, b1 = 0.9, b2 = 0.999, b3 = √b2, eps = 1e-8, estimLr0 = 1e-6,
 * estimLrCoef = 1, weightDecay = 0, safeguardWarmup = false (Optax's). Needs the params.
 * Reference: Mishchenko & Defazio 2023, "Prodigy: An Expeditiously Adaptive Parameter-Free
 * Learner"; Optax `contrib.prodigy`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByProdigy({ learningRate: cosineDecay({ init: 1, decaySteps: 1000 }) }), scale(-1))
 * ```
 */
export const scaleByProdigy = (options: ScaleByProdigyOptions = {}): GradientTransformation<ScaleByProdigyState> => {
  const name = 'scaleByProdigy'
  const o = validate(
    name,
    {
      ...learningRateOption,
      b1: ranges.unitInterval,
      b2: ranges.unitInterval,
      b3: optional(ranges.unitInterval, '√b2'),
      eps: ranges.nonNegative,
      estimLr0: ranges.positive,
      estimLrCoef: ranges.nonNegative,
      weightDecay: ranges.nonNegative,
      safeguardWarmup: ranges.boolean,
    },
    options,
    { learningRate: 1, b1: 0.9, b2: 0.999, eps: 1e-8, estimLr0: 1e-6, estimLrCoef: 1, weightDecay: 0, safeguardWarmup: false },
  )
  const b3 = o.b3 ?? Math.sqrt(o.b2)
  const [bc1, bc2] = [bc(o.b1), bc(o.b2)]
  return transformation(name, {
    init: (params: Params) => {
      const backend = backendOf(params)
      return frozen({
        count: 0,
        expAvg: zerosLikeTree(params),
        expAvgSq: zerosLikeTree(params),
        gradSum: zerosLikeTree(params),
        params0: copyTree(params),
        estimLr: backend.fill([], f32(o.estimLr0)),
        numeratorWeighted: backend.fill([], 0),
      })
    },
    update: (updates: Params, state: ScaleByProdigyState, params?: Params) => {
      const p = requireParams(name, params)
      const k = checkCount(name, state.count)
      const backend = backendOf(updates)
      const d = stateTensor(name, 'estimLr', state.estimLr, backend)
      const nw = stateTensor(name, 'numeratorWeighted', state.numeratorWeighted, backend)
      leafRows([['updates', updates], ['state.expAvg', state.expAvg], ['state.expAvgSq', state.expAvgSq], ['state.gradSum', state.gradSum], ['state.params0', state.params0], ['params', p]])
      const sched = evaluate(name, 'learningRate', o.learningRate, k)
      const tk = k + 1
      const b = f32(Math.sqrt(bc2(tk)) / bc1(tk))
      return scope(() => {
        const num = treeSum(prodigyNumeratorOp, [['updates', updates], ['state.params0', state.params0], ['params', p]])
        const dlr = elementwise(prodigyDlrOp, [d], [f32(sched), b])[0]!
        const [expAvg, expAvgSq, gradSum] = mapLeaves(
          [['updates', updates], ['state.expAvg', state.expAvg], ['state.expAvgSq', state.expAvgSq], ['state.gradSum', state.gradSum]],
          3,
          ([g, ea, eas, s], path) => elementwise(prodigyMomentsOp, [g!, ea!, eas!, s!, d, dlr], [f32(o.b1), f32(1 - o.b1), f32(o.b2), f32(1 - o.b2), f32(b3), f32(o.estimLr0), o.safeguardWarmup ? 1 : 0], path),
        )
        const [numeratorWeighted, estimLr] = elementwise(prodigyEstimateOp, [nw, d, dlr, num, l1Norm(['state.gradSum', gradSum!])], [f32(b3), f32(o.estimLr0), f32(o.estimLrCoef)])
        const u = mapLeaves([['expAvg', expAvg!], ['expAvgSq', expAvgSq!], ['params', p]], 1, ([ea, eas, x], path) =>
          elementwise(prodigyUpdateOp, [ea!, eas!, x!, dlr, estimLr!], [f32(o.eps), f32(o.weightDecay)], path),
        )[0]!
        return [u, frozen({ count: tk, expAvg: expAvg!, expAvgSq: expAvgSq!, gradSum: gradSum!, params0: state.params0, estimLr: estimLr!, numeratorWeighted: numeratorWeighted! })] as const
      })
    },
    stateCodec: prodigyCodec,
  }, { needsParams: true })
}

// ---- D-Adaptation AdamW ------------------------------------------------------------------------

/**
 * State of `scaleByDadaptAdamw` (Optax's `DAdaptAdamWState`): the moments, the weighted gradient
 * sum s, the distance estimate d and the weighted numerator (tensors of shape []), the step count.
 */
export interface ScaleByDadaptAdamwState {
  readonly count: number
  readonly expAvg: Params
  readonly expAvgSq: Params
  readonly gradSum: Params
  readonly estimLr: Tensor
  readonly numeratorWeighted: Tensor
}

/** Options of `scaleByDadaptAdamw` (and `dadaptAdamw`). */
export interface ScaleByDadaptAdamwOptions {
  /** The schedule multiplier γ_k (1.0 is the base value), a number ≥ 0 or a schedule. Default 1. */
  readonly learningRate?: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0 outside the root. Default 1e-8. */
  readonly eps?: number
  /** d₀ > 0, the initial (under-)estimate of the distance to the solution. Default 1e-6. */
  readonly estimLr0?: number
  /** λ ≥ 0, AdamW-style decoupled weight decay, scaled by d·γ. Default 0. */
  readonly weightDecay?: number
}

const dadaptNumeratorOp = defineElementwise({
  name: 'scaleByDadaptAdamwNumerator',
  inputs: ['g', 's', 'eas'],
  scalars: ['eps'],
  lets: [['den', 'Math.sqrt(eas) + eps']],
  // den = 0 only where no gradient was seen (v = 0, so s = 0): 0, not 0/0
  outputs: [`g * ${zeroWhereNoGradient('den', nanUnlessFinite('eas', 's / den'))}`],
})
const dadaptMomentsOp = defineElementwise({
  name: 'scaleByDadaptAdamwMoments',
  inputs: ['g', 'ea', 'eas', 's', 'dlr'],
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'sb2', 'omsb2'],
  outputs: ['b1 * ea + omb1 * dlr * g', 'b2 * eas + omb2 * g * g', 'sb2 * s + omsb2 * dlr * g'],
})
const dadaptEstimateOp = defineElementwise({
  name: 'scaleByDadaptAdamwEstimate',
  inputs: ['nw', 'd', 'dlr', 'num', 'l1'],
  scalars: ['sb2', 'omsb2'],
  lets: [['nw1', 'sb2 * nw + omsb2 * dlr * num']],
  outputs: ['nw1', `l1 <= 0 ? d : ${maxOf('d', 'nw1 / (omsb2 * l1)')}`],
})
const dadaptUpdateOp = defineElementwise({
  name: 'scaleByDadaptAdamwUpdate',
  inputs: ['ea', 'eas', 'p', 'dlr'],
  scalars: ['eps', 'wd'],
  lets: [['den', 'Math.sqrt(eas) + eps']],
  outputs: [`wd * dlr * p + ${zeroWhereNoGradient('den', nanUnlessFinite('eas', 'ea / den'))}`],
})

/**
 * D-Adaptation's AdamW step (Defazio & Mishchenko 2023, Algorithm 4 in Optax's form): AdamW whose
 * step size d·γ grows with a lower bound d on ‖x₀ − x*‖ estimated from the iterates. With t = k + 1,
 * √β₂ = β̄, b = √(1 − β₂ᵗ)/(1 − β₁ᵗ), dₗᵣ = d·γ_k·b:
 *
 *   r ← β̄r + (1 − β̄)dₗᵣ ⟨g, s/(√v + ε)⟩   (the old s and v),
 *   m ← β₁m + (1 − β₁)dₗᵣ g,  v ← β₂v + (1 − β₂)g²,  s ← β̄s + (1 − β̄)dₗᵣ g,
 *   d ← max(d, r / ((1 − β̄)Σ|s|)),  u = m / (√v + ε) + λ dₗᵣ x.
 *
 * `u` is a descent direction already scaled: `dadaptAdamw` negates it. Where Σ|s| = 0 (no gradient
 * seen, or γ = 0 so far) d stays, where Optax's max(d, 0/0) is NaN.
 *
 * Defaults: learningRate = 1, b1 = 0.9, b2 = 0.999, eps = 1e-8, estimLr0 = 1e-6, weightDecay = 0.
 * Needs the params. Reference: Defazio & Mishchenko 2023, "Learning-Rate-Free Learning by
 * D-Adaptation"; Optax `contrib.dadapt_adamw`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByDadaptAdamw({ weightDecay: 1e-4 }), scale(-1))
 * ```
 */
export const scaleByDadaptAdamw = (options: ScaleByDadaptAdamwOptions = {}): GradientTransformation<ScaleByDadaptAdamwState> => {
  const name = 'scaleByDadaptAdamw'
  const o = validate(
    name,
    { ...learningRateOption, b1: ranges.unitInterval, b2: ranges.unitInterval, eps: ranges.nonNegative, estimLr0: ranges.positive, weightDecay: ranges.nonNegative },
    options,
    { learningRate: 1, b1: 0.9, b2: 0.999, eps: 1e-8, estimLr0: 1e-6, weightDecay: 0 },
  )
  const sb2 = f32(Math.sqrt(o.b2))
  const omsb2 = f32(1 - sb2)
  const [bc1, bc2] = [bc(o.b1), bc(o.b2)]
  return transformation(name, {
    init: (params: Params) => {
      const backend = backendOf(params)
      return frozen({
        count: 0,
        expAvg: zerosLikeTree(params),
        expAvgSq: zerosLikeTree(params),
        gradSum: zerosLikeTree(params),
        estimLr: backend.fill([], f32(o.estimLr0)),
        numeratorWeighted: backend.fill([], 0),
      })
    },
    update: (updates: Params, state: ScaleByDadaptAdamwState, params?: Params) => {
      const p = requireParams(name, params)
      const k = checkCount(name, state.count)
      const backend = backendOf(updates)
      const d = stateTensor(name, 'estimLr', state.estimLr, backend)
      const nw = stateTensor(name, 'numeratorWeighted', state.numeratorWeighted, backend)
      leafRows([['updates', updates], ['state.expAvg', state.expAvg], ['state.expAvgSq', state.expAvgSq], ['state.gradSum', state.gradSum], ['params', p]])
      const sched = evaluate(name, 'learningRate', o.learningRate, k)
      const tk = k + 1
      const b = f32(Math.sqrt(bc2(tk)) / bc1(tk))
      return scope(() => {
        const dlr = elementwise(prodigyDlrOp, [d], [f32(sched), b])[0]!
        const num = scope(() =>
          total(leafRows([['updates', updates], ['state.gradSum', state.gradSum], ['state.expAvgSq', state.expAvgSq]]).rows.map(([g, s, eas]) => sum(elementwise(dadaptNumeratorOp, [g!, s!, eas!], [f32(o.eps)])[0]!)), backend),
        )
        const [expAvg, expAvgSq, gradSum] = mapLeaves(
          [['updates', updates], ['state.expAvg', state.expAvg], ['state.expAvgSq', state.expAvgSq], ['state.gradSum', state.gradSum]],
          3,
          ([g, ea, eas, s], path) => elementwise(dadaptMomentsOp, [g!, ea!, eas!, s!, dlr], [f32(o.b1), f32(1 - o.b1), f32(o.b2), f32(1 - o.b2), sb2, omsb2], path),
        )
        const [numeratorWeighted, estimLr] = elementwise(dadaptEstimateOp, [nw, d, dlr, num, l1Norm(['state.gradSum', gradSum!])], [sb2, omsb2])
        const u = mapLeaves([['expAvg', expAvg!], ['expAvgSq', expAvgSq!], ['params', p]], 1, ([ea, eas, x], path) =>
          elementwise(dadaptUpdateOp, [ea!, eas!, x!, dlr], [f32(o.eps), f32(o.weightDecay)], path),
        )[0]!
        return [u, frozen({ count: tk, expAvg: expAvg!, expAvgSq: expAvgSq!, gradSum: gradSum!, estimLr: estimLr!, numeratorWeighted: numeratorWeighted! })] as const
      })
    },
    stateCodec: t.strict(
      { count: countCodec, expAvg: paramsCodec, expAvgSq: nonNegativeParamsCodec, gradSum: paramsCodec, estimLr: nonNegativeScalarCodec, numeratorWeighted: scalarCodec },
      '{ count, expAvg, expAvgSq, gradSum, estimLr, numeratorWeighted }',
    ),
  }, { needsParams: true })
}

// ---- DoG ---------------------------------------------------------------------------------------

/** How DoG's first step is set (Optax's `init_step = (tag, value)`). */
export interface DogInitStep {
  /**
   * `'heuristic'`: r₀ = value·(1 + ‖x₀‖); `'distance'`: r₀ = value; `'learningRate'`: the first
   * step size η₀ = value (r₀ = 0).
   */
  readonly type: 'heuristic' | 'distance' | 'learningRate'
  /** A finite number > 0. */
  readonly value: number
}

const initStepCodec = refinement(
  "{ type: 'heuristic' | 'distance' | 'learningRate', value: a finite number > 0 }",
  (u): u is DogInitStep =>
    typeof u === 'object' && u !== null && !Array.isArray(u) &&
    Object.keys(u).every((k) => k === 'type' || k === 'value') &&
    ['heuristic', 'distance', 'learningRate'].includes((u as DogInitStep).type) &&
    ranges.positive.is((u as DogInitStep).value),
)

/** State of `scaleByDog` (Optax's `DoGState`): the first-step flag, x₀, r̄ and G (tensors of shape []). */
export interface ScaleByDogState {
  readonly isInitStep: boolean
  readonly initParams: Params
  readonly maxDist: Tensor
  readonly sumSqNormGrads: Tensor
}

/** Options of `scaleByDog`. */
export interface ScaleByDogOptions {
  /** The first step's specification. Default `{ type: 'heuristic', value: 1e-6 }`. */
  readonly initStep?: DogInitStep
  /** ε ≥ 0 added to G under the root. Default 1e-8. */
  readonly eps?: number
}

const heuristicOp = defineElementwise({ name: 'parameterFreeHeuristic', inputs: ['x'], scalars: ['alpha'], outputs: ['alpha * (1 + Math.sqrt(x))'] })
const dogDistOp = defineElementwise({ name: 'scaleByDogDistance', inputs: ['r', 'dd'], outputs: [maxOf('r', 'Math.sqrt(dd)')] })
const accumulateOp = defineElementwise({ name: 'parameterFreeAccumulate', inputs: ['a', 'b'], outputs: ['a + b'] })
const dogRateOp = defineElementwise({
  name: 'scaleByDogRate',
  inputs: ['r', 'G'],
  scalars: ['eps', 'first', 'eta0'],
  lets: [['den', 'Math.sqrt(G + eps)']],
  // den = 0 only while every gradient so far was 0 (with ε = 0): a 0 step rather than r/0 · 0;
  // an overflowed G (a float32 ∞) gives NaN, not the 0 step r/∞ (docs/nonfinite.md)
  outputs: [`first > 0 ? eta0 : ${zeroWhereNoGradient('den', nanUnlessFinite('G', 'r / den'))}`],
})

const isInitFlag = (name: string, v: unknown): boolean => {
  if (typeof v !== 'boolean') throw new StructureError('state.isInitStep', `${name}: state.isInitStep must be a boolean, got ${String(v)}`)
  return v
}

/**
 * Distance over Gradients (Ivgi, Hinder & Carmon 2023), the global form of Optax's `scale_by_dog`:
 * one step size for the whole tree,
 *
 *   r̄ ← max(r̄, ‖x − x₀‖),  G ← G + ‖g‖²,  η = r̄ / √(G + ε),  u = η g,
 *
 * with r̄ starting at r₀ (`initStep`): value·(1 + ‖x₀‖) (heuristic), value (distance), or 0 with the
 * first step size η₀ = value (learningRate). `init` must get the real initial params (they are x₀).
 * The update is an ascent direction: `dog` follows it with `scaleByLearningRate`.
 *
 * Defaults: initStep = { type: 'heuristic', value: 1e-6 }, eps = 1e-8. State:
 * `{ isInitStep, initParams, maxDist, sumSqNormGrads }`. Needs the params.
 * Reference: Ivgi et al. 2023, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
 * Schedule"; Optax `contrib.scale_by_dog`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByDog({ initStep: { type: 'heuristic', value: 1e-4 } }), scaleByLearningRate(1))
 * ```
 */
export const scaleByDog = (options: ScaleByDogOptions = {}): GradientTransformation<ScaleByDogState> => {
  const name = 'scaleByDog'
  const o = validate(name, { initStep: initStepCodec, eps: ranges.nonNegative }, options, { initStep: { type: 'heuristic', value: 1e-6 }, eps: 1e-8 })
  const { type, value } = o.initStep
  return transformation(name, {
    init: (params: Params) => {
      const backend = backendOf(params)
      const maxDist = type === 'heuristic' ? scope(() => elementwise(heuristicOp, [normSquared(['params', params])], [f32(value)])[0]!) : backend.fill([], type === 'distance' ? f32(value) : 0)
      return frozen({ isInitStep: true, initParams: copyTree(params), maxDist, sumSqNormGrads: backend.fill([], 0) })
    },
    update: (updates: Params, state: ScaleByDogState, params?: Params) => {
      const p = requireParams(name, params)
      const first = isInitFlag(name, state.isInitStep)
      const backend = backendOf(updates)
      const r = stateTensor(name, 'maxDist', state.maxDist, backend)
      const G = stateTensor(name, 'sumSqNormGrads', state.sumSqNormGrads, backend)
      leafRows([['updates', updates], ['state.initParams', state.initParams], ['params', p]])
      return scope(() => {
        const maxDist = elementwise(dogDistOp, [r, distanceSquared(['state.initParams', state.initParams], ['params', p])])[0]!
        const sumSqNormGrads = elementwise(accumulateOp, [G, normSquared(['updates', updates])])[0]!
        const lr = elementwise(dogRateOp, [maxDist, sumSqNormGrads], [f32(o.eps), first && type === 'learningRate' ? 1 : 0, f32(value)])[0]!
        return [scaleTreeBy(updates, lr), frozen({ isInitStep: false, initParams: state.initParams, maxDist, sumSqNormGrads })] as const
      })
    },
    stateCodec: t.strict({ isInitStep: t.boolean, initParams: paramsCodec, maxDist: nonNegativeScalarCodec, sumSqNormGrads: nonNegativeScalarCodec }, '{ isInitStep, initParams, maxDist, sumSqNormGrads }'),
  }, { needsParams: true })
}

// ---- DoWG --------------------------------------------------------------------------------------

/** State of `scaleByDowg` (Optax's `DoWGState`): x₀, the weighted sum of ‖g‖² and r̄² (tensors of shape []). */
export interface ScaleByDowgState {
  readonly initParams: Params
  readonly weightedSqNormGrads: Tensor
  readonly estimSqDist: Tensor
}

/** Options of `scaleByDowg`. */
export interface ScaleByDowgOptions {
  /** r̄₀² > 0, the initial guess of the squared distance to the solution. Default eps. */
  readonly initEstimSqDist?: number
  /** ε ≥ 0 added to √v. Default 1e-4. */
  readonly eps?: number
}

const dowgDistOp = defineElementwise({ name: 'scaleByDowgDistance', inputs: ['r2', 'dd'], outputs: [maxOf('r2', 'dd')] })
const dowgWeightOp = defineElementwise({ name: 'scaleByDowgWeight', inputs: ['r2', 'gg', 'v'], outputs: ['r2 * gg + v'] })
const dowgRateOp = defineElementwise({
  name: 'scaleByDowgRate',
  inputs: ['r2', 'v'],
  scalars: ['eps'],
  lets: [['den', 'Math.sqrt(v) + eps']],
  outputs: [zeroWhereNoGradient('den', nanUnlessFinite('v', 'r2 / den'))],
})

/**
 * Distance over Weighted Gradients (Khaled, Mishchenko & Jin 2023), Optax's `scale_by_dowg`:
 *
 *   r̄² ← max(r̄², ‖x − x₀‖²),  v ← v + r̄²‖g‖²,  η = r̄² / (√v + ε),  u = η g.
 *
 * `init` must get the real initial params. The update is an ascent direction: `dowg` follows it
 * with `scaleByLearningRate`.
 *
 * Defaults: initEstimSqDist = eps, eps = 1e-4. State: `{ initParams, weightedSqNormGrads,
 * estimSqDist }`. Needs the params.
 * Reference: Khaled et al. 2023, "DoWG Unleashed: An Efficient Universal Parameter-Free Gradient
 * Descent Method"; Optax `contrib.scale_by_dowg`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByDowg(), scaleByLearningRate(1))
 * ```
 */
export const scaleByDowg = (options: ScaleByDowgOptions = {}): GradientTransformation<ScaleByDowgState> => {
  const name = 'scaleByDowg'
  const o = validate(name, { initEstimSqDist: optional(ranges.positive, 'eps'), eps: ranges.nonNegative }, options, { eps: 1e-4 })
  const r0 = o.initEstimSqDist ?? o.eps
  return transformation(name, {
    init: (params: Params) => {
      const backend = backendOf(params)
      return frozen({ initParams: copyTree(params), weightedSqNormGrads: backend.fill([], 0), estimSqDist: backend.fill([], f32(r0)) })
    },
    update: (updates: Params, state: ScaleByDowgState, params?: Params) => {
      const p = requireParams(name, params)
      const backend = backendOf(updates)
      const r2 = stateTensor(name, 'estimSqDist', state.estimSqDist, backend)
      const v = stateTensor(name, 'weightedSqNormGrads', state.weightedSqNormGrads, backend)
      leafRows([['updates', updates], ['state.initParams', state.initParams], ['params', p]])
      return scope(() => {
        const estimSqDist = elementwise(dowgDistOp, [r2, distanceSquared(['state.initParams', state.initParams], ['params', p])])[0]!
        const weightedSqNormGrads = elementwise(dowgWeightOp, [estimSqDist, normSquared(['updates', updates]), v])[0]!
        const lr = elementwise(dowgRateOp, [estimSqDist, weightedSqNormGrads], [f32(o.eps)])[0]!
        return [scaleTreeBy(updates, lr), frozen({ initParams: state.initParams, weightedSqNormGrads, estimSqDist })] as const
      })
    },
    stateCodec: t.strict({ initParams: paramsCodec, weightedSqNormGrads: nonNegativeScalarCodec, estimSqDist: nonNegativeScalarCodec }, '{ initParams, weightedSqNormGrads, estimSqDist }'),
  }, { needsParams: true })
}

// ---- layer-wise DoG (Optax's scale_by_distance_over_gradients) ----------------------------------

/**
 * State of `scaleByDistanceOverGradients` (Optax's `ScaleByDistanceOverGradientsState`): per leaf,
 * r̄ and the sum of squared gradient entries (tensors of shape []), and x₀.
 */
export interface ScaleByDistanceOverGradientsState {
  readonly maxDist: Params
  readonly gradSumOfSquares: Params
  readonly initParams: Params
}

/** Options of `scaleByDistanceOverGradients`. */
export interface ScaleByDistanceOverGradientsOptions {
  /** r_rel > 0: each leaf's r̄ starts at r_rel·(1 + ‖x₀‖). Default 1e-6 (1e-4 for models with batch norm). */
  readonly repsRel?: number
  /** ε ≥ 0 added to G under the root. Default 1e-8. */
  readonly eps?: number
  /** A finite factor on every step, typically 1 or −1. Default 1. */
  readonly globalScale?: number
}

const ldogOp = defineElementwise({
  name: 'scaleByDistanceOverGradients',
  inputs: ['g', 'r', 'G'],
  scalars: ['scale', 'eps'],
  lets: [['den', 'Math.sqrt(G + eps)']],
  outputs: [zeroWhereNoGradient('den', nanUnlessFinite('G', '(scale * (r / den)) * g'))],
})

/**
 * Layer-wise Distance over Gradients (LDoG; Ivgi et al. 2023 §4), Optax's
 * `scale_by_distance_over_gradients`: DoG's step size computed per leaf,
 *
 *   r̄ₗ ← max(r̄ₗ, ‖xₗ − x₀ₗ‖),  Gₗ ← Gₗ + ‖gₗ‖²,  u = s · (r̄ₗ / √(Gₗ + ε)) · gₗ,
 *
 * with r̄ₗ = r_rel·(1 + ‖x₀ₗ‖) at init and s = globalScale. The update is an ascent direction (with
 * s = 1): follow it with `scaleByLearningRate`. `init` must get the real initial params.
 *
 * Defaults: repsRel = 1e-6, eps = 1e-8, globalScale = 1. State: `{ maxDist, gradSumOfSquares,
 * initParams }` (Optax stores G with shape [1]; here it is [] like r̄). Needs the params.
 * Reference: Ivgi et al. 2023, "DoG is SGD's Best Friend"; Optax `scale_by_distance_over_gradients`.
 *
 * @example
 * ```ts
 * const ldog = chain(scaleByDistanceOverGradients({ repsRel: 1e-4 }), scaleByLearningRate(1))
 * ```
 */
export const scaleByDistanceOverGradients = (options: ScaleByDistanceOverGradientsOptions = {}): GradientTransformation<ScaleByDistanceOverGradientsState> => {
  const name = 'scaleByDistanceOverGradients'
  const o = validate(name, { repsRel: ranges.positive, eps: ranges.nonNegative, globalScale: ranges.finite }, options, { repsRel: 1e-6, eps: 1e-8, globalScale: 1 })
  return transformation(name, {
    init: (params: Params) => {
      const [maxDist, gradSumOfSquares] = mapLeaves([['params', params]], 2, ([x]) => [scope(() => elementwise(heuristicOp, [sum(elementwise(productOp, [x!, x!])[0]!)], [f32(o.repsRel)])[0]!), x!.backend.fill([], 0)])
      return frozen({ maxDist: maxDist!, gradSumOfSquares: gradSumOfSquares!, initParams: copyTree(params) })
    },
    update: (updates: Params, state: ScaleByDistanceOverGradientsState, params?: Params) => {
      const p = requireParams(name, params)
      const rs = perLeafScalars(name, 'maxDist', updates, state.maxDist)
      const gs = perLeafScalars(name, 'gradSumOfSquares', updates, state.gradSumOfSquares)
      const [u, maxDist, gradSumOfSquares] = mapLeaves([['updates', updates], ['params', p], ['state.initParams', state.initParams]], 3, ([g, x, x0], path, j) =>
        scope(() => {
          const r = elementwise(dogDistOp, [rs[j]!, sum(elementwise(diffSquareOp, [x!, x0!], [], path)[0]!)], [], path)[0]!
          const G = elementwise(accumulateOp, [gs[j]!, sum(elementwise(productOp, [g!, g!], [], path)[0]!)], [], path)[0]!
          return [elementwise(ldogOp, [g!, r, G], [f32(o.globalScale), f32(o.eps)], path)[0]!, r, G]
        }),
      )
      return [u!, frozen({ maxDist: maxDist!, gradSumOfSquares: gradSumOfSquares!, initParams: state.initParams })] as const
    },
    stateCodec: t.strict({ maxDist: nonNegativeParamsCodec, gradSumOfSquares: nonNegativeParamsCodec, initParams: paramsCodec }, '{ maxDist, gradSumOfSquares, initParams }'),
  }, { needsParams: true })
}

// ---- COCOB -------------------------------------------------------------------------------------

/** State of `scaleByCocob` (Optax's `COCOBState`): x₀, and per element −Σg, L, Σ|g| and the reward. */
export interface ScaleByCocobState {
  readonly initParticles: Params
  readonly cumulativeGradients: Params
  readonly scale: Params
  readonly subgradients: Params
  readonly reward: Params
}

/** Options of `scaleByCocob`. */
export interface ScaleByCocobOptions {
  /** α ≥ 0, bounds the fraction of the wealth bet early on. Default 100. */
  readonly alpha?: number
  /** ε ≥ 0, the initial scale L₀. Default 1e-8. */
  readonly eps?: number
}

const cocobOp = defineElementwise({
  name: 'scaleByCocob',
  inputs: ['g', 'p', 'p0', 'C', 'L', 'G', 'R'],
  scalars: ['alpha'],
  lets: [
    ['L1', maxOf('L', 'Math.abs(g)')],
    ['G1', 'G + Math.abs(g)'],
    ['R1', maxOf('R - g * (p - p0)', '0')],
    ['C1', 'C - g'],
    ['M', maxOf('G1 + L1', 'alpha * L1')],
  ],
  // Optax's C/(L·M)·(L + R), as (C/M)·((L + R)/L): the same number without the float32 overflow of
  // L·M for |g| ≳ 1e18; L = 0 only while every gradient was 0 with ε = 0 (then C = 0): no bet
  outputs: ['C1', 'L1', 'G1', 'R1', `(p0 + (L1 <= 0 ? 0 : (C1 / M) * ((L1 + R1) / L1))) - p`],
})

/**
 * COCOB-Backprop's step (Orabona & Tommasi 2017, Algorithm 2), Optax's `scale_by_cocob`: per
 * element, with L the largest |g| so far, G = Σ|g|, C = −Σg and the reward R,
 *
 *   L ← max(L, |g|),  G ← G + |g|,  R ← max(R − g(x − x₀), 0),  C ← C − g,
 *   x_new = x₀ + C / (L max(G + L, αL)) · (L + R),  u = x_new − x.
 *
 * The update is the move to the new point (no learning rate after it); `cocob` scales the gradient
 * by a learning rate before it. `init` must get the real initial params.
 *
 * Defaults: alpha = 100, eps = 1e-8. State: `{ initParticles, cumulativeGradients, scale,
 * subgradients, reward }`. Needs the params.
 * Reference: Orabona & Tommasi 2017, "Training Deep Networks without Learning Rates Through Coin
 * Betting"; Optax `contrib.scale_by_cocob`.
 *
 * @example
 * ```ts
 * const opt = scaleByCocob({ alpha: 100 })
 * ```
 */
export const scaleByCocob = (options: ScaleByCocobOptions = {}): GradientTransformation<ScaleByCocobState> => {
  const name = 'scaleByCocob'
  const o = validate(name, { alpha: ranges.nonNegative, eps: ranges.nonNegative }, options, { alpha: 100, eps: 1e-8 })
  const eps = f32(o.eps)
  return transformation(name, {
    init: (params: Params) =>
      frozen({
        initParticles: copyTree(params),
        cumulativeGradients: zerosLikeTree(params),
        scale: mapLeaves([['params', params]], 1, ([x]) => [x!.backend.fill(x!.shape, eps)])[0]!,
        subgradients: zerosLikeTree(params),
        reward: zerosLikeTree(params),
      }),
    update: (updates: Params, state: ScaleByCocobState, params?: Params) => {
      const p = requireParams(name, params)
      const [C, L, G, R, u] = mapLeaves(
        [['updates', updates], ['params', p], ['state.initParticles', state.initParticles], ['state.cumulativeGradients', state.cumulativeGradients], ['state.scale', state.scale], ['state.subgradients', state.subgradients], ['state.reward', state.reward]],
        5,
        (row, path) => elementwise(cocobOp, row, [f32(o.alpha)], path),
      )
      return [u!, frozen({ initParticles: state.initParticles, cumulativeGradients: C!, scale: L!, subgradients: G!, reward: R! })] as const
    },
    stateCodec: t.strict(
      { initParticles: paramsCodec, cumulativeGradients: paramsCodec, scale: nonNegativeParamsCodec, subgradients: nonNegativeParamsCodec, reward: nonNegativeParamsCodec },
      '{ initParticles, cumulativeGradients, scale, subgradients, reward }',
    ),
  }, { needsParams: true })
}

// ---- MoMo --------------------------------------------------------------------------------------

/** The loss value from `update`'s extras, or a HyperparameterError saying how to pass it. */
const lossValue = (transform: string, extra: UpdateExtras | undefined): number => {
  const v = extra?.value
  if (typeof v !== 'number') {
    throw new HyperparameterError(transform, 'value', v, 'a number: the loss f(θ) at the params (the latest batch loss), passed as update(grads, state, params, { value })')
  }
  return v
}

/** State of `scaleByMomo` (Optax's `MomoState`): the momentum, f̄ (a number), γ and the lower bound (tensors of shape []), the count. */
export interface ScaleByMomoState {
  readonly count: number
  readonly expAvg: Params
  readonly barf: number
  readonly gamma: Tensor
  readonly lb: Tensor
}

/** Options of `scaleByMomo` (and `momo`). */
export interface ScaleByMomoOptions {
  /** α, the largest step size, a number ≥ 0 or a schedule. Default 1. */
  readonly learningRate?: ScalarOrSchedule
  /** β in [0, 1), the momentum (the average of gradients, values and ⟨g, x⟩). Default 0.9. */
  readonly beta?: number
  /** f*, a finite lower bound of the loss. Default 0. */
  readonly lowerBound?: number
  /** λ ≥ 0, weight decay (the proximal form of the paper). Default 0. */
  readonly weightDecay?: number
  /** Estimate the lower bound on the fly, starting from `lowerBound`. Default false. */
  readonly adaptLowerBound?: boolean
}

// Optax compares ‖m‖² with jnp.finfo(float).eps, the float64 machine epsilon
const momoTiny = 2.220446049250313e-16

const emaPairOp = defineElementwise({ name: 'scaleByMomoAverage', inputs: ['m', 'g'], scalars: ['b', 'omb'], outputs: ['b * m + omb * g'] })
const momoGammaOp = defineElementwise({ name: 'scaleByMomoGamma', inputs: ['gamma', 'gp'], scalars: ['b', 'omb'], outputs: ['b * gamma + omb * gp'] })
const momoStepOp = defineElementwise({
  name: 'scaleByMomoStep',
  inputs: ['gamma', 'ip', 'mm', 'lb'],
  scalars: ['barf', 'c', 'lower', 'adapt', 'bc1', 'tauMax'],
  lets: [
    ['cap', 'c * (barf - gamma) + ip'],
    ['thisLb', `adapt > 0 ? (cap < c * bc1 * lb ? ${maxOf('cap / (2 * bc1 * c)', 'lower')} : lb) : lb`],
    ['t1', `mm <= ${momoTiny} ? 0 : ${nanUnlessFinite('mm', `${maxOf('c * (barf - bc1 * thisLb - gamma) + ip', '0')} / mm`)}`],
    ['tau', 'Math.min(tauMax, t1)'],
  ],
  outputs: ['tau', `adapt > 0 ? ${maxOf('((barf + ip - gamma) - 0.5 * tau * mm) / bc1', 'lower')} : lb`],
})
const momoUpdateOp = defineElementwise({ name: 'scaleByMomoUpdate', inputs: ['m', 'p', 'tau'], scalars: ['decay'], outputs: ['decay * p + tau * m'] })

const momoCodecProps = { count: countCodec, expAvg: paramsCodec, barf: floatCodec, gamma: scalarCodec, lb: scalarCodec }

/**
 * MoMo's step (Schaipp et al. 2023, Algorithm 1 with weight decay, Optax's `momo`): SGD with
 * momentum whose step size is a Polyak-type step on a model of the loss built from averages, capped
 * at α. With β₀ = 0 at the first step (the averages start at the first values) and β after, the
 * loss f (from `update`'s extras: `{ value }`) and c = 1 + αλ:
 *
 *   f̄ ← βf̄ + (1 − β)f,  m ← βm + (1 − β)g,  γ ← βγ + (1 − β)⟨g, x⟩,
 *   τ = min(α, max(c(f̄ − f* − γ) + ⟨m, x⟩, 0) / ‖m‖²)   (τ = 0 where ‖m‖² ≤ 2.2e-16),
 *   u = (αλ/c) x + τ m.
 *
 * With `adaptLowerBound`, f* is replaced by an estimate that starts at `lowerBound` and is revised
 * each step (the paper's Algorithm 3), never below `lowerBound`. The update is a descent direction
 * already scaled: `momo` negates it.
 *
 * `update` needs the params and the loss value: `update(grads, state, params, { value })`; without
 * a number there it throws a HyperparameterError naming `value`.
 *
 * Defaults: learningRate = 1, beta = 0.9, lowerBound = 0, weightDecay = 0, adaptLowerBound = false.
 * State: `{ count, expAvg, barf, gamma, lb }`.
 * Reference: Schaipp et al. 2023, "MoMo: Momentum Models for Adaptive Learning Rates"; Optax
 * `contrib.momo`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByMomo({ learningRate: 1 }), scale(-1))
 * const w = fromArray([1, 2, 3])
 * const [u] = opt.update(scaleTensor(w, 2), opt.init(w), w, { value: 14 })
 * ```
 */
export const scaleByMomo = (options: ScaleByMomoOptions = {}): GradientTransformation<ScaleByMomoState> => {
  const name = 'scaleByMomo'
  const o = validate(
    name,
    { ...learningRateOption, beta: ranges.unitInterval, lowerBound: ranges.finite, weightDecay: ranges.nonNegative, adaptLowerBound: ranges.boolean },
    options,
    { learningRate: 1, beta: 0.9, lowerBound: 0, weightDecay: 0, adaptLowerBound: false },
  )
  return transformation(name, {
    init: (params: Params) => {
      const backend = backendOf(params)
      return frozen({ count: 0, expAvg: zerosLikeTree(params), barf: 0, gamma: backend.fill([], 0), lb: backend.fill([], f32(o.lowerBound)) })
    },
    update: (updates: Params, state: ScaleByMomoState, params?: Params, extra?: UpdateExtras) => {
      const p = requireParams(name, params)
      const value = lossValue(name, extra)
      const k = checkCount(name, state.count)
      if (!floatCodec.is(state.barf)) throw new StructureError('state.barf', `${name}: state.barf must be a number, got ${String(state.barf)}`)
      const backend = backendOf(updates)
      const gamma = stateTensor(name, 'gamma', state.gamma, backend)
      const lb = stateTensor(name, 'lb', state.lb, backend)
      leafRows([['updates', updates], ['state.expAvg', state.expAvg], ['params', p]])
      const alpha = evaluate(name, 'learningRate', o.learningRate, k)
      const b = k === 0 ? 0 : o.beta
      const [bt, omb] = [f32(b), f32(1 - b)]
      const barf = f32(f32(bt * state.barf) + f32(omb * f32(value)))
      const c = f32(1 + f32(f32(alpha) * f32(o.weightDecay)))
      return scope(() => {
        const expAvg = mapLeaves([['state.expAvg', state.expAvg], ['updates', updates]], 1, ([m, g], path) => elementwise(emaPairOp, [m!, g!], [bt, omb], path))[0]!
        const gamma1 = elementwise(momoGammaOp, [gamma, dot(['updates', updates], ['params', p])], [bt, omb])[0]!
        const mm = normSquared(['expAvg', expAvg])
        const ip = dot(['expAvg', expAvg], ['params', p])
        const [tau, lb1] = elementwise(momoStepOp, [gamma1, ip, mm, lb], [barf, c, f32(o.lowerBound), o.adaptLowerBound ? 1 : 0, 1, f32(alpha)])
        const decay = f32(f32(f32(alpha) * f32(o.weightDecay)) / c)
        const u = mapLeaves([['expAvg', expAvg], ['params', p]], 1, ([m, x], path) => elementwise(momoUpdateOp, [m!, x!, tau!], [decay], path))[0]!
        return [u, frozen({ count: k + 1, expAvg, barf, gamma: gamma1, lb: lb1! })] as const
      })
    },
    stateCodec: t.strict(momoCodecProps, '{ count, expAvg, barf, gamma, lb }'),
  }, { needsParams: true })
}

/** State of `scaleByMomoAdam` (Optax's `MomoAdamState`). */
export interface ScaleByMomoAdamState {
  readonly count: number
  readonly expAvg: Params
  readonly expAvgSq: Params
  readonly barf: number
  readonly gamma: Tensor
  readonly lb: Tensor
}

/** Options of `scaleByMomoAdam` (and `momoAdam`). */
export interface ScaleByMomoAdamOptions {
  /** α, the largest step size, a number ≥ 0 or a schedule. Default 1e-2. */
  readonly learningRate?: ScalarOrSchedule
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0 outside the root. Default 1e-8. */
  readonly eps?: number
  /** f*, a finite lower bound of the loss. Default 0. */
  readonly lowerBound?: number
  /** λ ≥ 0, AdamW-like weight decay. Default 0. */
  readonly weightDecay?: number
  /** Estimate the lower bound on the fly, starting from `lowerBound`. Default false. */
  readonly adaptLowerBound?: boolean
}

const momoAdamMomentsOp = defineElementwise({
  name: 'scaleByMomoAdamMoments',
  inputs: ['g', 'm', 'v'],
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'bc2', 'eps'],
  lets: [
    ['m1', 'b1 * m + omb1 * g'],
    ['v1', 'b2 * v + omb2 * g * g'],
    ['prec', 'eps + Math.sqrt(v1 / bc2)'],
  ],
  // prec = 0 only where no gradient was seen (v = 0 with ε = 0, so m = 0): 0, not 0/0
  outputs: ['m1', 'v1', zeroWhereNoGradient('prec', nanUnlessFinite('v1', 'm1 / prec'))],
})

/**
 * MoMo-Adam's step (Schaipp et al. 2023, Algorithm 2, Optax's `momo_adam`): Adam's preconditioned
 * direction with MoMo's Polyak-type step size. With t = k + 1, bᵢ = 1 − βᵢᵗ, the loss f from
 * `update`'s extras, D = ε + √(v/b₂) and c = 1 + αλ:
 *
 *   f̄ ← β₁f̄ + (1 − β₁)f,  m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²,  γ ← β₁γ + (1 − β₁)⟨g, x⟩,
 *   τ = min(α/b₁, max(c(f̄ − b₁f* − γ) + ⟨m, x⟩, 0) / ⟨m, m/D⟩)   (τ = 0 where ⟨m, m/D⟩ ≤ 2.2e-16),
 *   u = (αλ/c) x + τ m/D.
 *
 * `adaptLowerBound` revises f* each step as in `scaleByMomo` (bias-corrected by b₁). The update is
 * a descent direction already scaled: `momoAdam` negates it. `update` needs the params and
 * `{ value }` in its extras.
 *
 * Defaults: learningRate = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, lowerBound = 0, weightDecay = 0,
 * adaptLowerBound = false. State: `{ count, expAvg, expAvgSq, barf, gamma, lb }`.
 * Reference: Schaipp et al. 2023, "MoMo: Momentum Models for Adaptive Learning Rates"; Optax
 * `contrib.momo_adam`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByMomoAdam({ learningRate: 1e-2 }), scale(-1))
 * ```
 */
export const scaleByMomoAdam = (options: ScaleByMomoAdamOptions = {}): GradientTransformation<ScaleByMomoAdamState> => {
  const name = 'scaleByMomoAdam'
  const o = validate(
    name,
    { ...learningRateOption, b1: ranges.unitInterval, b2: ranges.unitInterval, eps: ranges.nonNegative, lowerBound: ranges.finite, weightDecay: ranges.nonNegative, adaptLowerBound: ranges.boolean },
    options,
    { learningRate: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-8, lowerBound: 0, weightDecay: 0, adaptLowerBound: false },
  )
  const [bc1, bc2] = [bc(o.b1), bc(o.b2)]
  return transformation(name, {
    init: (params: Params) => {
      const backend = backendOf(params)
      return frozen({ count: 0, expAvg: zerosLikeTree(params), expAvgSq: zerosLikeTree(params), barf: 0, gamma: backend.fill([], 0), lb: backend.fill([], f32(o.lowerBound)) })
    },
    update: (updates: Params, state: ScaleByMomoAdamState, params?: Params, extra?: UpdateExtras) => {
      const p = requireParams(name, params)
      const value = lossValue(name, extra)
      const k = checkCount(name, state.count)
      if (!floatCodec.is(state.barf)) throw new StructureError('state.barf', `${name}: state.barf must be a number, got ${String(state.barf)}`)
      const backend = backendOf(updates)
      const gamma = stateTensor(name, 'gamma', state.gamma, backend)
      const lb = stateTensor(name, 'lb', state.lb, backend)
      leafRows([['updates', updates], ['state.expAvg', state.expAvg], ['state.expAvgSq', state.expAvgSq], ['params', p]])
      const alpha = f32(evaluate(name, 'learningRate', o.learningRate, k))
      const tk = k + 1
      const [b1, omb1] = [f32(o.b1), f32(1 - o.b1)]
      const barf = f32(f32(b1 * state.barf) + f32(omb1 * f32(value)))
      const c = f32(1 + f32(alpha * f32(o.weightDecay)))
      const b1t = bc1(tk)
      return scope(() => {
        const [expAvg, expAvgSq, weighted] = mapLeaves([['updates', updates], ['state.expAvg', state.expAvg], ['state.expAvgSq', state.expAvgSq]], 3, ([g, m, v], path) =>
          elementwise(momoAdamMomentsOp, [g!, m!, v!], [b1, omb1, f32(o.b2), f32(1 - o.b2), bc2(tk), f32(o.eps)], path),
        )
        const mm = dot(['expAvg', expAvg!], ['weighted', weighted!])
        const gamma1 = elementwise(momoGammaOp, [gamma, dot(['updates', updates], ['params', p])], [b1, omb1])[0]!
        const ip = dot(['expAvg', expAvg!], ['params', p])
        const [tau, lb1] = elementwise(momoStepOp, [gamma1, ip, mm, lb], [barf, c, f32(o.lowerBound), o.adaptLowerBound ? 1 : 0, b1t, f32(alpha / b1t)])
        const decay = f32(f32(alpha * f32(o.weightDecay)) / c)
        const u = mapLeaves([['weighted', weighted!], ['params', p]], 1, ([m, x], path) => elementwise(momoUpdateOp, [m!, x!, tau!], [decay], path))[0]!
        return [u, frozen({ count: tk, expAvg: expAvg!, expAvgSq: expAvgSq!, barf, gamma: gamma1, lb: lb1! })] as const
      })
    },
    stateCodec: t.strict({ ...momoCodecProps, expAvgSq: nonNegativeParamsCodec }, '{ count, expAvg, expAvgSq, barf, gamma, lb }'),
  }, { needsParams: true })
}

// ---- Mechanic ----------------------------------------------------------------------------------

/**
 * State of `mechanize` (Optax's `MechanicState`): the base optimizer's state, the step count, the
 * per-β accumulators r, m, v and scales s (tensors of shape [numBetas]), and x₀.
 */
export interface MechanicState {
  readonly baseOptimizerState: unknown
  readonly count: number
  readonly r: Tensor
  readonly m: Tensor
  readonly v: Tensor
  readonly s: Tensor
  readonly x0: Params
}

/** Options of `mechanize`. */
export interface MechanizeOptions {
  /** λ ≥ 0, Mechanic's own weight decay on the gradient (not the base optimizer's). Default 1e-2. */
  readonly weightDecay?: number
  /** ε > 0 (m and s are 0/0 at the first step with ε = 0). Default 1e-8. */
  readonly eps?: number
  /** s₀ > 0, the initial scale of each β, and the wealth's floor. Default 1e-6. */
  readonly sInit?: number
  /** n ≥ 1: the βᵢ = 1 − 0.1ⁱ, i = 1…n. Default 6. */
  readonly numBetas?: number
}

const mechanicCoefOp = defineElementwise({
  name: 'mechanizeDecay',
  inputs: ['sSum', 'gg', 'pp'],
  scalars: ['wd', 'eps'],
  outputs: ['(wd * sSum * Math.sqrt(gg)) / (Math.sqrt(pp) + eps)'],
})
const mechanicInnerOp = defineElementwise({
  name: 'mechanizeInner',
  inputs: ['g', 'p', 'x0', 'coef', 'sSum'],
  scalars: ['eps'],
  outputs: ['(g + coef * p) * ((x0 - p) / (sSum + eps))'],
})
const mechanicBetasOp = defineElementwise({
  name: 'mechanizeBetas',
  inputs: ['m', 'v', 'r', 's', 'beta', 'h'],
  scalars: ['eps', 'floor'],
  lets: [
    ['ch', 'Math.min(Math.max(h, -m), m)'],
    ['m1', maxOf('beta * m', 'Math.abs(h) + eps')],
    ['v1', 'beta * beta * v + h * h'],
    ['r1', 'beta * r + ch * s'],
  ],
  outputs: ['m1', 'v1', 'r1', `(floor * m1 + ${maxOf('0', 'r1')}) / (Math.sqrt(v1) + eps)`],
})
const mechanicUpdateOp = defineElementwise({
  name: 'mechanizeUpdate',
  inputs: ['x0', 'p', 'nu', 'sSum', 'sNew'],
  scalars: ['eps'],
  lets: [['delta', '(x0 - p) / (sSum + eps) - nu']],
  outputs: ['(x0 - sNew * delta) - p'],
})

const isTransformation = (u: unknown): u is AnyTransformation =>
  typeof u === 'object' && u !== null && typeof (u as AnyTransformation).init === 'function' && typeof (u as AnyTransformation).update === 'function'

/**
 * Mechanic (Cutkosky, Defazio & Mehta 2023, Algorithm 1 in Optax's memory-saving form): learns the
 * scale of a base optimizer's updates. The base's updates Δ are accumulated around x₀ and the
 * params are set to x₀ + (Σᵢsᵢ)·Δ, where the scales sᵢ (one per βᵢ = 1 − 0.1ⁱ) are bets of a
 * coin-betting scheme on h = ⟨g̃, Δ_prev⟩:
 *
 *   g̃ = g + λ (Σs) ‖g‖ / (‖x‖ + ε) · x,  Δ_prev = (x₀ − x)/(Σs + ε),  Δ = Δ_prev − u_base,
 *   mᵢ ← max(βᵢmᵢ, |h| + ε),  vᵢ ← βᵢ²vᵢ + h²,  rᵢ ← βᵢrᵢ + clip(h, −mᵢ, mᵢ)sᵢ (old mᵢ),
 *   sᵢ ← ((s₀/n)mᵢ + max(0, rᵢ)) / (√vᵢ + ε),  u = (x₀ − (Σs)Δ) − x.
 *
 * x₀ is the params of the first update (not those of `init`: a training loop that loads pretrained
 * weights after `init` starts from them). The base optimizer gets the raw gradient and the extras.
 * Use the base optimizer with its usual schedule at peak 1 (or any constant): Mechanic learns the
 * factor.
 *
 * Defaults: weightDecay = 1e-2, eps = 1e-8, sInit = 1e-6, numBetas = 6. State:
 * `{ baseOptimizerState, count, r, m, v, s, x0 }`. Needs the params.
 * Reference: Cutkosky et al. 2023, "Mechanic: A Learning Rate Tuner"; Optax `contrib.mechanize`.
 *
 * @example
 * ```ts
 * const opt = mechanize(adam({ learningRate: 1 }))
 * ```
 */
export const mechanize = (baseOptimizer: AnyTransformation, options: MechanizeOptions = {}): GradientTransformation<MechanicState> => {
  const name = 'mechanize'
  if (!isTransformation(baseOptimizer)) throw new HyperparameterError(name, 'baseOptimizer', baseOptimizer, 'a gradient transformation { init, update }')
  const o = validate(name, { weightDecay: ranges.nonNegative, eps: ranges.positive, sInit: ranges.positive, numBetas: ranges.positiveInteger }, options, { weightDecay: 1e-2, eps: 1e-8, sInit: 1e-6, numBetas: 6 })
  const n = o.numBetas
  const betas = Float32Array.from({ length: n }, (_, i) => 1 - 0.1 ** (i + 1))
  const floor = f32(o.sInit / n)
  const eps = f32(o.eps)
  return transformation(name, {
    init: (params: Params) => {
      const backend = backendOf(params)
      return frozen({
        baseOptimizerState: baseOptimizer.init(params),
        count: 0,
        r: backend.fill([n], 0),
        m: backend.fill([n], 0),
        v: backend.fill([n], 0),
        s: backend.fill([n], f32(o.sInit)),
        x0: copyTree(params),
      })
    },
    update: (updates: Params, state: MechanicState, params?: Params, extra?: UpdateExtras) => {
      const p = requireParams(name, params)
      const count = checkCount(name, state.count)
      const backend = backendOf(updates)
      const [m, v, r, s] = (['m', 'v', 'r', 's'] as const).map((k) => stateTensor(name, k, state[k], backend, [n]))
      leafRows([['updates', updates], ['params', p], ['state.x0', state.x0]])
      return scope(() => {
        const [nu, baseOptimizerState] = baseOptimizer.update(updates, state.baseOptimizerState, p, extra)
        // the first update's params are x₀ (Optax: lax.cond(count == 0, params, state.x0))
        const x0 = count === 0 ? copyTree(p) : state.x0
        const sSum = sum(s!)
        const coef = elementwise(mechanicCoefOp, [sSum, normSquared(['updates', updates]), normSquared(['params', p])], [f32(o.weightDecay), eps])[0]!
        const h = scope(() => total(leafRows([['updates', updates], ['params', p], ['x0', x0]]).rows.map(([g, x, a]) => sum(elementwise(mechanicInnerOp, [g!, x!, a!, coef, sSum], [eps])[0]!)), backend))
        const [m1, v1, r1, s1] = elementwise(mechanicBetasOp, [m!, v!, r!, s!, backend.fromData(betas, [n]), h], [eps, floor])
        const sNew = sum(s1!)
        const u = mapLeaves([['x0', x0], ['params', p], ['base updates', nu]], 1, ([a, x, du], path) => elementwise(mechanicUpdateOp, [a!, x!, du!, sSum, sNew], [eps], path))[0]!
        return [u, frozen({ baseOptimizerState, count: count + 1, r: r1!, m: m1!, v: v1!, s: s1!, x0 })] as const
      })
    },
    stateCodec: t.strict(
      {
        baseOptimizerState: baseOptimizer.stateCodec ?? t.unknown,
        count: countCodec,
        r: paramsCodec,
        m: nonNegativeParamsCodec,
        v: nonNegativeParamsCodec,
        s: paramsCodec,
        x0: paramsCodec,
      },
      '{ baseOptimizerState, count, r, m, v, s, x0 }',
    ),
  }, { needsParams: true })
}
