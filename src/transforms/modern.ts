/**
 * The primitives behind Optax's newer optimizers: AdaBelief's belief in the gradient, Yogi's
 * additive second moment, Adan's Nesterov-style gradient difference, NovoGrad's per-layer second
 * moment, Rprop's sign-driven step sizes and the optimistic gradient.
 *
 * References: the paper cited on each function; Optax 0.2.8 `optax/_src/transform.py`
 * (`scale_by_belief`, `scale_by_yogi`, `scale_by_adan`, `scale_by_novograd`, `scale_by_rprop`,
 * `scale_by_optimistic_gradient`).
 */
import * as t from 'io-ts'
import { zerosLikeTree } from '../core/base.js'
import { checkCount, elementwiseTree, frozen, mapLeaves, requireParams, transformation } from '../core/internal.js'
import { countCodec, nonNegativeParamsCodec, paramsCodec } from '../core/state.js'
import type { GradientTransformation, Params } from '../core/types.js'
import { ranges, validate } from '../core/validate.js'
import { BackendError, HyperparameterError, StructureError } from '../errors.js'
import { elementwise, scope, sumOfSquares } from '../tensor/ops.js'
import { Tensor, defineElementwise } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import { type AccumulatorState, accumulator, nanUnlessFinite, zeroWhereNoGradient } from './accumulator.js'
import { biasCorrection } from './raw.js'

const f32 = Math.fround

// 1 − βᵗ in float32, as Optax computes `1 - decay**count` on an int32 count
const bc = (b: number) => biasCorrection(b, 'float32')

// ---- AdaBelief ---------------------------------------------------------------------------------

/** State of `scaleByBelief`: step count, the first moment mu and the belief (second central moment) nu. */
export type ScaleByBeliefState = AccumulatorState<'mu' | 'nu'>

/** Options of `scaleByBelief`. */
export interface ScaleByBeliefOptions {
  /** β₁, decay of the first moment, in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂, decay of the belief s, in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0 added to √ŝ. Default 1e-16. */
  readonly eps?: number
  /** ε̄ ≥ 0 added to s at every step (kept in the state). Default 1e-16. */
  readonly epsRoot?: number
  /** Nesterov's m̂ (as in NAdam). Default false. */
  readonly nesterov?: boolean
}

const beliefOp = defineElementwise({
  name: 'scaleByBelief',
  inputs: ['g', 'mu', 'nu'],
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'bc1', 'bc1next', 'nesterov', 'bc2', 'eps', 'epsRoot'],
  lets: [
    ['mu1', 'b1 * mu + omb1 * g'],
    ['pe', 'g - mu1'],
    ['nu1', 'b2 * nu + omb2 * (pe * pe) + epsRoot'],
    ['muHat', 'nesterov > 0 ? b1 * (mu1 / bc1next) + omb1 * (g / bc1) : mu1 / bc1'],
    ['den', 'Math.sqrt(nu1 / bc2) + eps'],
  ],
  // den = 0 only where s = 0 (ε = ε̄ = 0 and g = m at every step so far, so m̂ = 0 too): 0, not 0/0
  outputs: ['mu1', 'nu1', zeroWhereNoGradient('den', nanUnlessFinite('nu1', 'muHat / den'))],
})

