/**
 * The primitives behind Optax contrib's ADOPT, AdEMAMix (and its simplified form), MADGRAD, Sophia
 * and SAM: ADOPT's second moment taken before the step, AdEMAMix's slow momentum, MADGRAD's dual
 * averaging with cube-root scaling, Sophia's clipped Newton-like step from a Hessian-diagonal
 * estimate passed in through `update`'s extras (with a Hutchinson estimator from a Hessian-vector
 * product), and sharpness-aware minimisation wrapping an outer and an adversarial optimizer.
 *
 * References: the paper cited on each function; Optax 0.2.8 `optax/contrib/_adopt.py`,
 * `_ademamix.py`, `_madgrad.py`, `_sophia.py`, `_sam.py`.
 */
import * as t from 'io-ts'
import { type AnyTransformation, zerosLikeTree } from '../core/base.js'
import { checkCount, elementwiseTree, frozen, leafRows, mapLeaves, requireParams, transformation } from '../core/internal.js'
import { countCodec, countCodecUpTo, paramsCodec, withIdentity } from '../core/state.js'
import type { GradientTransformation, Params, ScalarOrSchedule, Schedule, UpdateExtras } from '../core/types.js'
import { evaluate, nonNegativeOrSchedule, ranges, refinement, validate } from '../core/validate.js'
import { HyperparameterError, StructureError } from '../errors.js'
import { clone, elementwise, scope } from '../tensor/ops.js'
import { type Key, split, uniformValues } from '../tensor/random.js'
import { Tensor, defineElementwise } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import { type AccumulatorState, accumulator, emptyLeaf, nanUnlessFinite, zeroWhereNoGradient } from './accumulator.js'
import { globalNorm } from './clipping.js'
import { biasCorrection } from './raw.js'

const f32 = Math.fround
const float32Max = 3.4028234663852886e38

// 1 − βᵗ in float32, as Optax computes `1 - decay**count` on an int32 count
const bc = (b: number) => biasCorrection(b, 'float32')

/**
 * ε of a max(·, ε) denominator: a number float32 holds as a normal number, so that the denominator
 * is never 0 on any backend (subnormals may be flushed to 0 on a GPU).
 */
const normalFloat32 = refinement('a finite number ≥ 2^-126 ≈ 1.18e-38 (a normal float32 > 0)', (u): u is number => typeof u === 'number' && Number.isFinite(u) && u >= 2 ** -126)

const scheduleOnly = refinement('a schedule (step) => number', (u): u is Schedule => typeof u === 'function')
const probabilityOrSchedule = refinement('a number in [0, 1] or a schedule (step) => number', (u): u is ScalarOrSchedule => ranges.unitIntervalClosed.is(u) || typeof u === 'function')

/** A number-or-schedule at the 0-based step `count`, checked against `range`, rounded to float32. */
const at = (transform: string, field: string, v: ScalarOrSchedule, count: number, range: t.Type<number, number, unknown>) => f32(evaluate(transform, field, v, count, range))

// ---- ADOPT ---------------------------------------------------------------------------------------

/** State of `scaleByAdopt`: step count, the first moment mu and the second moment nu (Optax's `ScaleByAdamState`). */
export type ScaleByAdoptState = AccumulatorState<'mu' | 'nu'>

/** Options of `scaleByAdopt`. */
export interface ScaleByAdoptOptions {
  /** β₁, decay of the first moment, in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂, decay of the second moment, in [0, 1). Default 0.9999. */
  readonly b2?: number
  /** ε in max(√v, ε), a normal float32 > 0. Default 1e-6. */
  readonly eps?: number
  /** Nesterov's look-ahead on the momentum. Default false. */
  readonly nesterov?: boolean
  /** Clip the normalised gradient to ±c(k). Default true. */
  readonly useClipping?: boolean
  /** c(k), the clipping value at the 0-based step k (values ≥ 0; Infinity: no clipping that step). Default k ↦ k^¼. */
  readonly clipValueFn?: Schedule
}

const adoptOp = defineElementwise({
  name: 'scaleByAdopt',
  inputs: ['g', 'mu', 'nu'],
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'eps', 'clipOn', 'c', 'nesterov'],
  lets: [
    ['nu1', 'b2 * nu + omb2 * (g * g)'],
    // the normalisation uses the second moment before this gradient; ν non-finite (overflowed, or
    // from a ±∞ gradient) is NaN here rather than the 0 that g/∞ would give
    ['r0', nanUnlessFinite('nu', 'g / Math.max(Math.sqrt(nu), eps)')],
    ['r', 'clipOn > 0 ? (r0 > c ? c : (r0 < -c ? -c : r0)) : r0'],
    ['mu1', 'b1 * mu + omb1 * r'],
  ],
  outputs: ['mu1', 'nu1', nanUnlessFinite('nu1', 'nesterov > 0 ? b1 * mu1 + omb1 * r : mu1')],
})