/**
 * AdaBelief's rescaling: Adam with the second moment of the prediction error g − m (the "belief"
 * in the gradient) in place of that of g:
 *
 *   m ← β₁m + (1 − β₁)g,  s ← β₂s + (1 − β₂)(g − m)² + ε̄,
 *   m̂ = m/(1 − β₁ᵗ) (Nesterov: β₁m/(1 − β₁ᵗ⁺¹) + (1 − β₁)g/(1 − β₁ᵗ)),  ŝ = s/(1 − β₂ᵗ),
 *   u = m̂ / (√ŝ + ε).
 *
 * ε̄ is added to the stored s (so it accumulates, as in the paper's Algorithm 2 and Optax).
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-16, epsRoot = 1e-16, nesterov = false (Optax's; the
 * paper uses ε = 1e-8, ε̄ = 0). State: `{ count, mu, nu }`, zeros at init.
 * Reference: Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
 * Gradients", Algorithm 2; Optax `scale_by_belief`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByBelief({ eps: 1e-8, epsRoot: 0 }), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByBelief = (options: ScaleByBeliefOptions = {}): GradientTransformation<ScaleByBeliefState> => {
  const o = validate(
    'scaleByBelief',
    { b1: ranges.unitInterval, b2: ranges.unitInterval, eps: ranges.nonNegative, epsRoot: ranges.nonNegative, nesterov: ranges.boolean },
    options,
    { b1: 0.9, b2: 0.999, eps: 1e-16, epsRoot: 1e-16, nesterov: false },
  )
  const [bc1, bc2] = [bc(o.b1), bc(o.b2)]
  return accumulator({
    name: 'scaleByBelief',
    buffers: ['mu', 'nu'],
    nonNegative: ['nu'],
    op: beliefOp,
    constants: ['b1', 'omb1', 'b2', 'omb2', 'nesterov', 'eps', 'epsRoot'],
    scalars: (k) => [f32(o.b1), f32(1 - o.b1), f32(o.b2), f32(1 - o.b2), bc1(k), bc1(k + 1), o.nesterov ? 1 : 0, bc2(k), f32(o.eps), f32(o.epsRoot)],
  })
}

// ---- Yogi --------------------------------------------------------------------------------------

/** State of `scaleByYogi`: step count and the moments mu and nu (Optax's `ScaleByAdamState`). */
export type ScaleByYogiState = AccumulatorState<'mu' | 'nu'>

/** Options of `scaleByYogi`. */
export interface ScaleByYogiOptions {
  /** β₁ in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1). Default 0.999. */
  readonly b2?: number
  /** ε ≥ 0 outside the root. Default 1e-3. */
  readonly eps?: number
  /** ε ≥ 0 inside the root. Default 0. */
  readonly epsRoot?: number
  /** m₀ = v₀, ≥ 0. Default 1e-6. */
  readonly initialAccumulatorValue?: number
}

const yogiOp = defineElementwise({
  name: 'scaleByYogi',
  inputs: ['g', 'mu', 'nu'],
  scalars: ['b1', 'omb1', 'omb2', 'bc1', 'bc2', 'eps', 'epsRoot'],
  lets: [
    ['mu1', 'b1 * mu + omb1 * g'],
    ['g2', 'g * g'],
    ['nu1', 'nu - omb2 * Math.sign(nu - g2) * g2'],
    ['den', 'Math.sqrt(nu1 / bc2 + epsRoot) + eps'],
  ],
  outputs: ['mu1', 'nu1', zeroWhereNoGradient('den', nanUnlessFinite('nu1', '(mu1 / bc1) / den'))],
})

/**
 * Yogi's rescaling: Adam whose second moment moves by an additive, sign-controlled step, so that it
 * cannot grow or shrink by more than (1 − β₂)g² a step:
 *
 *   m ← β₁m + (1 − β₁)g,  v ← v − (1 − β₂) sign(v − g²) g²,
 *   u = (m/(1 − β₁ᵗ)) / (√(v/(1 − β₂ᵗ) + ε_root) + ε).
 *
 * v stays ≥ 0 when v₀ ≥ 0 (each step moves it at most (1 − β₂) of the way towards g²).
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-3, epsRoot = 0, initialAccumulatorValue = 1e-6 (m and v
 * start there, as in Optax). State: `{ count, mu, nu }`.
 * Reference: Zaheer et al. 2018, "Adaptive Methods for Nonconvex Optimization", Algorithm 2; Optax
 * `scale_by_yogi`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByYogi(), scaleByLearningRate(1e-2))
 * ```
 */