/**
 * ADOPT's rescaling: Adam with the second moment of the previous steps normalising the gradient
 * before it enters the momentum, and the first step used only to initialise v:
 *
 *   t = 1:  v ← g², m ← m (= 0), u = 0;
 *   t > 1:  r = clip(g / max(√v, ε), ±c(t − 1)),  m ← β₁m + (1 − β₁)r,  v ← β₂v + (1 − β₂)g²,
 *           u = m (Nesterov: β₁m + (1 − β₁)r),
 *
 * with v the second moment before the step, and c(k) = k^¼ by default (`useClipping`). No bias
 * correction. A non-finite v (an overflowed g², a ±∞ gradient) makes the update NaN rather than
 * the silent 0 of g/∞ (docs/nonfinite.md); Optax's first update is 0 even for a ±∞ gradient.
 *
 * Defaults: b1 = 0.9, b2 = 0.9999, eps = 1e-6, nesterov = false, useClipping = true,
 * clipValueFn = k ↦ k^¼ (Optax's). State: `{ count, mu, nu }`, zeros at init.
 * Reference: Taniguchi et al. 2024, "ADOPT: Modified Adam Can Converge with Any β₂ with the Optimal
 * Rate", Algorithm 2 (with clipping); Optax `contrib.scale_by_adopt`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByAdopt({ b2: 0.999 }), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByAdopt = (options: ScaleByAdoptOptions = {}): GradientTransformation<ScaleByAdoptState> => {
  const name = 'scaleByAdopt'
  const o = validate(
    name,
    { b1: ranges.unitInterval, b2: ranges.unitInterval, eps: normalFloat32, nesterov: ranges.boolean, useClipping: ranges.boolean, clipValueFn: scheduleOnly },
    options,
    { b1: 0.9, b2: 0.9999, eps: 1e-6, nesterov: false, useClipping: true, clipValueFn: (k: number) => k ** 0.25 },
  )
  const clipAt = (count: number): readonly [number, number] => {
    if (!o.useClipping) return [0, 0]
    const c = f32(evaluate(name, 'clipValueFn', o.clipValueFn, count, ranges.nonNegativeOrInfinity))
    return c > float32Max ? [0, 0] : [1, c]
  }
  return accumulator({
    name,
    buffers: ['mu', 'nu'],
    nonNegative: ['nu'],
    op: adoptOp,
    constants: ['nesterov', 'eps'],
    // t = 1: β₂ → 0 (v = g²) and β₁ → 1 (m unchanged), as Optax's `where(count > 0, …)`
    scalars: (k) => {
      const first = k === 1
      const [clipOn, c] = clipAt(k - 1)
      return [first ? 1 : f32(o.b1), first ? 0 : f32(1 - o.b1), first ? 0 : f32(o.b2), first ? 1 : f32(1 - o.b2), f32(o.eps), clipOn, c, o.nesterov ? 1 : 0]
    },
  })
}

// ---- AdEMAMix -----------------------------------------------------------------------------------

/** State of `scaleByAdemamix`: step count, the fast EMA m1, the slow EMA m2 and the second moment nu. */
export type ScaleByAdemamixState = AccumulatorState<'m1' | 'm2' | 'nu'>

/** Options of `scaleByAdemamix`. */
export interface ScaleByAdemamixOptions {
  /** β₁, decay of the fast EMA, in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂, decay of the second moment, in [0, 1). Default 0.999. */
  readonly b2?: number
  /** β₃, decay of the slow EMA, in [0, 1], or a schedule of the 0-based step (`ademamixBeta3Schedule`). Default 0.9999. */
  readonly b3?: ScalarOrSchedule
  /** α ≥ 0, the weight of the slow EMA, or a schedule (`ademamixAlphaSchedule`). Default 6 (the alias: 5). */
  readonly alpha?: ScalarOrSchedule
  /** ε ≥ 0 outside the root. Default 1e-8. */
  readonly eps?: number
  /** ε ≥ 0 inside the root. Default 0. */
  readonly epsRoot?: number
}

const ademamixOp = defineElementwise({
  name: 'scaleByAdemamix',
  inputs: ['g', 'm1', 'm2', 'nu'],
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'b3', 'omb3', 'alpha', 'bc1', 'bc2', 'eps', 'epsRoot'],
  lets: [
    ['fast', 'b1 * m1 + omb1 * g'],
    ['slow', 'b3 * m2 + omb3 * g'],
    ['nu1', 'b2 * nu + omb2 * (g * g)'],
    ['den', 'Math.sqrt(nu1 / bc2 + epsRoot) + eps'],
  ],
  outputs: ['fast', 'slow', 'nu1', zeroWhereNoGradient('den', nanUnlessFinite('nu1', '(fast / bc1 + alpha * slow) / den'))],
})

/**
 * AdEMAMix's rescaling: Adam whose numerator mixes the usual (fast) EMA of the gradient with a
 * slow one that remembers gradients over tens of thousands of steps:
 *
 *   m₁ ← β₁m₁ + (1 − β₁)g,  m₂ ← β₃m₂ + (1 − β₃)g,  ν ← β₂ν + (1 − β₂)g²,
 *   u = (m₁/(1 − β₁ᵗ) + α m₂) / (√(ν/(1 − β₂ᵗ) + ε_root) + ε).
 *
 * The slow EMA has no bias correction (it fills slowly on purpose). β₃ and α may be schedules of
 * the 0-based step (the paper warms both up: `ademamixBeta3Schedule`, `ademamixAlphaSchedule`);
 * their values are checked when evaluated (β₃ in [0, 1], α ≥ 0).
 *
 * Defaults: b1 = 0.9, b2 = 0.999, b3 = 0.9999, alpha = 6, eps = 1e-8, epsRoot = 0 (Optax's
 * `scale_by_ademamix`; its alias `ademamix` uses α = 5). State: `{ count, m1, m2, nu }`, zeros at init.
 * Reference: Pagliardini, Ablin & Grangier 2024, "The AdEMAMix Optimizer: Better, Faster, Older",
 * Algorithm 1; Optax `contrib.scale_by_ademamix`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByAdemamix({ b3: 0.999, alpha: 5 }), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByAdemamix = (options: ScaleByAdemamixOptions = {}): GradientTransformation<ScaleByAdemamixState> => {
  const name = 'scaleByAdemamix'
  const o = validate(
    name,
    { b1: ranges.unitInterval, b2: ranges.unitInterval, b3: probabilityOrSchedule, alpha: nonNegativeOrSchedule, eps: ranges.nonNegative, epsRoot: ranges.nonNegative },
    options,
    { b1: 0.9, b2: 0.999, b3: 0.9999, alpha: 6, eps: 1e-8, epsRoot: 0 },
  )
  const [bc1, bc2] = [bc(o.b1), bc(o.b2)]
  return accumulator({
    name,
    buffers: ['m1', 'm2', 'nu'],
    nonNegative: ['nu'],
    op: ademamixOp,
    constants: ['b1', 'omb1', 'b2', 'omb2', 'eps', 'epsRoot'],
    scalars: (k) => {
      const b3 = at(name, 'b3', o.b3, k - 1, ranges.unitIntervalClosed)
      const alpha = at(name, 'alpha', o.alpha, k - 1, ranges.nonNegative)
      return [f32(o.b1), f32(1 - o.b1), f32(o.b2), f32(1 - o.b2), b3, f32(1 - b3), alpha, bc1(k), bc2(k), f32(o.eps), f32(o.epsRoot)]
    },
  })
}

/** Options of `ademamixAlphaSchedule`. */
export interface AdemamixAlphaScheduleOptions {
  /** α, the final weight of the slow EMA, ≥ 0. Required. */
  readonly alpha: number
  /** T_α, the warm-up length in steps, an integer ≥ 1. Required. */
  readonly warmupSteps: number
}

/**
 * The paper's warm-up of AdEMAMix's α: α(k) = min(k·α/T_α, α), linear from 0 to α over T_α steps,
 * then constant. Pass it as `ademamix({ alpha: ademamixAlphaSchedule(...) })`.
 *
 * Reference: Pagliardini et al. 2024, §3 ("schedulers"), f_α.
 *
 * @example
 * ```ts
 * const opt = ademamix({ learningRate: 1e-3, alpha: ademamixAlphaSchedule({ alpha: 5, warmupSteps: 10_000 }) })
 * ```
 */
export const ademamixAlphaSchedule = (options: AdemamixAlphaScheduleOptions): Schedule => {
  const { alpha, warmupSteps } = validate('ademamixAlphaSchedule', { alpha: ranges.nonNegative, warmupSteps: ranges.positiveInteger }, options)
  return (k: number) => Math.min((k * alpha) / warmupSteps, alpha)
}

/** Options of `ademamixBeta3Schedule`. */
export interface AdemamixBeta3ScheduleOptions {
  /** β_start, the decay at step 0, in (0, 1). Usually β₁. Required. */
  readonly b3Start: number
  /** β₃, the final decay, in (0, 1), ≥ b3Start. Required. */
  readonly b3: number
  /** T_β₃, the warm-up length in steps, an integer ≥ 1. Required. */
  readonly warmupSteps: number
}

/**
 * The paper's warm-up of AdEMAMix's β₃, which grows the slow EMA's half-life linearly in k:
 *
 *   β₃(k) = min(exp(ln β_s · ln β₃ / ((1 − k/T) ln β₃ + (k/T) ln β_s)), β₃),
 *
 * β_start at k = 0, β₃ from k = T on.
 *
 * Reference: Pagliardini et al. 2024, §3 ("schedulers"), f_β₃.
 *
 * @example
 * ```ts
 * const b3 = ademamixBeta3Schedule({ b3Start: 0.9, b3: 0.9999, warmupSteps: 10_000 })
 * const opt = ademamix({ learningRate: 1e-3, b3 })
 * ```
 */
export const ademamixBeta3Schedule = (options: AdemamixBeta3ScheduleOptions): Schedule => {
  const name = 'ademamixBeta3Schedule'
  const o = validate(name, { b3Start: ranges.openUnitInterval, b3: ranges.openUnitInterval, warmupSteps: ranges.positiveInteger }, options)
  if (o.b3 < o.b3Start) throw new HyperparameterError(name, 'b3', o.b3, `a number in (0, 1) ≥ b3Start (${o.b3Start})`)
  const [ls, l3] = [Math.log(o.b3Start), Math.log(o.b3)]
  return (k: number) => {
    const s = Math.min(k / o.warmupSteps, 1)
    return Math.min(Math.exp((ls * l3) / ((1 - s) * l3 + s * ls)), o.b3)
  }
}

/** State of `scaleBySimplifiedAdemamix`: step count, the accumulated momentum m and the second moment n. */
export type ScaleBySimplifiedAdemamixState = AccumulatorState<'m' | 'n'>

/** Options of `scaleBySimplifiedAdemamix`. */
export interface ScaleBySimplifiedAdemamixOptions {
  /** β₁, decay of the (un-normalised) momentum, in [0, 1). Default 0.99. */
  readonly b1?: number
  /** β₂, decay of the second moment, in [0, 1). Default 0.95. */
  readonly b2?: number
  /** α ≥ 0, the weight of the current gradient, or a schedule. Default 0. */
  readonly alpha?: ScalarOrSchedule
  /** ε ≥ 0 outside the root. Default 1e-8. */
  readonly eps?: number
  /** ε ≥ 0 inside the root. Default 0. */
  readonly epsRoot?: number
}

const simplifiedAdemamixOp = defineElementwise({
  name: 'scaleBySimplifiedAdemamix',
  inputs: ['g', 'm', 'n'],
  scalars: ['b1', 'b2', 'alpha', 'bc2', 'eps', 'epsRoot'],
  lets: [
    ['m1', 'g + b1 * m'],
    ['g2', 'g * g'],
    // Optax's lerp: g² + β₂(n − g²)
    ['n1', 'g2 + b2 * (n - g2)'],
    ['den', 'Math.sqrt(n1 / bc2 + epsRoot) + eps'],
  ],
  outputs: ['m1', 'n1', zeroWhereNoGradient('den', nanUnlessFinite('n1', '(m1 + alpha * g) / den'))],
})

/**
 * Simplified AdEMAMix's rescaling: one momentum buffer, accumulated without the (1 − β₁) factor,
 * plus α times the current gradient:
 *
 *   m ← g + β₁m,  n ← β₂n + (1 − β₂)g²,  u = (m + αg) / (√(n/(1 − β₂ᵗ) + ε_root) + ε).
 *
 * α = 0 is Adam with a rescaled learning rate and momentum.
 *
 * Defaults: b1 = 0.99, b2 = 0.95, alpha = 0, eps = 1e-8, epsRoot = 0 (Optax's). State:
 * `{ count, m, n }`, zeros at init.
 * Reference: Morwani et al. 2025, "Connections between Schedule-Free Optimizers, AdEMAMix, and
 * Accelerated SGD Variants"; Optax `contrib.scale_by_simplified_ademamix`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleBySimplifiedAdemamix({ alpha: 2 }), scaleByLearningRate(1e-4))
 * ```
 */