export const scaleByYogi = (options: ScaleByYogiOptions = {}): GradientTransformation<ScaleByYogiState> => {
  const o = validate(
    'scaleByYogi',
    { b1: ranges.unitInterval, b2: ranges.unitInterval, eps: ranges.nonNegative, epsRoot: ranges.nonNegative, initialAccumulatorValue: ranges.nonNegative },
    options,
    { b1: 0.9, b2: 0.999, eps: 1e-3, epsRoot: 0, initialAccumulatorValue: 1e-6 },
  )
  const [bc1, bc2] = [bc(o.b1), bc(o.b2)]
  const v0 = f32(o.initialAccumulatorValue)
  return accumulator({
    name: 'scaleByYogi',
    buffers: ['mu', 'nu'],
    nonNegative: ['nu'],
    initial: { mu: v0, nu: v0 },
    op: yogiOp,
    constants: ['b1', 'omb1', 'omb2', 'eps', 'epsRoot'],
    scalars: (k) => [f32(o.b1), f32(1 - o.b1), f32(1 - o.b2), bc1(k), bc2(k), f32(o.eps), f32(o.epsRoot)],
  })
}

// ---- Adan --------------------------------------------------------------------------------------

/**
 * State of `scaleByAdan`: step count, the moments m (of g), v (of the gradient difference) and
 * n (of the squared look-ahead gradient), and the previous gradient (Optax's `ScaleByAdanState`:
 * `m, v, n, g, t`).
 */
export type ScaleByAdanState = AccumulatorState<'m' | 'v' | 'n' | 'previousGrad'>

/** Options of `scaleByAdan`. */
export interface ScaleByAdanOptions {
  /** β₁, decay of m, in [0, 1). Default 0.98. */
  readonly b1?: number
  /** β₂, decay of v, in [0, 1). Default 0.92. */
  readonly b2?: number
  /** β₃, decay of n, in [0, 1). Default 0.99. */
  readonly b3?: number
  /** ε ≥ 0 outside the root. Default 1e-8. */
  readonly eps?: number
  /** ε ≥ 0 inside the root. Default 0. */
  readonly epsRoot?: number
}

const adanOp = defineElementwise({
  name: 'scaleByAdan',
  inputs: ['g', 'm', 'v', 'n', 'previousGrad'],
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'b3', 'omb3', 'first', 'bc1', 'bc2', 'bc3', 'eps', 'epsRoot'],
  lets: [
    ['d', 'first > 0 ? 0 : g - previousGrad'],
    ['m1', 'b1 * m + omb1 * g'],
    ['v1', 'b2 * v + omb2 * d'],
    ['sq', 'g + omb2 * d'],
    ['n1', 'b3 * n + omb3 * (sq * sq)'],
    ['den', 'Math.sqrt(n1 / bc3 + epsRoot) + eps'],
  ],
  outputs: ['m1', 'v1', 'n1', 'g', zeroWhereNoGradient('den', nanUnlessFinite('n1', '(m1 / bc1 + omb2 * (v1 / bc2)) / den'))],
})

/**
 * Adan's rescaling (Adaptive Nesterov momentum), with Δ = g − g_prev (0 at the first step):
 *
 *   m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)Δ,  n ← β₃n + (1 − β₃)(g + (1 − β₂)Δ)²,
 *   u = (m̂ + (1 − β₂)v̂) / (√(n̂ + ε_root) + ε),  m̂, v̂, n̂ bias-corrected by 1 − βᵢᵗ.
 *
 * The β here are Optax's (decay rates); the paper's are 1 − β.
 *
 * Defaults: b1 = 0.98, b2 = 0.92, b3 = 0.99, eps = 1e-8, epsRoot = 0. State:
 * `{ count, m, v, n, previousGrad }`, zeros at init.
 * Reference: Xie et al. 2022, "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing
 * Deep Models", Algorithm 1; Optax `scale_by_adan`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByAdan(), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByAdan = (options: ScaleByAdanOptions = {}): GradientTransformation<ScaleByAdanState> => {
  const o = validate(
    'scaleByAdan',
    { b1: ranges.unitInterval, b2: ranges.unitInterval, b3: ranges.unitInterval, eps: ranges.nonNegative, epsRoot: ranges.nonNegative },
    options,
    { b1: 0.98, b2: 0.92, b3: 0.99, eps: 1e-8, epsRoot: 0 },
  )
  const [bc1, bc2, bc3] = [bc(o.b1), bc(o.b2), bc(o.b3)]
  return accumulator({
    name: 'scaleByAdan',
    buffers: ['m', 'v', 'n', 'previousGrad'],
    nonNegative: ['n'],
    op: adanOp,
    constants: ['b1', 'omb1', 'b2', 'omb2', 'b3', 'omb3', 'eps', 'epsRoot'],
    scalars: (k) => [f32(o.b1), f32(1 - o.b1), f32(o.b2), f32(1 - o.b2), f32(o.b3), f32(1 - o.b3), k === 1 ? 1 : 0, bc1(k), bc2(k), bc3(k), f32(o.eps), f32(o.epsRoot)],
  })
}

// ---- NovoGrad ----------------------------------------------------------------------------------

/**
 * State of `scaleByNovograd`: step count, the momentum mu (shaped like the params) and, per leaf,
 * the moving average nu of ‖g‖² (a tensor of shape []).
 */