export const scaleBySimplifiedAdemamix = (options: ScaleBySimplifiedAdemamixOptions = {}): GradientTransformation<ScaleBySimplifiedAdemamixState> => {
  const name = 'scaleBySimplifiedAdemamix'
  const o = validate(
    name,
    { b1: ranges.unitInterval, b2: ranges.unitInterval, alpha: nonNegativeOrSchedule, eps: ranges.nonNegative, epsRoot: ranges.nonNegative },
    options,
    { b1: 0.99, b2: 0.95, alpha: 0, eps: 1e-8, epsRoot: 0 },
  )
  const bc2 = bc(o.b2)
  return accumulator({
    name,
    buffers: ['m', 'n'],
    nonNegative: ['n'],
    op: simplifiedAdemamixOp,
    constants: ['b1', 'b2', 'eps', 'epsRoot'],
    scalars: (k) => [f32(o.b1), f32(o.b2), at(name, 'alpha', o.alpha, k - 1, ranges.nonNegative), bc2(k), f32(o.eps), f32(o.epsRoot)],
  })
}

// ---- MADGRAD ------------------------------------------------------------------------------------

/** State of `scaleByMadgrad` (Optax's `MadgradState`): step count, Σλg², Σλg and the initial params x₀. */
export interface ScaleByMadgradState {
  readonly count: number
  readonly gradSumSq: Params
  readonly s: Params
  readonly x0: Params
}

/** Options of `scaleByMadgrad`. */
export interface ScaleByMadgradOptions {
  /** η ≥ 0, a number or a schedule of the 0-based step. Required. */
  readonly learningRate: ScalarOrSchedule
  /** c, the momentum (the weight of the previous iterate), in [0, 1). Default 0.9. */
  readonly momentum?: number
  /** ε ≥ 0, added to η and to the cube root. Default 1e-6. */
  readonly eps?: number
}

const madgradOp = defineElementwise({
  name: 'scaleByMadgrad',
  inputs: ['g', 'G', 's', 'x0', 'p'],
  scalars: ['lamb', 'eps', 'c', 'omc'],
  lets: [
    ['G1', 'G + lamb * (g * g)'],
    ['s1', 's + lamb * g'],
    ['sigma', 'Math.cbrt(G1) + eps'],
    // σ = 0 only where no gradient was ever seen (G = s = 0): z = x₀ there, not 0/0
    ['z', `x0 - ${zeroWhereNoGradient('sigma', 's1 / sigma')}`],
  ],
  outputs: ['G1', 's1', nanUnlessFinite('G1', '(omc * z + c * p) - p')],
})

/**
 * MADGRAD's step, a momentumised dual averaging with cube-root adaptivity, returned as the update
 * x_{k+1} − x_k (so no learning rate follows it): with λ_k = (η_k + ε)√(k + 1),
 *
 *   G ← G + λ_k g²,  s ← s + λ_k g,  z = x₀ − s / (∛G + ε),  x_{k+1} = (1 − c) z + c x_k.
 *
 * x₀ is the params at `init`. Needs the params. A non-finite G (a ±∞ gradient or an overflowed
 * λg²) makes the update NaN rather than the x₀-pull that s/∞ = 0 would give (docs/nonfinite.md).
 *
 * Defaults: momentum = 0.9, eps = 1e-6 (Optax's). State: `{ count, gradSumSq, s, x0 }`.
 * Reference: Defazio & Jelassi 2021, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual
 * Averaged Gradient Method for Stochastic Optimization", Algorithm 1; Optax `contrib.scale_by_madgrad`.
 *
 * @example
 * ```ts
 * const opt = scaleByMadgrad({ learningRate: 1e-2 })
 * ```
 */
export const scaleByMadgrad = (options: ScaleByMadgradOptions): GradientTransformation<ScaleByMadgradState> => {
  const name = 'scaleByMadgrad'
  const o = validate(name, { learningRate: nonNegativeOrSchedule, momentum: ranges.unitInterval, eps: ranges.nonNegative }, options, { momentum: 0.9, eps: 1e-6 })
  const copy = (x: Params) => mapLeaves([['params', x]], 1, ([l], path) => [clone(l!, path)])[0]!
  return transformation(name, {
    init: (params: Params) => frozen({ count: 0, gradSumSq: zerosLikeTree(params), s: zerosLikeTree(params), x0: copy(params) }),
    update: (updates: Params, state: ScaleByMadgradState, params?: Params) => {
      const count = checkCount(name, state.count)
      const lr = evaluate(name, 'learningRate', o.learningRate, count)
      // Optax: (η + ε) rounded to float32, times the float32 √(k + 1), in float32
      const lamb = f32(f32(lr + o.eps) * f32(Math.sqrt(count + 1)))
      const named = [['updates', updates], ['state.gradSumSq', state.gradSumSq], ['state.s', state.s], ['state.x0', state.x0], ['params', requireParams(name, params)]] as const
      const [G, s, u] = elementwiseTree(madgradOp, named, [lamb, f32(o.eps), f32(o.momentum), f32(1 - o.momentum)])
      return [u!, frozen({ count: count + 1, gradSumSq: G!, s: s!, x0: state.x0 })] as const
    },
    stateCodec: t.strict({ count: countCodec, gradSumSq: paramsCodec, s: paramsCodec, x0: paramsCodec }, '{ count, gradSumSq, s, x0 }'),
  }, { needsParams: true })
}

// ---- Sophia -------------------------------------------------------------------------------------

declare module '../core/types.js' {
  interface UpdateExtras {
    /**
     * An estimate of the diagonal of the Hessian at the params, a tree of the updates' structure:
     * read by `scaleBySophia` (and `sophia`) at the steps its `updateInterval` schedules.
     */
    readonly hessianDiagonal?: Params
    /**
     * (θ, i) ↦ ∇f(θ), the gradient at the i-th adversarial point: called by `sam` in opaque mode.
     */
    readonly gradFn?: (params: Params, step: number) => Params
  }
}

/** State of `scaleBySophia`: step count, the momentum mu and the EMA nu of the Hessian-diagonal estimates. */
export interface ScaleBySophiaState {
  readonly count: number
  readonly mu: Params
  readonly nu: Params
}

/** Options of `scaleBySophia`. */
export interface ScaleBySophiaOptions {
  /** β₁, decay of the momentum, in [0, 1). Default 0.965. */
  readonly b1?: number
  /** β₂, decay of the Hessian-diagonal EMA (per estimate), in [0, 1). Default 0.99. */
  readonly b2?: number
  /** ε in max(γh, ε), a normal float32 > 0. Default 1e-8. */
  readonly eps?: number
  /** γ ≥ 0, the scale of the Hessian diagonal. Default 0.01. */
  readonly gamma?: number
  /** ρ ≥ 0: updates are clipped to [−ρ, ρ]; null for none. Default 1. */
  readonly clipThreshold?: number | null
  /** The Hessian estimate is read every this many steps (at 0-based steps 0, k, 2k, …), an integer ≥ 1. Default 10. */
  readonly updateInterval?: number
}