export interface ScaleByNovogradState {
  readonly count: number
  readonly mu: Params
  readonly nu: Params
}

/** Options of `scaleByNovograd`. */
export interface ScaleByNovogradOptions {
  /** β₁, the momentum, in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂, decay of the per-leaf ‖g‖², in [0, 1). Default 0.25. */
  readonly b2?: number
  /** ε ≥ 0 outside the root. Default 1e-8. */
  readonly eps?: number
  /** ε ≥ 0 inside the root. Default 0. */
  readonly epsRoot?: number
  /** λ ≥ 0, weight decay added to the normalised gradient (needs the params when > 0). Default 0. */
  readonly weightDecay?: number
}

const novogradNuOp = defineElementwise({
  name: 'scaleByNovogradNu',
  inputs: ['ss', 'nu'],
  scalars: ['b2', 'omb2', 'first'],
  outputs: ['first > 0 ? ss : b2 * nu + omb2 * ss'],
})

const novogradMuOp = defineElementwise({
  name: 'scaleByNovogradMu',
  inputs: ['g', 'mu', 'nu', 'p'],
  scalars: ['b1', 'first', 'eps', 'epsRoot', 'wd'],
  lets: [
    ['den', 'Math.sqrt(nu + epsRoot) + eps'],
    // den = 0 only where the whole leaf has had no gradient (ν = 0): 0, not 0/0; an overflowed ‖g‖² is NaN
    ['a', `${zeroWhereNoGradient('den', nanUnlessFinite('nu', 'g / den'))} + wd * p`],
  ],
  outputs: ['first > 0 ? a : b1 * mu + a'],
})

/** The leaves of a tree of shape-[] tensors (one per leaf of `updates`), checked before any device work. */
const perLeafScalars = (transform: string, updates: Params, values: Params): Tensor[] => {
  tree.assertSameStructure(updates, values, 'updates vs state.nu')
  const paths = tree.paths(values)
  const first = tree.leaves(updates)[0] as Tensor | undefined
  return tree.leaves(values).map((v, j) => {
    if (!(v instanceof Tensor) || v.shape.length !== 0) throw new StructureError(`state.nu${paths[j] ? `.${paths[j]}` : ''}`, `${transform}: state.nu leaves must be tensors of shape [], got ${v instanceof Tensor ? `[${v.shape.join(', ')}]` : String(v)}`)
    if (first !== undefined && v.backend !== first.backend) throw new BackendError(paths[j]!, `${transform}: state.nu is on ${v.backend.name}, the updates on ${first.backend.name}`)
    return v
  })
}

const novogradCodec = t.strict({ count: countCodec, mu: paramsCodec, nu: nonNegativeParamsCodec }, '{ count, mu, nu }')

/**
 * NovoGrad's rescaling: Adam-like, with the second moment a single number per leaf (layer), the
 * moving average of its squared norm, and the momentum taken after normalising:
 *
 *   ν ← ‖g‖² (t = 1), else β₂ν + (1 − β₂)‖g‖²   (per leaf),
 *   m ← a (t = 1), else β₁m + a,  with a = g / (√(ν + ε_root) + ε) + λθ;  u = m.
 *
 * No bias correction: the first step initialises both moments. ‖g‖² is summed in float64 (Optax:
 * the float32 `norm(g)**2`).
 *
 * Defaults: b1 = 0.9, b2 = 0.25, eps = 1e-8, epsRoot = 0, weightDecay = 0. State:
 * `{ count, mu, nu }`, nu a tensor of shape [] per leaf. Needs the params when weightDecay > 0.
 * Reference: Ginsburg et al. 2019, "Stochastic Gradient Methods with Layer-wise Adaptive Moments
 * for Training of Deep Networks", Algorithm 1; Optax `scale_by_novograd`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByNovograd({ eps: 1e-6 }), scaleByLearningRate(1e-2))
 * ```
 */
export const scaleByNovograd = (options: ScaleByNovogradOptions = {}): GradientTransformation<ScaleByNovogradState> => {
  const o = validate(
    'scaleByNovograd',
    { b1: ranges.unitInterval, b2: ranges.unitInterval, eps: ranges.nonNegative, epsRoot: ranges.nonNegative, weightDecay: ranges.nonNegative },
    options,
    { b1: 0.9, b2: 0.25, eps: 1e-8, epsRoot: 0, weightDecay: 0 },
  )
  const name = 'scaleByNovograd'
  return transformation(name, {
    init: (params: Params) =>
      frozen({ count: 0, mu: zerosLikeTree(params), nu: mapLeaves([['params', params]], 1, ([p]) => [p!.backend.fill([], 0)])[0]! }),
    update: (updates: Params, state: ScaleByNovogradState, params?: Params) => {
      const k = checkCount(name, state.count) + 1
      const first = k === 1 ? 1 : 0
      // without weight decay the params are not read: the updates stand in for them (λ = 0)
      const p = o.weightDecay > 0 ? requireParams(name, params) : updates
      const nuLeaves = perLeafScalars(name, updates, state.nu)
      const [mu, nu] = mapLeaves([['updates', updates], ['state.mu', state.mu], ['params', p]], 2, ([g, m, w], path, j) =>
        scope(() => {
          const nu1 = elementwise(novogradNuOp, [sumOfSquares(g!), nuLeaves[j]!], [f32(o.b2), f32(1 - o.b2), first], path)[0]!
          const mu1 = elementwise(novogradMuOp, [g!, m!, nu1, w!], [f32(o.b1), first, f32(o.eps), f32(o.epsRoot), f32(o.weightDecay)], path)[0]!
          return [mu1, nu1]
        }),
      )
      return [mu!, frozen({ count: k, mu: mu!, nu: nu! })] as const
    },
    stateCodec: novogradCodec,
  }, { needsParams: o.weightDecay > 0 })
}

// ---- Rprop -------------------------------------------------------------------------------------

/** State of `scaleByRprop`: the per-element step sizes and the previous updates (Optax's `ScaleByRpropState`). */
export interface ScaleByRpropState {
  readonly stepSizes: Params
  readonly prevUpdates: Params
}

/** Options of `scaleByRprop`. */
export interface ScaleByRpropOptions {
  /** The initial step size η₀ ≥ 0 of every element. Required. */
  readonly learningRate: number
  /** η⁻ in (0, 1): the step shrinks by it where the gradient changed sign. Default 0.5. */
  readonly etaMinus?: number
  /** η⁺ ≥ 1: the step grows by it where the sign held. Default 1.2. */
  readonly etaPlus?: number
  /** The smallest step, ≥ 0. Default 1e-6. */
  readonly minStepSize?: number
  /** The largest step, ≥ minStepSize. Default 50. */
  readonly maxStepSize?: number
}

const rpropOp = defineElementwise({
  name: 'scaleByRprop',
  inputs: ['g', 'stepSizes', 'prevUpdates'],
  scalars: ['etaMinus', 'etaPlus', 'minStep', 'maxStep'],
  lets: [
    ['s', 'g * prevUpdates'],
    ['step1', 's == 0 ? stepSizes : Math.min(Math.max(stepSizes * (s > 0 ? etaPlus : etaMinus), minStep), maxStep)'],
    ['next', 's < 0 ? 0 : step1 * Math.sign(g)'],
  ],
  // as Optax's: the update is the previous step's (0 where the sign flipped); a NaN or ±∞ gradient
  // gives NaN rather than that finite step (docs/nonfinite.md)
  outputs: ['step1', nanUnlessFinite('g', 'next'), nanUnlessFinite('g', 's < 0 ? 0 : prevUpdates')],
})