const sophiaOp = defineElementwise({
  name: 'scaleBySophia',
  inputs: ['g', 'mu', 'nu', 'h'],
  scalars: ['b1', 'omb1', 'bc1', 'gamma', 'eps', 'clipOn', 'rho', 'due', 'b2', 'omb2'],
  lets: [
    ['mu1', 'b1 * mu + omb1 * g'],
    ['gh', 'gamma * nu'],
    ['r', '(mu1 / bc1) / (gh > eps ? gh : eps)'],
    ['rc', 'clipOn > 0 ? (r > rho ? rho : (r < -rho ? -rho : r)) : r'],
  ],
  // the clip bounds a ±∞ momentum to ±ρ: it is NaN instead, as is the step of a non-finite
  // curvature (docs/nonfinite.md)
  outputs: ['mu1', 'due > 0 ? b2 * nu + omb2 * h : nu', nanUnlessFinite('nu', nanUnlessFinite('mu1', 'rc'))],
})

const nullOr = <A,>(c: t.Type<A, A, unknown>) => refinement(`${c.name}, or null`, (u): u is A | null => u === null || c.is(u))

/**
 * Sophia's rescaling: a Newton-like step on the momentum, preconditioned by an EMA of Hessian-
 * diagonal estimates and clipped elementwise:
 *
 *   m ← β₁m + (1 − β₁)g,  u = clip((m/(1 − β₁ᵗ)) / max(γh, ε), ±ρ),
 *   then, at the steps k ≡ 0 (mod `updateInterval`), h ← β₂h + (1 − β₂)ĥ,
 *
 * with h the EMA before this step (0 at first: the first steps are ±ρ sign steps) and ĥ the
 * estimate passed in `update`'s extras as `hessianDiagonal` (a tree of the updates' structure).
 * At the steps that read it, a missing or mismatched `hessianDiagonal` is refused with a
 * `HyperparameterError` before any work; at the others it is ignored. Negative curvature gives
 * max(γh, ε) = ε, hence a clipped ±ρ step. Estimate ĥ with `hutchinsonHessianDiagonal` (Sophia-H,
 * as Optax's default), or pass g ⊙ g times the batch size (Sophia-G, Gauss–Newton–Bartlett).
 * A ±∞ momentum or a non-finite h gives a NaN update rather than the clipped ±ρ (docs/nonfinite.md).
 *
 * Defaults: b1 = 0.965, b2 = 0.99, eps = 1e-8, gamma = 0.01, clipThreshold = 1, updateInterval = 10
 * (Optax's; its diagnostic `verbose` win-rate printing is left out). State: `{ count, mu, nu }`.
 * Reference: Liu et al. 2023, "Sophia: A Scalable Stochastic Second-order Optimizer for Language
 * Model Pre-training", Algorithm 3; Optax `contrib.scale_by_sophia`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleBySophia({ updateInterval: 1 }), scaleByLearningRate(1e-3))
 * const w = fromArray([1, 2])
 * const g = fromArray([0.5, -1])
 * const [u, state] = opt.update(g, opt.init(w), w, { hessianDiagonal: fromArray([2, 2]) })
 * ```
 */
export const scaleBySophia = (options: ScaleBySophiaOptions = {}): GradientTransformation<ScaleBySophiaState> => {
  const name = 'scaleBySophia'
  const o = validate(
    name,
    { b1: ranges.unitInterval, b2: ranges.unitInterval, eps: normalFloat32, gamma: ranges.nonNegative, clipThreshold: nullOr(ranges.nonNegative), updateInterval: ranges.positiveInteger },
    options,
    { b1: 0.965, b2: 0.99, eps: 1e-8, gamma: 0.01, clipThreshold: 1, updateInterval: 10 },
  )
  const bc1 = bc(o.b1)
  const clip = o.clipThreshold === null ? [0, 0] : [1, f32(o.clipThreshold)]
  return transformation(name, {
    init: (params: Params) => frozen({ count: 0, mu: zerosLikeTree(params), nu: zerosLikeTree(params) }),
    update: (updates: Params, state: ScaleBySophiaState, _params?: Params, extra?: UpdateExtras) => {
      const count = checkCount(name, state.count)
      const due = count % o.updateInterval === 0
      const h = due ? hessianOf(name, updates, extra, count) : state.nu
      const scalars = [f32(o.b1), f32(1 - o.b1), bc1(count + 1), f32(o.gamma), f32(o.eps), ...clip, due ? 1 : 0, f32(o.b2), f32(1 - o.b2)]
      const [mu, nu, u] = elementwiseTree(sophiaOp, [['updates', updates], ['state.mu', state.mu], ['state.nu', state.nu], [due ? 'hessianDiagonal' : 'state.nu', h]], scalars)
      return [u!, frozen({ count: count + 1, mu: mu!, nu: nu! })] as const
    },
    stateCodec: t.strict({ count: countCodec, mu: paramsCodec, nu: paramsCodec }, '{ count, mu, nu }'),
  })
}

/** The `hessianDiagonal` extra, or a HyperparameterError saying it is due (structures are checked by the op). */
const hessianOf = (transform: string, updates: Params, extra: UpdateExtras | undefined, count: number): Params => {
  const h = (extra as Partial<Record<string, unknown>> | undefined)?.hessianDiagonal
  if (h === undefined || h === null || !(h instanceof Tensor || tree.isNode(h))) {
    throw new HyperparameterError(transform, 'hessianDiagonal', h, `a tree of tensors of the updates' structure: the Hessian-diagonal estimate is due at step ${count} (0-based), passed as update(g, state, params, { hessianDiagonal })`)
  }
  leafRows([['updates', updates], ['hessianDiagonal', h as Params]])
  return h as Params
}

/** A Hessian-vector product at θ: (θ, v) ↦ H(θ)v, a tree of the params' structure. */
export type HessianVectorProduct = (params: Params, v: Params) => Params