/**
 * Rprop's rescaling (Rprop without weight backtracking, "Rprop⁻"), in Optax 0.2.8's form: with
 * s = g · p, p the previous step's proposal, per element,
 *
 *   η ← η (s = 0), clip(η·η⁺, η_min, η_max) (s > 0), clip(η·η⁻, η_min, η_max) (s < 0),
 *   p ← 0 where s < 0, else η·sign(g);   u = 0 where s < 0, else the previous p.
 *
 * Optax applies each proposal one step late: the update at step t is the one proposed at step
 * t − 1 (so the first update is 0), and a sign flip cancels the pending one. fluxion reproduces it
 * (the goldens check it); the papers apply η·sign(g) at once.
 *
 * The sign of the gradient, not its size, drives the step; the update is an ascent step, so the
 * optimizer `rprop` follows it with `scale(-1)`. η is not a learning rate applied afterwards: it
 * is the state's initial step size.
 *
 * Defaults: etaMinus = 0.5, etaPlus = 1.2, minStepSize = 1e-6, maxStepSize = 50. State:
 * `{ stepSizes, prevUpdates }` (p), η₀ and 0 at init.
 * Reference: Riedmiller & Braun 1993, "A Direct Adaptive Method for Faster Backpropagation
 * Learning: The RPROP Algorithm"; Igel & Hüsken 2000 (Rprop⁻); Optax `scale_by_rprop`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByRprop({ learningRate: 1e-3 }), scale(-1))
 * ```
 */
export const scaleByRprop = (options: ScaleByRpropOptions): GradientTransformation<ScaleByRpropState> => {
  const o = validate(
    'scaleByRprop',
    { learningRate: ranges.nonNegative, etaMinus: ranges.openUnitInterval, etaPlus: ranges.atLeastOne, minStepSize: ranges.nonNegative, maxStepSize: ranges.nonNegative },
    options,
    { etaMinus: 0.5, etaPlus: 1.2, minStepSize: 1e-6, maxStepSize: 50 },
  )
  if (o.maxStepSize < o.minStepSize) throw new HyperparameterError('scaleByRprop', 'maxStepSize', o.maxStepSize, `a finite number ≥ minStepSize (${o.minStepSize})`)
  const scalars = [f32(o.etaMinus), f32(o.etaPlus), f32(o.minStepSize), f32(o.maxStepSize)]
  const eta0 = f32(o.learningRate)
  return transformation('scaleByRprop', {
    init: (params: Params) =>
      frozen({ stepSizes: mapLeaves([['params', params]], 1, ([p]) => [p!.backend.fill(p!.shape, eta0)])[0]!, prevUpdates: zerosLikeTree(params) }),
    update: (updates: Params, state: ScaleByRpropState) => {
      const [stepSizes, prevUpdates, u] = elementwiseTree(rpropOp, [['updates', updates], ['state.stepSizes', state.stepSizes], ['state.prevUpdates', state.prevUpdates]], scalars)
      return [u!, frozen({ stepSizes: stepSizes!, prevUpdates: prevUpdates! })] as const
    },
    stateCodec: t.strict({ stepSizes: nonNegativeParamsCodec, prevUpdates: paramsCodec }, '{ stepSizes, prevUpdates }'),
  }, {
    fusion: {
      kind: 'stage',
      stage: {
        name: 'scaleByRprop',
        op: rpropOp,
        sources: [{ from: 'updates' }, { from: 'buffer', name: 'stepSizes' }, { from: 'buffer', name: 'prevUpdates' }],
        sinks: [{ to: 'buffer', name: 'stepSizes' }, { to: 'buffer', name: 'prevUpdates' }, { to: 'updates' }],
        buffers: ['stepSizes', 'prevUpdates'],
        constants: ['etaMinus', 'etaPlus', 'minStep', 'maxStep'],
        host: () => ({ scalars, hostState: {} }),
      },
    },
  })
}