/** Options of `hutchinsonHessianDiagonal`. */
export interface HutchinsonOptions {
  /** The number of Rademacher probes averaged, an integer ≥ 1. Default 1 (Optax's). */
  readonly samples?: number
}

const rademacherProductOp = defineElementwise({ name: 'hutchinsonProduct', inputs: ['acc', 'v', 'hv'], scalars: ['w'], outputs: ['acc + w * (v * hv)'] })

/**
 * Hutchinson's estimator of the Hessian diagonal: diag(H) ≈ (1/S) Σₛ vₛ ⊙ (H vₛ), vₛ Rademacher
 * (±1 with probability ½ each), unbiased. `hvp(θ, v)` is the Hessian-vector product; fluxion has no
 * automatic differentiation, so write it by hand or take `finiteDifferenceHvp(gradFn)`. The probes
 * are drawn on the host from `key` (one per leaf and sample, the same on every backend) and
 * uploaded to each leaf's backend. Everything the estimator and `hvp` create is released except
 * the estimate. The estimate feeds `sophia`'s `hessianDiagonal` extra.
 *
 * Defaults: samples = 1. Reference: Hutchinson 1989, "A stochastic estimator of the trace of the
 * influence matrix for Laplacian smoothing splines"; Bekas, Kokiopoulou & Saad 2007 (the diagonal);
 * Optax `contrib.hutchinson_estimator_diag_hessian` (one Rademacher probe).
 *
 * @example
 * ```ts
 * // f(w) = Σ aᵢwᵢ²/2, H = diag(a): the estimate is exact with any probe
 * const a = fromArray([1, 4, 9])
 * const hvp = (_p: Params, v: Params) => mul(a, v as Tensor)
 * const h = hutchinsonHessianDiagonal(hvp, fromArray([1, 1, 1]), key(0)) // [1, 4, 9]
 * ```
 */
export const hutchinsonHessianDiagonal = (hvp: HessianVectorProduct, params: Params, k: Key, options: HutchinsonOptions = {}): Params => {
  const name = 'hutchinsonHessianDiagonal'
  if (typeof hvp !== 'function') throw new HyperparameterError(name, 'hvp', hvp, 'a function (params, v) => H(params)·v')
  const { samples } = validate(name, { samples: ranges.positiveInteger }, options, { samples: 1 })
  const { rows, structure } = leafRows([['params', params]])
  const keys = split(k, Math.max(1, samples * rows.length))
  return scope(() => {
    let acc: Params = zerosLikeTree(params)
    for (let s = 0; s < samples; s++) {
      const v = tree.unflatten(structure, rows.map(([p], j) => {
        const u = uniformValues(keys[s * rows.length + j]!, p!.size)
        return p!.backend.fromData(Float32Array.from(u, (x) => (x < 0.5 ? -1 : 1)), p!.shape)
      }))
      const hv = hvp(params, v)
      acc = mapLeaves([['acc', acc], ['v', v], ['hvp', hv]], 1, ([a, x, y], path) => (a!.size === 0 ? [emptyLeaf(a!)] : elementwise(rademacherProductOp, [a!, x!, y!], [1 / samples], path)))[0]!
    }
    return acc
  })
}

/** Options of `finiteDifferenceHvp`. */
export interface FiniteDifferenceHvpOptions {
  /** The step h > 0 along v. Default 1e-3. */
  readonly h?: number
}

const centralDifferenceOp = defineElementwise({ name: 'hvpCentralDifference', inputs: ['a', 'b'], scalars: ['inv2h'], outputs: ['(a - b) * inv2h'] })
const shiftOp = defineElementwise({ name: 'hvpShift', inputs: ['p', 'v'], scalars: ['h'], outputs: ['p + h * v'] })

/**
 * A Hessian-vector product from a gradient function by central differences:
 * Hv ≈ (∇f(θ + hv) − ∇f(θ − hv)) / 2h, accurate to O(h²) plus float32 rounding of order
 * ulp(∇f)/h (so h ≈ 1e-3 suits O(1) problems). Two gradient evaluations per product. For
 * `hutchinsonHessianDiagonal` when no analytic Hessian-vector product is at hand.
 *
 * Defaults: h = 1e-3. Reference: Pearlmutter 1994, "Fast Exact Multiplication by the Hessian"
 * (the finite-difference form it improves on); Nocedal & Wright 2006, §8.1.
 *
 * @example
 * ```ts
 * const gradFn = (p: Params) => scaleTensor(p as Tensor, 2) // f(w) = Σw²
 * const h = hutchinsonHessianDiagonal(finiteDifferenceHvp(gradFn), fromArray([1, -1]), key(1)) // ≈ [2, 2]
 * ```
 */
export const finiteDifferenceHvp = (gradFn: (params: Params) => Params, options: FiniteDifferenceHvpOptions = {}): HessianVectorProduct => {
  const name = 'finiteDifferenceHvp'
  if (typeof gradFn !== 'function') throw new HyperparameterError(name, 'gradFn', gradFn, 'a function params => ∇f(params)')
  const { h } = validate(name, { h: ranges.positive }, options, { h: 1e-3 })
  const shifted = (p: Params, v: Params, by: number) => mapLeaves([['params', p], ['v', v]], 1, ([x, y], path) => elementwise(shiftOp, [x!, y!], [by], path))[0]!
  return (params, v) =>
    scope(() => {
      const plus = gradFn(shifted(params, v, h))
      const minus = gradFn(shifted(params, v, -h))
      return mapLeaves([['∇f(θ + hv)', plus], ['∇f(θ − hv)', minus]], 1, ([a, b], path) => elementwise(centralDifferenceOp, [a!, b!], [1 / (2 * h)], path))[0]!
    })
}

// ---- SAM ----------------------------------------------------------------------------------------

const normalizeOp = defineElementwise({
  name: 'normalizeByGlobalNorm',
  inputs: ['g', 'n'],
  // an all-zero gradient has no direction: 0, not 0/0; an infinite norm (a ±∞ entry, or ‖g‖²
  // overflowing float32) is NaN rather than the zeros g/∞ would give
  outputs: [`n <= 0 ? 0 : ${nanUnlessFinite('n', 'g / n')}`],
})

/**
 * Divides the updates by their global norm: u = g / ‖g‖₂ (‖g‖ over all leaves); an all-zero
 * gradient gives 0 (Optax: 0/0 = NaN), an infinite norm (a ±∞ entry, or ‖g‖² overflowing float32)
 * NaN rather than the zeros g/∞ would give (docs/nonfinite.md). With `sgd({ learningRate: ρ })`
 * after it, SAM's adversarial step of radius ρ.
 *
 * Reference: Foret et al. 2021, eq. 2; Optax `contrib.normalize`.
 *
 * @example
 * ```ts
 * const adversary = chain(normalizeByGlobalNorm(), sgd({ learningRate: 0.05 }))
 * ```
 */
export const normalizeByGlobalNorm = (): GradientTransformation<Readonly<Record<string, never>>> =>
  transformation('normalizeByGlobalNorm', {
    init: () => frozen({}),
    update: (updates: Params, state: Readonly<Record<string, never>>) => {
      const { rows, paths, structure } = leafRows([['updates', updates]])
      if (rows.length === 0) return [updates, state] as const
      return scope(() => {
        const n = globalNorm(updates)
        return [tree.unflatten(structure, rows.map(([g], j) => (g!.size === 0 ? emptyLeaf(g!) : elementwise(normalizeOp, [g!, n], [], paths[j])[0]!))), state] as const
      })
    },
    stateCodec: t.strict({}, '{}'),
  })

/** State of `sam` (Optax's `SAMState`). */
export interface SamState<O, A> {
  /** Adversarial steps taken since the last outer update, in [0, syncPeriod). */
  readonly stepsSinceSync: number
  readonly optState: O
  readonly advState: A
  /** The outer params, kept while the params passed to `update` are the adversarial ones (null in opaque mode). */
  readonly cache: Params | null
}

/** Options of `sam`. */
export interface SamOptions {
  /** Every syncPeriod-th step is the outer one (syncPeriod − 1 adversarial steps before it), an integer ≥ 1. Default 2. */
  readonly syncPeriod?: number
  /** Re-initialise the adversarial optimizer's state at every outer step. Default true. */
  readonly resetState?: boolean
  /** Run the adversarial steps inside one `update` (with the `gradFn` extra) instead of across calls. Default false. */
  readonly opaqueMode?: boolean
}

const cacheStepOp = defineElementwise({ name: 'samOuterStep', inputs: ['c', 'p', 'u'], outputs: ['(c - p) + u'] })
const negateOp = defineElementwise({ name: 'samAscent', inputs: ['u'], outputs: ['-u'] })
const ascentOp = defineElementwise({ name: 'samAdversarialParams', inputs: ['p', 'u'], outputs: ['p + (-u)'] })

const isTransformation = (x: unknown): x is AnyTransformation =>
  typeof x === 'object' && x !== null && typeof (x as AnyTransformation).init === 'function' && typeof (x as AnyTransformation).update === 'function'

/** (θ, i) ↦ ∇f from the `gradFn` extra, or from `valueAndGradFn` (its value released), or a HyperparameterError. */
const gradFnOf = (transform: string, extra: UpdateExtras | undefined): ((params: Params, step: number) => Params) => {
  const e = (extra ?? {}) as Partial<Record<string, unknown>>
  if (typeof e.gradFn === 'function') return e.gradFn as (params: Params, step: number) => Params
  if (typeof e.valueAndGradFn === 'function') {
    const vg = e.valueAndGradFn as (params: Params) => readonly [unknown, Params]
    return (p) => {
      const out = vg(p)
      if (!Array.isArray(out) || out.length !== 2) throw new HyperparameterError(transform, 'valueAndGradFn', out, 'a function returning [value, grad]')
      return out[1] as Params
    }
  }
  throw new HyperparameterError(transform, 'gradFn', e.gradFn, "a function (params, i) => ∇f(params) (or valueAndGradFn, params => [f, ∇f]), passed in update's extras: opaque mode evaluates the gradient at each adversarial point")
}

/**
 * Sharpness-aware minimisation: adversarial steps (by `advOptimizer`, whose update is negated so
 * that it ascends) move the params to a nearby worse point, the gradient there drives the outer
 * `optimizer`, and the outer step is applied to the params from before the adversarial steps.
 * With `chain(normalizeByGlobalNorm(), sgd({ learningRate: ρ }))` as the adversary and
 * syncPeriod = 2 it is the paper's SAM: ε = ρ g/‖g‖, θ ← θ − η ∇f(θ + ε).
 *
 * Two modes, as Optax:
 * - transparent (default): each `update` call is one step. At step j = stepsSinceSync < syncPeriod − 1
 *   the update is the ascent −adv(g) (the params become adversarial; the outer params are kept in
 *   `state.cache`); at j = syncPeriod − 1 it is c − θ + opt(g; c), which lands on the outer step
 *   from the cached params c. Compute the gradient at whatever params the loop holds; evaluate the
 *   model at `samOuterParams(params, state)`. Extras are passed on to the optimizer that runs.
 * - opaque (`opaqueMode: true`): each `update` runs the syncPeriod − 1 adversarial steps itself,
 *   calling the extra `gradFn(θ_adv, i)` (or `valueAndGradFn(θ_adv)`) for the gradient at each
 *   adversarial point, then returns the outer update; the params are never adversarial. Needed
 *   when the loss has side effects (batch-norm statistics).
 *
 * With syncPeriod = 1 there are no adversarial steps and the update is the outer optimizer's
 * (Optax's transparent mode then steps from the previous call's params). Needs the params.
 *
 * Defaults: syncPeriod = 2, resetState = true, opaqueMode = false (Optax's; its `batch_axis_name`
 * for pmap has no counterpart). State: `{ stepsSinceSync, optState, advState, cache }`.
 * Reference: Foret et al. 2021, "Sharpness-Aware Minimization for Efficiently Improving
 * Generalization", Algorithm 1; Optax `contrib.sam`.
 *
 * @example
 * ```ts
 * const opt = sam(sgd({ learningRate: 0.1 }), chain(normalizeByGlobalNorm(), sgd({ learningRate: 0.05 })))
 * // opaque: opt2.update(g, state, params, { gradFn: (p) => gradientAt(p) })
 * const opt2 = sam(adam({ learningRate: 1e-3 }), chain(normalizeByGlobalNorm(), sgd({ learningRate: 0.05 })), { opaqueMode: true })
 * ```
 */