// ---- optimistic gradient -----------------------------------------------------------------------

/** State of `scaleByOptimisticGradient`: whether no update happened yet, and the previous gradient. */
export interface ScaleByOptimisticGradientState {
  readonly isInitialStep: boolean
  readonly previousGradient: Params
}

/** Options of `scaleByOptimisticGradient`. */
export interface ScaleByOptimisticGradientOptions {
  /** α ≥ 0, the weight of the current gradient. Default 1. */
  readonly alpha?: number
  /** β ≥ 0, the optimism: the weight of the gradient's change. Default 1. */
  readonly beta?: number
}

const optimisticOp = defineElementwise({
  name: 'scaleByOptimisticGradient',
  inputs: ['g', 'previousGradient'],
  scalars: ['alphaPlusBeta', 'beta', 'first'],
  outputs: ['g', 'alphaPlusBeta * g - beta * (first > 0 ? g : previousGradient)'],
})

const checkInitialFlag = (state: Readonly<Record<string, unknown>>): boolean => {
  const v = state.isInitialStep
  if (typeof v !== 'boolean') throw new StructureError('state.isInitialStep', `scaleByOptimisticGradient: state.isInitialStep must be a boolean, got ${String(v)}`)
  return v
}

/**
 * The optimistic gradient: u = (α + β)gₜ − βgₜ₋₁ = αgₜ + β(gₜ − gₜ₋₁), with gₜ₋₁ = gₜ at the first
 * step (so u = αg there). With a learning rate η after it, θ ← θ − η(αgₜ + β(gₜ − gₜ₋₁)): optimistic
 * gradient descent, which converges on bilinear min-max games where gradient descent-ascent cycles.
 *
 * Defaults: alpha = 1, beta = 1. State: `{ isInitialStep, previousGradient }` (Optax's
 * `ScaleByOptimisticGradientState`).
 * Reference: Mokhtari, Ozdaglar & Pattathil 2020, "A Unified Analysis of Extra-gradient and
 * Optimistic Gradient Methods for Saddle Point Problems"; Daskalakis et al. 2018, "Training GANs
 * with Optimism"; Optax `scale_by_optimistic_gradient`.
 *
 * @example
 * ```ts
 * const ogd = chain(scaleByOptimisticGradient({ beta: 0.5 }), scaleByLearningRate(0.1))
 * ```
 */
export const scaleByOptimisticGradient = (options: ScaleByOptimisticGradientOptions = {}): GradientTransformation<ScaleByOptimisticGradientState> => {
  const o = validate('scaleByOptimisticGradient', { alpha: ranges.nonNegative, beta: ranges.nonNegative }, options, { alpha: 1, beta: 1 })
  const scalars = (first: boolean) => [f32(o.alpha + o.beta), f32(o.beta), first ? 1 : 0]
  return transformation('scaleByOptimisticGradient', {
    init: (params: Params) => frozen({ isInitialStep: true, previousGradient: zerosLikeTree(params) }),
    update: (updates: Params, state: ScaleByOptimisticGradientState) => {
      const first = checkInitialFlag(state as unknown as Record<string, unknown>)
      const [previousGradient, u] = elementwiseTree(optimisticOp, [['updates', updates], ['state.previousGradient', state.previousGradient]], scalars(first))
      return [u!, frozen({ isInitialStep: false, previousGradient: previousGradient! })] as const
    },
    stateCodec: t.strict({ isInitialStep: t.boolean, previousGradient: paramsCodec }, '{ isInitialStep, previousGradient }'),
  }, {
    fusion: {
      kind: 'stage',
      stage: {
        name: 'scaleByOptimisticGradient',
        op: optimisticOp,
        sources: [{ from: 'updates' }, { from: 'buffer', name: 'previousGradient' }],
        sinks: [{ to: 'buffer', name: 'previousGradient' }, { to: 'updates' }],
        buffers: ['previousGradient'],
        constants: ['alphaPlusBeta', 'beta'],
        host: (state) => ({ scalars: scalars(checkInitialFlag(state)), hostState: { isInitialStep: false } }),
      },
    },
  })
}