export const sam = <O, A>(optimizer: GradientTransformation<O>, advOptimizer: GradientTransformation<A>, options: SamOptions = {}): GradientTransformation<SamState<O, A>> => {
  const name = 'sam'
  if (!isTransformation(optimizer)) throw new HyperparameterError(name, 'optimizer', optimizer, 'a GradientTransformation { init, update }')
  if (!isTransformation(advOptimizer)) throw new HyperparameterError(name, 'advOptimizer', advOptimizer, 'a GradientTransformation { init, update }')
  const o = validate(name, { syncPeriod: ranges.positiveInteger, resetState: ranges.boolean, opaqueMode: ranges.boolean }, options, { syncPeriod: 2, resetState: true, opaqueMode: false })
  const copy = (x: Params) => mapLeaves([['params', x]], 1, ([l], path) => [clone(l!, path)])[0]!
  const negate = (x: Params) => mapLeaves([['adversarial updates', x]], 1, ([l], path) => elementwise(negateOp, [l!], [], path))[0]!

  const transparent = (updates: Params, state: SamState<O, A>, params: Params, extra: UpdateExtras | undefined): readonly [Params, SamState<O, A>] => {
    const j = checkCount(name, state.stepsSinceSync, 'stepsSinceSync')
    if (j >= o.syncPeriod) throw new StructureError('state.stepsSinceSync', `${name}: state.stepsSinceSync must be below syncPeriod (${o.syncPeriod}), got ${j}`)
    const cache = state.cache
    if (j > 0 || o.syncPeriod > 1) {
      if (cache === null || cache === undefined) throw new StructureError('state.cache', `${name}: state.cache must hold the outer params in transparent mode, got ${String(cache)}`)
      leafRows([['updates', updates], ['params', params], ['state.cache', cache]])
    }
    const next = (j + 1) % o.syncPeriod
    if (j < o.syncPeriod - 1) {
      const [a, advState] = advOptimizer.update(updates, state.advState, params, extra)
      return [negate(a), { stepsSinceSync: next, optState: state.optState, advState, cache: j === 0 ? copy(params) : cache }] as const
    }
    // the outer step, from the outer params: the cache (the params themselves when there were no adversarial steps)
    const outer = j === 0 ? params : cache!
    const [u, optState] = optimizer.update(updates, state.optState, outer, extra)
    const step = j === 0 ? u : mapLeaves([['state.cache', outer], ['params', params], ['outer updates', u]], 1, ([c, p, x], path) => elementwise(cacheStepOp, [c!, p!, x!], [], path))[0]!
    const advState = o.resetState ? advOptimizer.init(params) : state.advState
    // with no adversarial steps (syncPeriod = 1) the cache is never read: it is left as it is
    return [step, { stepsSinceSync: next, optState, advState, cache }] as const
  }

  const opaque = (updates: Params, state: SamState<O, A>, params: Params, extra: UpdateExtras | undefined): readonly [Params, SamState<O, A>] => {
    const gradFn = o.syncPeriod > 1 ? gradFnOf(name, extra) : undefined
    return scope(() => {
      let advParams = params
      let g = updates
      let advState = state.advState
      for (let i = 0; i < o.syncPeriod - 1; i++) {
        const [a, s] = advOptimizer.update(g, advState, advParams)
        advState = s
        advParams = mapLeaves([['params', advParams], ['adversarial updates', a]], 1, ([p, x], path) => elementwise(ascentOp, [p!, x!], [], path))[0]!
        g = gradFn!(advParams, i)
        leafRows([['updates', updates], [`gradFn(θ, ${i})`, g]])
      }
      if (o.resetState) advState = advOptimizer.init(params)
      const [u, optState] = optimizer.update(g, state.optState, params)
      return [u, { stepsSinceSync: 0, optState, advState, cache: null }] as const
    })
  }

  const body = transformation<SamState<O, A>>(name, {
    init: (params: Params) => frozen({ stepsSinceSync: 0, optState: optimizer.init(params), advState: advOptimizer.init(params), cache: o.opaqueMode ? null : copy(params) }),
    update: (updates: Params, state: SamState<O, A>, params?: Params, extra?: UpdateExtras) => {
      const p = requireParams(name, params)
      const [u, next] = o.opaqueMode ? opaque(updates, state, p, extra) : transparent(updates, state, p, extra)
      return [u, frozen(next)] as const
    },
    stateCodec: t.strict(
      {
        stepsSinceSync: countCodecUpTo(o.syncPeriod - 1),
        optState: optimizer.stateCodec ?? t.unknown,
        advState: advOptimizer.stateCodec ?? t.unknown,
        cache: o.opaqueMode ? t.null : paramsCodec,
      },
      '{ stepsSinceSync, optState, advState, cache }',
    ),
  }, { needsParams: true })
  return withIdentity(body, name, { ...o, optimizer: optimizer.identity ?? null, advOptimizer: advOptimizer.identity ?? null })
}

/**
 * The outer params of a transparent-mode `sam` run, where the model should be evaluated: the
 * cached ones while the loop's params are adversarial (stepsSinceSync > 0), else the params
 * themselves. The result is either argument's own tensors (not a copy).
 *
 * @example
 * ```ts
 * const opt = sam(sgd({ learningRate: 0.1 }), chain(normalizeByGlobalNorm(), sgd({ learningRate: 0.05 })))
 * const w = fromArray([1, 2])
 * const state = opt.init(w)
 * const forEvaluation = samOuterParams(w, state) // w itself before any adversarial step
 * ```
 */
export const samOuterParams = (params: Params, state: SamState<unknown, unknown>): Params => {
  const j = checkCount('samOuterParams', state?.stepsSinceSync, 'stepsSinceSync')
  if (j === 0) return params
  if (state.cache === null || state.cache === undefined) throw new StructureError('state.cache', 'samOuterParams: a transparent-mode sam state with adversarial steps holds the outer params in state.cache')
  tree.assertSameStructure(params, state.cache, 'params vs state.cache')
  return state.cache
}
